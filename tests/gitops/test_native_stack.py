"""The compose stack's Prometheus and Alertmanager configurations, run natively on loopback.

Prometheus runs the compose configuration with its rule files. Its scrape targets and
Alertmanager address are replaced by loopback ones, because the compose host names do not
resolve here and the test must reach nothing but 127.0.0.1. Alertmanager runs the generated
configuration with its route tree and inhibition unchanged. Only each receiver's integrations
are replaced by a webhook to a loopback server, at a path named after the receiver, because the
example's receivers would mail, page and post to hosts outside this machine. The webhook calls
then show which receiver each alert reached.
"""

from __future__ import annotations

import http.server
import json
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from .helpers import REPO, free_port

COMPOSE_PROMETHEUS = REPO / "compose" / "prometheus" / "prometheus.yml"
ALERTMANAGER_CONFIG = REPO / "alertmanager" / "alertmanager.yml"
STARTUP_TIMEOUT_S = 60
#: Rule groups run every minute, and an alert passes through two or three groups; allow four evaluations.
RULE_EVALUATION_TIMEOUT_S = 260


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


#: Series as a standalone cAdvisor exposes them for the compose demo's leaking container and for
#: the root cgroup, which carries no compose labels and must stay out of the contract.
CADVISOR_SAMPLE = """\
container_memory_working_set_bytes{LABELS} 125829120
container_memory_rss{LABELS} 117440512
container_memory_cache{LABELS} 8388608
container_memory_usage_bytes{LABELS} 134217728
container_spec_memory_limit_bytes{LABELS} 268435456
container_memory_working_set_bytes{id="/"} 5368709120
""".replace("LABELS", 'container_label_com_docker_compose_project="compose",'
            'container_label_com_docker_compose_service="leaky-app",id="/system.slice/docker-0a1b.scope",'
            'image="python:3.12-alpine",name="compose-leaky-app-1"')


class _CadvisorHandler(http.server.BaseHTTPRequestHandler):
    """Serve ``CADVISOR_SAMPLE`` plus an OOM counter that grows by one each scrape, like a container
    that the kernel kills in a loop."""

    scrapes = 0

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        _CadvisorHandler.scrapes += 1
        oom_events = CADVISOR_SAMPLE.splitlines()[0].split(" ")[0].replace(
            "container_memory_working_set_bytes", "container_oom_events_total")
        body = (CADVISOR_SAMPLE + f"{oom_events} {_CadvisorHandler.scrapes}\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # scrapes every few seconds would flood the test output


def native_prometheus_config(alertmanager_port: int, cadvisor_port: int) -> dict:
    """Return the compose Prometheus configuration with absolute rule paths and loopback targets only.

    The cadvisor job keeps its relabelings and scrapes a loopback server that serves
    ``CADVISOR_SAMPLE``; the other jobs are dropped, because their hosts exist only in compose.
    """
    config = yaml.safe_load(COMPOSE_PROMETHEUS.read_text())
    config["global"]["scrape_interval"] = "2s"
    config["rule_files"] = [str((COMPOSE_PROMETHEUS.parent / pattern).resolve()) for pattern in config["rule_files"]]
    config["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]
    cadvisor = next(job for job in config["scrape_configs"] if job["job_name"] == "cadvisor")
    cadvisor["static_configs"] = [{"targets": [f"127.0.0.1:{cadvisor_port}"]}]
    config["scrape_configs"] = [cadvisor]
    return config


@pytest.fixture(scope="module")
def cadvisor() -> Iterator[int]:
    server, thread = serve(_CadvisorHandler)
    yield server.server_address[1]
    server.shutdown()
    thread.join(timeout=10)


class _WebhookHandler(http.server.BaseHTTPRequestHandler):
    """Record each Alertmanager webhook call as (receiver from the path, alert labels)."""

    calls: list[tuple[str, dict]] = []

    def do_POST(self) -> None:  # noqa: N802 (the name http.server calls)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        for alert in body["alerts"]:
            _WebhookHandler.calls.append((self.path.strip("/"), alert["labels"]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(handler: type[http.server.BaseHTTPRequestHandler]) -> tuple[http.server.ThreadingHTTPServer, threading.Thread]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture(scope="module")
def webhook() -> Iterator[list[tuple[str, dict]]]:
    _WebhookHandler.calls = []
    server, thread = serve(_WebhookHandler)
    yield server.server_address[1], _WebhookHandler.calls
    server.shutdown()
    thread.join(timeout=10)


def loopback_alertmanager_config(webhook_port: int) -> dict:
    """Return the generated configuration with every receiver sending to the loopback webhook."""
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    config["receivers"] = [{"name": receiver["name"],
                            "webhook_configs": [{"url": f"http://127.0.0.1:{webhook_port}/{receiver['name']}",
                                                 "send_resolved": False}]}
                           for receiver in config["receivers"]]
    return config


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory, webhook) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("alertmanager")
    config = folder / "alertmanager.yml"
    config.write_text(yaml.safe_dump(loopback_alertmanager_config(webhook[0])))
    port = free_port()
    process = start(["/usr/bin/prometheus-alertmanager", f"--config.file={config}",
                     f"--storage.path={folder / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                     "--cluster.listen-address="],
                    f"http://127.0.0.1:{port}/-/ready", folder / "alertmanager.log")
    yield f"http://127.0.0.1:{port}"
    stop(process)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory, alertmanager: str, cadvisor: int) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("prometheus")
    port = free_port()
    alertmanager_port = int(alertmanager.rsplit(":", 1)[1])
    config = folder / "prometheus.yml"
    config.write_text(yaml.safe_dump(native_prometheus_config(alertmanager_port, cadvisor)))
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


def query(prometheus: str, expression: str) -> list[dict]:
    url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    return get_json(url)["data"]["result"]


def test_compose_relabeling_fills_contract(prometheus: str):
    # The example's rules evaluate every minute, and the derived group reads the source group's
    # results, so the ratio can take two evaluations to appear.
    ratio = "namespace_pod_container:obsgen_memory_rss_bytes:ratio_limit"
    membership = 'namespace_pod_container:obsgen_service:info{obsgen_service="fleet"}'
    deadline = time.monotonic() + RULE_EVALUATION_TIMEOUT_S
    results: list[dict] = []
    while time.monotonic() < deadline and not results:
        results = query(prometheus, f"{ratio} and on (namespace, pod, container) {membership}")
        time.sleep(2)
    assert len(results) == 1, "the demo container did not reach the contract within the timeout"
    labels = results[0]["metric"]
    assert (labels["namespace"], labels["pod"], labels["container"]) == ("compose", "compose-leaky-app-1", "leaky-app")
    assert float(results[0]["value"][1]) == pytest.approx(117440512 / 268435456)
    assert query(prometheus, 'namespace_pod_container:obsgen_memory_working_set_bytes{container=""}') == []


def test_oom_alert_reaches_fleet_receiver(example, prometheus: str, alertmanager: str):
    # The whole loop: scraped series, the generated rules, Prometheus alerting, Alertmanager routing.
    fleet_receiver = example.team(example.fleet.team).receiver
    deadline = time.monotonic() + RULE_EVALUATION_TIMEOUT_S
    routed: list[tuple[str, dict]] = []
    while time.monotonic() < deadline and not routed:
        for group in get_json(f"{alertmanager}/api/v2/alerts/groups"):
            for alert in group["alerts"]:
                if alert["labels"]["alertname"] == "ContainerOOMKilled":
                    routed.append((group["receiver"]["name"], alert["labels"]))
        time.sleep(2)
    assert routed, "ContainerOOMKilled did not reach Alertmanager within the timeout"
    receiver, labels = routed[0]
    assert receiver == fleet_receiver
    assert labels["obsgen_service"] == "fleet"
    assert labels["team"] == example.fleet.team
    assert labels["container"] == "leaky-app"


def post_alerts(alertmanager: str, alerts: list[dict]) -> int:
    request = urllib.request.Request(f"{alertmanager}/api/v2/alerts", data=json.dumps(alerts).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def near_limit(team: str, severity: str) -> dict:
    labels = {"alertname": "ContainerMemoryNearLimit", "severity": severity, "team": team, "cluster": "test",
              "namespace": "default", "pod": f"{team}-7d9c5b6f4-x2x4z", "container": "server"}
    return {"labels": labels, "annotations": {"summary": "test alert"}}


def team_alerts(example) -> list[dict]:
    """Return a critical near-limit alert per team, and a warning that the storefront critical one inhibits."""
    return [near_limit(team.name, "critical") for team in example.teams] + [near_limit("storefront", "warning")]


def test_alertmanager_routes_test_alerts(example, alertmanager: str):
    assert post_alerts(alertmanager, team_alerts(example)) == 200

    deadline = time.monotonic() + 30
    receivers: dict[str, set[str]] = {}
    while time.monotonic() < deadline and len(receivers) < len(example.teams):
        receivers = {}
        for group in get_json(f"{alertmanager}/api/v2/alerts/groups"):
            for alert in group["alerts"]:
                receivers.setdefault(alert["labels"]["team"], set()).add(group["receiver"]["name"])
        time.sleep(0.3)
    assert receivers == {team.name: {team.receiver} for team in example.teams}


def test_notifications_reach_team_receivers(example, alertmanager: str, webhook):
    # Alertmanager merges a repeated alert into the one it holds; each group notifies after group_wait (30s).
    assert post_alerts(alertmanager, team_alerts(example)) == 200
    calls = webhook[1]
    expected = {(team.receiver, team.name) for team in example.teams}
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not expected <= {(r, labels["team"]) for r, labels in calls}:
        time.sleep(1)
    received = {(receiver, labels["team"]) for receiver, labels in calls
                if labels["alertname"] == "ContainerMemoryNearLimit"}
    assert received == expected
    warnings = [labels for _, labels in calls if labels["alertname"] == "ContainerMemoryNearLimit"
                and labels["severity"] == "warning"]
    assert warnings == [], "the critical alert of the same container inhibits the warning"


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
