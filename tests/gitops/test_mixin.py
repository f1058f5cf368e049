"""The jsonnet mixin: evaluated by the jsonnet binary, it equals the rules and dashboards obsgen writes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from .helpers import REPO

JSONNET = "/usr/bin/jsonnet"
EXPRESSION = """
local mixin = import 'mixin/mixin.libsonnet';
{
  alerts: mixin.prometheusAlerts,
  rules: mixin.prometheusRules,
  dashboards: mixin.grafanaDashboards,
  config: mixin._config,
}
"""


def evaluate_mixin(root: Path) -> dict:
    # Imports in -e code resolve against the current folder first, so run in ``root``.
    result = subprocess.run([JSONNET, "-e", EXPRESSION], cwd=root, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def written_groups(root: Path) -> tuple[list[dict], list[dict]]:
    """Return (recording groups, alerting groups) of the rule files under ``root/alerts``, in path order."""
    recording, alerting = [], []
    for path in sorted((root / "alerts").rglob("*.yaml"), key=lambda p: p.relative_to(root).as_posix()):
        for group in yaml.safe_load(path.read_text())["groups"]:
            has_alert = any("alert" in rule for rule in group["rules"])
            (alerting if has_alert else recording).append(group)
    return recording, alerting


def written_dashboards(root: Path) -> dict[str, dict]:
    folder = root / "dashboards"
    return {path.relative_to(folder).as_posix().replace("/", "-"): json.loads(path.read_text())
            for path in folder.rglob("*.json")}


@pytest.mark.parametrize("where", ["example build", "committed output"])
def test_mixin_equals_build_output(where: str, example_tree: Path):
    root = example_tree if where == "example build" else REPO
    mixin = evaluate_mixin(root)
    recording, alerting = written_groups(root)
    assert recording and alerting
    assert mixin["rules"] == {"groups": recording}
    assert mixin["alerts"] == {"groups": alerting}
    expected_dashboards = written_dashboards(root) if (root / "dashboards").exists() else {}
    assert mixin["dashboards"] == expected_dashboards


def test_mixin_dashboards_present(example_tree: Path, example):
    dashboards = evaluate_mixin(example_tree)["dashboards"]
    assert len(dashboards) == len(example.services) + 2
    assert "services-frontend.json" in dashboards


def test_mixin_config(example_tree: Path):
    config = evaluate_mixin(example_tree)["config"]
    assert config["catalog"] == "online-boutique"
    assert config["datasourceUid"] == "prometheus"
    assert config["selectors"]["cadvisor"] == 'job="kubelet", metrics_path="/metrics/cadvisor"'


def test_mixin_extends_like_a_mixin(example_tree: Path):
    # Consumers override fields with +:, as with any mixin; the generated fields must allow it.
    expression = ("(import 'mixin/mixin.libsonnet') + {_config+:: {catalog: 'changed'}, "
                  "prometheusAlerts+:: {extra: true}}")
    result = subprocess.run([JSONNET, "-e", f"local m = {expression}; [m._config.catalog, "
                             f"m.prometheusAlerts.extra, std.length(m.prometheusAlerts.groups)]"],
                            cwd=example_tree, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    catalog_name, extra, groups = json.loads(result.stdout)
    assert catalog_name == "changed"
    assert extra is True
    assert groups > 0
