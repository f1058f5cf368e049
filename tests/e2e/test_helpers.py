"""The end-to-end test's own helpers, checked without booting a VM."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from obsgen.catalog import load
from tests.conftest import require_binary
from tests.e2e import panels, routing
from tests.e2e.records import parse_time
from tests.e2e.test_chain import CATALOG, scenario_mismatches

SINK = "http://127.0.0.1:9"


def test_catalog_matches_scenario() -> None:
    assert scenario_mismatches(load(str(CATALOG))) == []


def test_minimal_alertmanager_config_passes_amtool(tmp_path: Path) -> None:
    amtool = require_binary("amtool")
    config = routing.minimal_config(load(str(CATALOG)), SINK)
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))

    checked = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True)

    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_minimal_config_routes_each_team() -> None:
    catalog = load(str(CATALOG))
    config = routing.minimal_config(catalog, SINK)
    routes = {route["matchers"][0]: route["receiver"] for route in config["route"]["routes"]}

    assert routes == {f'team="{team.name}"': team.receiver for team in catalog.teams}
    assert config["route"]["receiver"] == routing.UNROUTED


def test_fill_receivers_replaces_integrations_only() -> None:
    generated = {"route": {"receiver": "web"}, "receivers": [
        {"name": "web", "slack_configs": [{"api_url_file": "/secret"}]}, {"name": "silent"}]}

    filled = routing.fill_receivers(generated, SINK)

    assert filled["route"] == {"receiver": "web"}
    assert filled["receivers"] == [
        {"name": "web", "webhook_configs": [{"url": f"{SINK}/web", "send_resolved": True}]},
        {"name": "silent", "webhook_configs": [{"url": f"{SINK}/silent", "send_resolved": True}]},
    ]


@pytest.mark.parametrize(("expr", "expected"), [
    ('up{namespace=~"$namespace"}', 'up{namespace=~"shop"}'),
    ('up{namespace=~"${namespace}"}', 'up{namespace=~"shop"}'),
    ('up{namespace=~"${namespace:regex}"}', 'up{namespace=~"shop"}'),
    ('up{namespace=~"[[namespace]]"}', 'up{namespace=~"shop"}'),
    ("rate(x[$__rate_interval])", "rate(x[20s])"),
    ('up{pod=~"$unknown"}', 'up{pod=~"$unknown"}'),
    ('up{a="$namespaces"}', 'up{a="$namespaces"}'),
])
def test_fill_replaces_variables(expr: str, expected: str) -> None:
    assert panels.fill(expr, {"namespace": "shop"}) == expected


def test_variable_values_resolve_all() -> None:
    dashboard = {"templating": {"list": [
        {"type": "datasource", "name": "datasource", "current": {"value": "prometheus"}},
        {"type": "query", "name": "with_all_value", "allValue": ".*", "current": {"value": ["$__all"]}},
        {"type": "query", "name": "all", "query": "label_values(up{job=\"x\"}, pod)", "current": {"value": "$__all"}},
        {"type": "query", "name": "picked", "current": {"value": ["a", "b.c"]}},
        {"type": "constant", "name": "fixed", "query": "v", "current": {"value": "v"}},
    ]}}
    calls = []

    def label_values(label: str, selector: str) -> list[str]:
        calls.append((label, selector))
        return ["p1", "p2"]

    values = panels.variable_values(dashboard, label_values)

    assert values == {"with_all_value": ".*", "all": "(p1|p2)", "picked": r"(a|b\.c)", "fixed": "v"}
    assert calls == [("pod", 'up{job="x"}')]


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-12-04T21:19:14.844Z", 1796419154.844),
    ("2026-12-04T21:19:14.844123456Z", 1796419154.844123456),
    ("2026-12-04T22:19:14+01:00", 1796419154.0),
])
def test_parse_time(text: str, expected: float) -> None:
    assert parse_time(text) == pytest.approx(expected, abs=1e-6)
