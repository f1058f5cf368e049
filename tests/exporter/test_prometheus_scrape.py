"""A real Prometheus server scrapes the exporter: the served format is what Prometheus ingests."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

from .helpers import REPO, free_port


def _query(port: int, expression: str) -> list:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)["data"]["result"]


def _stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_prometheus_ingests_exporter_output(shared_fixtures, tmp_path):
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.fail("prometheus not installed; the README test command installs the prometheus package")
    tree = shared_fixtures / "oom"
    exporter_port, prometheus_port = free_port(), free_port()

    exporter = subprocess.Popen(
        [sys.executable, "-m", "obsgen.exporter.cli", "--cgroup-root", str(tree),
         "--listen-address", f"127.0.0.1:{exporter_port}", "--pod-log-dir", "", "--container-log-dir", ""],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 2s\n  scrape_timeout: 2s\n"
        "scrape_configs:\n  - job_name: obsgen\n    honor_labels: true\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{exporter_port}']\n")
    server = subprocess.Popen(
        [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{prometheus_port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    try:
        result = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not result:
            time.sleep(1)
            try:
                result = _query(prometheus_port, 'obsgen_memory_events_total{cgroup="/kubepods.slice",event="oom_kill"}')
            except OSError:
                continue
        up = _query(prometheus_port, 'up{job="obsgen"}')
        kills = _query(prometheus_port, "sum(obsgen_container_oom_kills_total)")
    finally:
        _stop(server)
        _stop(exporter)

    assert result, "Prometheus stored no obsgen series within 60 s"
    assert float(result[0]["value"][1]) == 7
    assert float(up[0]["value"][1]) == 1
    # Every kill the kernel counted under kubepods.slice is in the per-container counters.
    assert float(kills[0]["value"][1]) == 7
