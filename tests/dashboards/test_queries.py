"""Every dashboard query, with its variables filled in, parses and returns data in a real Prometheus.

The Prometheus contains the simulated cluster of ``simulation.py`` and the catalog's recorded
series, backfilled over it (see ``conftest.py``). Each panel, variable and annotation query runs
as an instant query at the data's end and must return at least one series.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import yaml

from tests.dashboards.boards import CATALOGS, files, fill
from tests.dashboards.simulation import CLUSTER, NODES, containers, services
from tests.support import prometheus
from tests.support.promtool import check_rules

pytestmark = pytest.mark.skipif(prometheus.binaries_missing() is not None,
                                reason=prometheus.binaries_missing() or "")

#: Values Grafana puts in place of its own variables.
GRAFANA_VALUES = {"__rate_interval": "4m", "__range": "1h", "__interval": "1m"}
_LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>[a-zA-Z_]\w*)\)$", re.S)


@dataclass(frozen=True)
class Case:
    """One query of one dashboard, with the variable values Grafana would send."""

    key: str
    path: str
    where: str
    expr: str
    values: tuple[tuple[str, str], ...]
    #: Labels the legend or annotation text names as ``{{label}}``; each series needs them.
    labels: tuple[str, ...] = ()

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
        raw = next(entry for entry in services(key) if entry["name"] == service)
        mine = [c for c in pods if c.workload == raw["selector"]["workload"]]
        values.update(service=service, namespace=raw["selector"]["namespace"],
                      pod="(" + "|".join(c.pod for c in mine) + ")")
    else:
        # A multi-value selection, as Grafana formats it for a regex matcher.
        values.update(service=".*", namespace="(" + "|".join(sorted({c.namespace for c in pods})) + ")")
    return values


def _named_labels(template: str) -> tuple[str, ...]:
    return tuple(sorted(set(re.findall(r"\{\{\s*(\w+)\s*\}\}", template))))


def cases(key: str) -> Iterator[Case]:
    for path, content in sorted(files(key).items()):
        dashboard = json.loads(content)
        values = tuple(sorted(_values(key, path, dashboard).items()))
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                yield Case(key, path, f"panel {panel['id']} {target['refId']} {panel['title']}", target["expr"],
                           values, _named_labels(target["legendFormat"]))
        for variable in dashboard["templating"]["list"]:
            if variable["type"] == "query":
                yield Case(key, path, f"variable {variable['name']}", variable["query"], values)
        for annotation in dashboard["annotations"]["list"]:
            yield Case(key, path, f"annotation {annotation['name']}", annotation["expr"], values,
                       _named_labels(annotation["textFormat"]))


ALL_CASES = [case for key in CATALOGS for case in cases(key)]


def promql_of(case: Case) -> tuple[str, str | None]:
    """Return the PromQL to run and, for a ``label_values`` variable, the label that must be present."""
    text = fill(case.expr, dict(case.values))
    match = _LABEL_VALUES.match(text)
    if match:
        return match["selector"], match["label"]
    return text, None


@pytest.mark.parametrize("key", list(CATALOGS))
def test_queries_parse_with_promtool(key: str, tmp_path) -> None:
    """Prometheus' own parser accepts every query: they are checked as recording rules by promtool."""
    rules = []
    for number, case in enumerate(cases(key)):
        expr, _label = promql_of(case)
        assert "$" not in expr, f"{case.id}: unfilled variable in {expr}"
        rules.append({"record": f"obsgen_dashboard_query_{number}", "expr": expr})
    rule_file = tmp_path / "dashboard-queries.rules.yaml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}))
    result = check_rules([rule_file])
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(rules)} rules found" in result.stdout


@pytest.mark.parametrize("case", ALL_CASES, ids=[case.id for case in ALL_CASES])
def test_query_returns_series(case: Case, servers: dict[str, prometheus.Prometheus], data_end: int) -> None:
    expr, label = promql_of(case)
    result = servers[case.key].query(expr, at=data_end)
    assert result, f"{case.id}: no series for\n{expr}"
    if label:
        assert any(series["metric"].get(label) for series in result), f"{case.id}: no value of {label}"


@pytest.mark.parametrize("case", [case for case in ALL_CASES if case.labels],
                         ids=[case.id for case in ALL_CASES if case.labels])
def test_legend_labels_present(case: Case, servers: dict[str, prometheus.Prometheus], data_end: int) -> None:
    """A legend naming a label the series lack shows an empty name in Grafana."""
    expr, _label = promql_of(case)
    for series in servers[case.key].query(expr, at=data_end):
        missing = [name for name in case.labels if not series["metric"].get(name)]
        assert not missing, f"{case.id}: series {series['metric']} lacks {missing}"
