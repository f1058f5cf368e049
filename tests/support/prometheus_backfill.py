"""A real Prometheus on loopback, loaded with backfilled history, for tests and benchmarks.

Uses Debian's ``/usr/bin/prometheus`` and ``/usr/bin/promtool`` (2.42). The server scrapes
nothing and evaluates no rules: history comes from ``promtool tsdb create-blocks-from``, from
OpenMetrics text and then from recording rules, one dependency level at a time. The server is
stopped by the pid this module started.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

PROMETHEUS = os.environ.get("OBSGEN_PROMETHEUS_BIN", "/usr/bin/prometheus")
PROMTOOL = os.environ.get("OBSGEN_PROMTOOL_BIN", "/usr/bin/promtool")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def create_blocks_from_openmetrics(text: str, work_dir: str, data_dir: str) -> None:
    """Write ``text`` to a file and turn it into TSDB blocks inside ``data_dir``."""
    path = os.path.join(work_dir, "history.om")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.makedirs(data_dir, exist_ok=True)
    subprocess.run([PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", "--quiet", path, data_dir],
                   check=True, capture_output=True, text=True)


class PrometheusServer:
    """One ``prometheus`` process serving ``data_dir`` on a free loopback port."""

    def __init__(self, data_dir: str, work_dir: str):
        self.data_dir = data_dir
        self.work_dir = work_dir
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = os.path.join(work_dir, "prometheus.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> None:
        """Start the server and wait until it reports ready; raise RuntimeError with its log if not."""
        config = os.path.join(self.work_dir, "prometheus.yml")
        with open(config, "w", encoding="utf-8") as handle:
            handle.write("global:\n  scrape_interval: 1m\n  evaluation_interval: 1m\nscrape_configs: []\n")
        self.port = free_port()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={self.data_dir}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=100y",
                 "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.work_dir)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.process.returncode}: {self._log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"prometheus not ready after {timeout_s:.0f}s: {self._log_tail()}")

    def stop(self) -> None:
        """Stop the server by its pid: SIGTERM, then SIGKILL after 20 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def query(self, expr: str, at: float) -> list[dict]:
        """Return the instant vector of ``expr`` at ``at``."""
        data = urllib.parse.urlencode({"query": expr, "time": f"{at:.3f}"}).encode()
        with urllib.request.urlopen(self.url + "/api/v1/query", data=data, timeout=60) as response:
            return json.loads(response.read())["data"]["result"]

    def backfill_rules(self, rule_file: str, start: float, end: float) -> None:
        """Evaluate the recording rules of ``rule_file`` over ``[start, end]`` into new blocks, then restart.

        Rules that read other recorded series need those in an earlier call: promtool evaluates
        every rule against what the server already holds.
        """
        out = os.path.join(self.work_dir, "rule-blocks")
        shutil.rmtree(out, ignore_errors=True)
        subprocess.run([PROMTOOL, "tsdb", "create-blocks-from", "rules", f"--url={self.url}",
                        f"--start={int(start)}", f"--end={int(end)}", f"--output-dir={out}", rule_file],
                       check=True, capture_output=True, text=True)
        for block in os.listdir(out):
            shutil.move(os.path.join(out, block), os.path.join(self.data_dir, block))
        self.restart()

    def _log_tail(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as handle:
                return handle.read()[-2000:]
        except OSError:
            return "(no log)"

