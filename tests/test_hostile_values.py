"""Hostile but valid catalog values reach Prometheus as literal text.

The catalog in data/hostile-values.yaml puts quotes, backslashes, template braces and PromQL
fragments into labels, selector regexes, scrape selectors and the runbook URL. promtool must
load every generated file, and ``promtool test rules`` must show that the selectors match
exactly the containers whose labels hold those characters and that alerts carry the label
values unchanged.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from support_tree import run_obsgen

CATALOG = Path(__file__).resolve().parent / "data" / "hostile-values.yaml"
PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")

NAMESPACE = 'shop"x\\y'  # what the namespace regex must match: one backslash
DECOY_NAMESPACE = 'shop"x\\\\y'  # two backslashes: must stay with the fleet entry
POD = 'cart-abc.v"2'
CONTAINER = "SRV"


def _string(value: str) -> str:
    """Write ``value`` as a double-quoted string of promtool's series notation."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _series(name: str, labels: dict[str, str]) -> str:
    return name + "{" + ", ".join(f"{key}={_string(value)}" for key, value in labels.items()) + "}"


def _container(namespace: str) -> dict[str, str]:
    return {"on": "c1", "namespace": namespace, "pod": POD, "container": CONTAINER}


def _input_series() -> list[dict[str, str]]:
    series = []
    for namespace in (NAMESPACE, DECOY_NAMESPACE):
        cadvisor = {"job": 'kube"let', "metrics_path": "/metrics/cadvisor", **_container(namespace)}
        ksm = {"job": "kube-state-metrics", "resource": "memory", **_container(namespace)}
        series += [
            {"series": _series("container_memory_working_set_bytes", cadvisor), "values": "100x40"},
            {"series": _series("container_memory_rss", cadvisor), "values": "96x40"},
            {"series": _series("kube_pod_container_resource_limits", ksm), "values": "100x40"},
        ]
    return series


def _unit_test(rule_files: list[str]) -> dict[str, object]:
    catalog_labels = {"quote": 'say "hi" \\ bye', "braces": '{{ $value }} and {{ "{{" }} }}',
                      "unicode": "café ☕ \u2028 end", "injection": '"} or vector(1) or up{a="'}

    def alert(namespace: str, service: str, team: str) -> dict[str, object]:
        description = (f"{namespace}/{POD} container {CONTAINER} holds 96% of its memory limit in memory the "
                       f"kernel cannot reclaim (RSS); it is OOM-killed when this reaches 100%.")
        return {
            "exp_labels": {**_container(namespace), **catalog_labels, "severity": "warning", "team": team,
                           "obsgen_service": service, "obsgen_source": "kubernetes"},
            "exp_annotations": {
                "summary": "A container's non-reclaimable memory is close to its memory limit.",
                "description": description,
                "runbook_url": 'https://runbooks.example/ContainerMemoryNearLimit?q={{x}}&v="1"',
            },
        }

    return {
        "rule_files": rule_files,
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": _input_series(),
            "promql_expr_test": [{
                "expr": 'namespace_pod_container:obsgen_service:info',
                "eval_time": "10m",
                "exp_samples": [
                    {"labels": _series("namespace_pod_container:obsgen_service:info",
                                       {**_container(NAMESPACE), "obsgen_service": "cart", "team": "web"}),
                     "value": 1},
                    {"labels": _series("namespace_pod_container:obsgen_service:info",
                                       {**_container(DECOY_NAMESPACE), "obsgen_service": "fleet",
                                        "team": "unowned"}),
                     "value": 1},
                ],
            }],
            "alert_rule_test": [{
                "alertname": "ContainerMemoryNearLimit",
                "eval_time": "25m",
                "exp_alerts": [alert(NAMESPACE, "cart", "web"), alert(DECOY_NAMESPACE, "fleet", "unowned")],
            }],
        }],
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hostile")
    result = run_obsgen("build", str(CATALOG), "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def test_hostile_rules_load(built: Path) -> None:
    files = sorted(str(path) for path in built.rglob("*.rules.yaml"))
    result = subprocess.run([PROMTOOL, "check", "rules", *files], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hostile_values_literal(built: Path) -> None:
    rule_files = [str(built / "alerts" / "obsgen-recording.rules.yaml"),
                  str(built / "alerts" / "services" / "cart.rules.yaml"),
                  str(built / "alerts" / "obsgen-fleet.rules.yaml")]
    test_file = built / "hostile.test.yaml"
    test_file.write_text(yaml.safe_dump(_unit_test(rule_files), allow_unicode=True, sort_keys=False))
    result = subprocess.run([PROMTOOL, "test", "rules", str(test_file)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
