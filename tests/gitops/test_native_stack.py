"""The compose stack's Prometheus and Alertmanager configurations, run natively on loopback.

Prometheus runs the compose configuration with its rule files. Its scrape targets and
Alertmanager address are replaced by loopback ones, because the compose host names do not
resolve here and the test must reach nothing but 127.0.0.1. Alertmanager runs the generated
configuration unchanged; the test stops it before the first group_wait (30s) ends, and the
example's secret files do not exist here, so no notification leaves the machine.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from .helpers import REPO, free_port

COMPOSE_PROMETHEUS = REPO / "compose" / "prometheus" / "prometheus.yml"
ALERTMANAGER_CONFIG = REPO / "alertmanager" / "alertmanager.yml"
STARTUP_TIMEOUT_S = 60


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def wait_ready(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"not ready after {STARTUP_TIMEOUT_S}s:\n{log.read_text()[-3000:]}")


def start(command: list[str], ready_url: str, log: Path) -> subprocess.Popen:
    handle = log.open("w")
    process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT)
    try:
        wait_ready(ready_url, process, log)
    except AssertionError:
        stop(process)
        raise
    return process


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def native_prometheus_config(alertmanager_port: int, prometheus_port: int) -> dict:
    """Return the compose Prometheus configuration with absolute rule paths and loopback targets only."""
    config = yaml.safe_load(COMPOSE_PROMETHEUS.read_text())
    config["rule_files"] = [str((COMPOSE_PROMETHEUS.parent / pattern).resolve()) for pattern in config["rule_files"]]
    config["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]
    config["scrape_configs"] = [{"job_name": "prometheus",
                                 "static_configs": [{"targets": [f"127.0.0.1:{prometheus_port}"]}]}]
    return config


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("alertmanager")
    port = free_port()
    process = start(["/usr/bin/prometheus-alertmanager", f"--config.file={ALERTMANAGER_CONFIG}",
                     f"--storage.path={folder / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                     "--cluster.listen-address="],
                    f"http://127.0.0.1:{port}/-/ready", folder / "alertmanager.log")
    yield f"http://127.0.0.1:{port}"
    stop(process)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory, alertmanager: str) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("prometheus")
    port = free_port()
    alertmanager_port = int(alertmanager.rsplit(":", 1)[1])
    config = folder / "prometheus.yml"
    config.write_text(yaml.safe_dump(native_prometheus_config(alertmanager_port, port)))
    process = start(["/usr/bin/prometheus", f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}",
                     f"--web.listen-address=127.0.0.1:{port}"],
                    f"http://127.0.0.1:{port}/-/ready", folder / "prometheus.log")
    yield f"http://127.0.0.1:{port}"
    stop(process)


def committed_groups() -> dict[str, int]:
    """Return {group name: rule count} of the rule files the compose stack mounts."""
    groups = {}
    for path in sorted((REPO / "alerts").rglob("*.rules.yaml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            groups[group["name"]] = len(group["rules"])
    return groups


def test_prometheus_loads_every_group(prometheus: str):
    loaded = get_json(f"{prometheus}/api/v1/rules")["data"]["groups"]
    assert {group["name"]: len(group["rules"]) for group in loaded} == committed_groups()


def test_prometheus_finds_alertmanager(prometheus: str, alertmanager: str):
    deadline = time.monotonic() + 30
    active: list = []
    while time.monotonic() < deadline and not active:
        active = get_json(f"{prometheus}/api/v1/alertmanagers")["data"]["activeAlertmanagers"]
        time.sleep(0.5)
    assert [entry["url"] for entry in active] == [f"{alertmanager}/api/v2/alerts"]


def post_alerts(alertmanager: str, alerts: list[dict]) -> int:
    request = urllib.request.Request(f"{alertmanager}/api/v2/alerts", data=json.dumps(alerts).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def near_limit(team: str, severity: str) -> dict:
    labels = {"alertname": "ContainerMemoryNearLimit", "severity": severity, "team": team, "cluster": "test",
              "namespace": "default", "pod": f"{team}-7d9c5b6f4-x2x4z", "container": "server"}
    return {"labels": labels, "annotations": {"summary": "test alert"}}


def test_alertmanager_routes_test_alerts(example, alertmanager: str):
    alerts = [near_limit(team.name, "critical") for team in example.teams]
    alerts.append(near_limit("storefront", "warning"))
    assert post_alerts(alertmanager, alerts) == 200

    deadline = time.monotonic() + 30
    receivers: dict[str, set[str]] = {}
    while time.monotonic() < deadline and len(receivers) < len(example.teams):
        receivers = {}
        for group in get_json(f"{alertmanager}/api/v2/alerts/groups"):
            for alert in group["alerts"]:
                receivers.setdefault(alert["labels"]["team"], set()).add(group["receiver"]["name"])
        time.sleep(0.3)
    assert receivers == {team.name: {team.receiver} for team in example.teams}


def test_alertmanager_inhibits_warning(alertmanager: str):
    assert post_alerts(alertmanager, [near_limit("checkout", "critical"), near_limit("checkout", "warning")]) == 200
    deadline = time.monotonic() + 30
    state = None
    while time.monotonic() < deadline and state != "suppressed":
        for alert in get_json(f"{alertmanager}/api/v2/alerts"):
            if alert["labels"]["team"] == "checkout" and alert["labels"]["severity"] == "warning":
                state = alert["status"]["state"]
                inhibited_by = alert["status"]["inhibitedBy"]
        time.sleep(0.3)
    assert state == "suppressed"
    assert inhibited_by


@pytest.mark.parametrize("severity", ["warning", "critical"])
def test_amtool_verifies_routes(example, severity: str):
    for team in example.teams:
        result = subprocess.run(["/usr/bin/amtool", "config", "routes", "test", f"--config.file={ALERTMANAGER_CONFIG}",
                                 f"--verify.receivers={team.receiver}", "alertname=ContainerMemoryNearLimit",
                                 f"team={team.name}", f"severity={severity}"],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
