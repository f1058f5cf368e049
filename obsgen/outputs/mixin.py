"""A monitoring mixin: ``mixin/mixin.libsonnet`` with the fields jsonnet-bundler users expect.

``prometheusRules`` contains the groups with recording rules only, ``prometheusAlerts`` every group
with an alert, and ``grafanaDashboards`` the dashboards keyed by file name, all exactly as
``obsgen build`` writes them. ``_config`` records what the output was built from. Changing it does
not rebuild anything, because the catalog is the source of the output; a mixin consumer that
needs other rules changes the catalog and runs ``obsgen build``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from obsgen import __version__
from obsgen.catalog.model import Catalog
from obsgen.catalog.validation import output_of
from obsgen.outputs.common import FORMAT_FOLDERS, dashboards, rule_files
from obsgen.writers.header import header

FOLDER = FORMAT_FOLDERS["mixin"]
MIXIN_FILE = f"{FOLDER}/mixin.libsonnet"

_MIXIN = """{
  _config+:: import 'config.libsonnet',
  prometheusRules+:: import 'rules.libsonnet',
  prometheusAlerts+:: import 'alerts.libsonnet',
  grafanaDashboards+:: import 'dashboards.libsonnet',
}
"""


def _libsonnet(value: object, catalog: Catalog) -> bytes:
    # JSON is valid jsonnet, so a header comment and a JSON value make a library file.
    return (header("//", catalog.name) + json.dumps(value, indent=2, ensure_ascii=True) + "\n").encode("utf-8")


def split_groups(generated: Mapping[str, bytes]) -> tuple[list[object], list[object]]:
    """Return (recording groups, alerting groups) of the generated rule files, in file order."""
    recording: list[object] = []
    alerting: list[object] = []
    for rule_file in rule_files(generated):
        for group in rule_file.groups:
            has_alert = any("alert" in rule for rule in group.get("rules") or [])
            (alerting if has_alert else recording).append(group)
    return recording, alerting


def mixin_config(catalog: Catalog) -> dict[str, object]:
    """Return the ``_config`` object: the settings the output was built with."""
    return {
        "obsgenVersion": __version__,
        "catalog": catalog.name,
        "clusterLabel": catalog.cluster_label,
        "datasourceUid": catalog.defaults.datasource,
        "grafanaFolders": {team.name: team.name for team in catalog.teams}
        | {"shared": output_of(catalog).grafana.shared_folder},
        "selectors": {"cadvisor": catalog.selectors.cadvisor,
                      "kubeStateMetrics": catalog.selectors.kube_state_metrics,
                      "exporter": catalog.selectors.exporter,
                      "nodeExporter": catalog.selectors.node_exporter},
    }


def files(catalog: Catalog, generated: Mapping[str, bytes]) -> dict[str, bytes]:
    """Return the mixin's entry point and its four library files."""
    recording, alerting = split_groups(generated)
    shared = output_of(catalog).grafana.shared_folder
    boards = {dashboard.key: dashboard.model for dashboard in dashboards(catalog, generated, shared)}
    return {
        MIXIN_FILE: (header("//", catalog.name) + _MIXIN).encode("utf-8"),
        f"{FOLDER}/config.libsonnet": _libsonnet(mixin_config(catalog), catalog),
        f"{FOLDER}/rules.libsonnet": _libsonnet({"groups": recording}, catalog),
        f"{FOLDER}/alerts.libsonnet": _libsonnet({"groups": alerting}, catalog),
        f"{FOLDER}/dashboards.libsonnet": _libsonnet(boards, catalog),
    }
