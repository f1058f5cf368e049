"""A monitoring mixin: ``mixin/mixin.libsonnet`` with the fields jsonnet-bundler users expect.

``prometheusRules`` contains the groups with recording rules only, ``prometheusAlerts`` every group
with an alert, and ``grafanaDashboards`` the dashboards keyed by file name, all exactly as
``obsgen build`` writes them. ``_config`` records what the output was built from. Changing it does
not rebuild anything, because the catalog is the source of the output; a mixin consumer that
needs other rules changes the catalog and runs ``obsgen build``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from obsgen import __version__
from obsgen.catalog.model import Catalog
from obsgen.catalog.validation import output_of
from obsgen.outputs.common import FORMAT_FOLDERS, Generated, dashboards
from obsgen.writers.header import header
from obsgen.writers.json_text import dumps_indented

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
    return (header("//", catalog.name) + dumps_indented(value) + "\n").encode("utf-8")


#: Characters that ``json.dumps(..., ensure_ascii=True)`` escapes and ``ensure_ascii=False`` keeps.
_NON_ASCII = re.compile(r"[^\x00-\x7e]")


def _escape_non_ascii(match: re.Match[str]) -> str:
    return json.dumps(match.group(), ensure_ascii=True)[1:-1]


def _object_of_documents(documents: Mapping[str, bytes]) -> str:
    """Return the JSON object, indented by two spaces, whose members are the JSON ``documents``.

    Each document is the text ``json.dumps(value, indent=2)`` gave, so the result is what
    ``json.dumps`` would give for the whole object with ASCII escapes, without encoding every
    dashboard a second time.
    """
    if not documents:
        return "{}"
    members = []
    for key, document in documents.items():
        text = _NON_ASCII.sub(_escape_non_ascii, document.decode("utf-8").rstrip("\n"))
        members.append(f"  {json.dumps(key)}: " + text.replace("\n", "\n  "))
    return "{\n" + ",\n".join(members) + "\n}"


def split_groups(generated: Generated) -> tuple[list[object], list[object]]:
    """Return (recording groups, alerting groups) of the generated rule files, in file order."""
    recording: list[object] = []
    alerting: list[object] = []
    for rule_file in generated.rule_files:
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


def files(catalog: Catalog, generated: Generated) -> dict[str, bytes]:
    """Return the mixin's entry point and its four library files."""
    recording, alerting = split_groups(generated)
    shared = output_of(catalog).grafana.shared_folder
    boards = {dashboard.key: dashboard.content for dashboard in dashboards(catalog, generated, shared)}
    return {
        MIXIN_FILE: (header("//", catalog.name) + _MIXIN).encode("utf-8"),
        f"{FOLDER}/config.libsonnet": _libsonnet(mixin_config(catalog), catalog),
        f"{FOLDER}/rules.libsonnet": _libsonnet({"groups": recording}, catalog),
        f"{FOLDER}/alerts.libsonnet": _libsonnet({"groups": alerting}, catalog),
        f"{FOLDER}/dashboards.libsonnet": (header("//", catalog.name) + _object_of_documents(boards)
                                           + "\n").encode("utf-8"),
    }
