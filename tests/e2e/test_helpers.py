"""The end-to-end test's own helpers, checked without booting a VM."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from obsgen.catalog import load
from tests.conftest import require_binary
from tests.e2e import panels, routing
from tests.e2e.records import parse_time
from tests.e2e.test_chain import CATALOG, REPO, scenario_mismatches

SINK = "http://127.0.0.1:9"


def test_catalog_matches_scenario() -> None:
    assert scenario_mismatches(load(str(CATALOG))) == []


def test_generated_alertmanager_config_passes_amtool(tmp_path: Path) -> None:
    amtool = require_binary("amtool")
    build_dir = tmp_path / "build"
    built = subprocess.run([sys.executable, "-m", "obsgen", "build", str(CATALOG), "--out", str(build_dir)],
                           capture_output=True, text=True, cwd=REPO)
    assert built.returncode == 0, built.stderr
    path = tmp_path / "alertmanager.yml"
    path.write_text(routing.alertmanager_config(build_dir, SINK))

    checked = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True)

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "webhook-sink.invalid" not in path.read_text()


def test_fill_receivers_replaces_urls_only() -> None:
    generated = {"route": {"receiver": "web"}, "receivers": [
        {"name": "web", "webhook_configs": [{"url": "http://placeholder.invalid/web", "send_resolved": True}]}]}

    filled = routing.fill_receivers(generated, SINK)

    assert filled == {"route": {"receiver": "web"}, "receivers": [
        {"name": "web", "webhook_configs": [{"url": f"{SINK}/web", "send_resolved": True}]}]}


def test_fill_receivers_rejects_receiver_without_webhook() -> None:
    generated = {"receivers": [{"name": "silent"}]}

    with pytest.raises(ValueError, match="receiver silent has no webhook"):
        routing.fill_receivers(generated, SINK)


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
