"""Every dashboard query, with its variables filled in, parses and returns data in a real Prometheus.

The Prometheus holds a simulated cluster (``tests/support/cluster.py``) for the services of the
catalog: per service one pod whose memory leaks and one that was OOM-killed three minutes before
the end of the data, plus a container no service claims. The catalog's recording rules are
backfilled over the data, then each panel, variable and annotation query runs as an instant
query at the data's end and must return at least one series.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import yaml

from obsgen.rules import build_rule_files
from obsgen.writers.rules_yaml import render_rule_file

from tests.dashboards.boards import CATALOGS, catalog, files
from tests.support import prometheus
from tests.support.cluster import MIB, Cluster, Container, Node, Shape, openmetrics

pytestmark = pytest.mark.skipif(prometheus.binaries_missing() is not None,
                                reason=prometheus.binaries_missing() or "")

HOURS = 7 * 3600
CLUSTER = "kind-obsgen"
NODES = (Node("worker-a", "172.18.0.2"), Node("worker-b", "172.18.0.3"))
#: Values Grafana puts in place of its own variables.
GRAFANA_VALUES = {"__rate_interval": "4m", "__range": "1h", "__interval": "1m"}
_LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>[a-zA-Z_]\w*)\)$", re.S)
_DEFAULT_LIMIT = 256 * MIB
_DEFAULT_REQUEST = 128 * MIB


def _services(key: str) -> list[dict]:
    with open(CATALOGS[key], encoding="utf-8") as handle:
        return yaml.safe_load(handle)["services"]


def containers(key: str) -> tuple[Container, ...]:
    """Return two pods per service of the catalog (leaking, OOM-killed) and one unclaimed container."""
    found = []
    model = catalog(key)
    for number, raw in enumerate(_services(key)):
        service = next(entry for entry in model.services if entry.name == raw["name"])
        selector = raw["selector"]
        limit = service.memory_limit or _DEFAULT_LIMIT
        common = dict(namespace=selector["namespace"], workload=selector["workload"],
                      container=selector["container"], runtime=service.runtime,
                      exporter="exporter" in service.settings.sources,
                      request=service.memory_request or _DEFAULT_REQUEST)
        # The first workload's leaking pod has no limit, so the node-memory fallback is exercised.
        leaking_limit = None if number == 0 else limit
        found.append(Container(**common, index=0, node=NODES[0].name, limit=leaking_limit,
                               shape=Shape(base=int(limit * 0.3), growth_per_s=limit * 0.4 / HOURS,
                                           sawtooth=int(limit * 0.05))))
        found.append(Container(**common, index=1, node=NODES[number % 2].name, limit=limit,
                               shape=Shape(base=int(limit * 0.4), sawtooth=int(limit * 0.1),
                                           oom_kill_before_end_s=180)))
    found.append(Container(namespace="kube-system", workload="coredns", container="coredns", node=NODES[1].name,
                           limit=170 * MIB, request=70 * MIB, shape=Shape(base=40 * MIB, sawtooth=5 * MIB)))
    return tuple(found)


def simulated_cluster(key: str, end: int) -> Cluster:
    return Cluster(CLUSTER, NODES, containers(key), start=end - HOURS, end=end)


@dataclass(frozen=True)
class Case:
    """One query of one dashboard, with the variable values Grafana would send."""

    key: str
    path: str
    where: str
    expr: str
    values: tuple[tuple[str, str], ...]

    @property
    def id(self) -> str:
        return f"{self.key}:{os.path.basename(self.path)}:{self.where}"


def _values(key: str, path: str, dashboard: dict) -> dict[str, str]:
    """Return concrete variable values: the service's namespace and both its pods, or several namespaces."""
    values = {"cluster": CLUSTER, "datasource": "prometheus", "node": NODES[0].name, **GRAFANA_VALUES}
    pods = containers(key)
    service = next((variable["query"] for variable in dashboard["templating"]["list"]
                    if variable["name"] == "service" and variable["type"] == "constant"), None)
    if service:
        raw = next(entry for entry in _services(key) if entry["name"] == service)
        mine = [c for c in pods if c.workload == raw["selector"]["workload"]]
        values.update(service=service, namespace=raw["selector"]["namespace"],
                      pod="(" + "|".join(c.pod for c in mine) + ")")
    else:
        # A multi-value selection, as Grafana formats it for a regex matcher.
        values.update(service=".*", namespace="(" + "|".join(sorted({c.namespace for c in pods})) + ")")
    return values


def fill(text: str, values: dict[str, str]) -> str:
    """Replace ``$name`` and ``${name}`` by the values, longest names first."""
    for name in sorted(values, key=len, reverse=True):
        text = text.replace("${" + name + "}", values[name]).replace("$" + name, values[name])
    return text


def cases(key: str) -> Iterator[Case]:
    for path, content in sorted(files(key).items()):
        dashboard = json.loads(content)
        values = tuple(sorted(_values(key, path, dashboard).items()))
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                yield Case(key, path, f"panel {panel['id']} {target['refId']} {panel['title']}", target["expr"], values)
        for variable in dashboard["templating"]["list"]:
            if variable["type"] == "query":
                yield Case(key, path, f"variable {variable['name']}", variable["query"], values)
        for annotation in dashboard["annotations"]["list"]:
            yield Case(key, path, f"annotation {annotation['name']}", annotation["expr"], values)


ALL_CASES = [case for key in CATALOGS for case in cases(key)]


def promql_of(case: Case) -> tuple[str, str | None]:
    """Return the PromQL to run and, for a ``label_values`` variable, the label that must be present."""
    text = fill(case.expr, dict(case.values))
    match = _LABEL_VALUES.match(text)
    if match:
        return match["selector"], match["label"]
    return text, None


@pytest.fixture(scope="session")
def data_end() -> int:
    return int(time.time()) // 60 * 60


@pytest.fixture(scope="session")
def servers(data_end: int) -> Iterator[dict[str, prometheus.Prometheus]]:
    """Start one Prometheus per catalog, holding the simulated cluster and the catalog's recorded series."""
    started: dict[str, prometheus.Prometheus] = {}
    contexts = []
    with tempfile.TemporaryDirectory(prefix="obsgen-dashboards-") as workdir:
        try:
            for key in CATALOGS:
                folder = os.path.join(workdir, key)
                os.makedirs(folder)
                cluster = simulated_cluster(key, data_end)
                rules = [render_rule_file(rule_file.groups, "test").decode() for rule_file in build_rule_files(catalog(key))]
                context = prometheus.loaded_prometheus(folder, openmetrics(cluster), rules, cluster.start, cluster.end)
                started[key] = context.__enter__()
                contexts.append(context)
            yield started
        finally:
            for context in reversed(contexts):
                context.__exit__(None, None, None)


@pytest.mark.parametrize("key", list(CATALOGS))
def test_queries_parse_with_promtool(key: str, tmp_path) -> None:
    """Prometheus' own parser accepts every query: they are checked as recording rules by promtool."""
    rules = []
    for number, case in enumerate(cases(key)):
        expr, _label = promql_of(case)
        assert "$" not in expr, f"{case.id}: unfilled variable in {expr}"
        rules.append({"record": f"obsgen_dashboard_query_{number}", "expr": expr})
    text = yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": rules}]})
    output = prometheus.check_rules(text, str(tmp_path))
    assert f"{len(rules)} rules found" in output


@pytest.mark.parametrize("case", ALL_CASES, ids=[case.id for case in ALL_CASES])
def test_query_returns_series(case: Case, servers: dict[str, prometheus.Prometheus], data_end: int) -> None:
    expr, label = promql_of(case)
    result = servers[case.key].query(expr, at=data_end)
    assert result, f"{case.id}: no series for\n{expr}"
    if label:
        assert any(series["metric"].get(label) for series in result), f"{case.id}: no value of {label}"
