"""Host side of the end-to-end test: Debian's Prometheus and Alertmanager, and a webhook sink.

Every server listens on 127.0.0.1 only, on a port that was free a moment before, and keeps its
data in a folder the caller owns. Processes are started with :func:`start_process` and ended by
:func:`stop_process` (from ``tests/support/processes.py``), which signals only the pid it started.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from tests.support.processes import Server, start_process, stop_process, wait_ready
from tests.support.prometheus import api_data
from tests.vm.harness import free_local_port


# ---- Prometheus -----------------------------------------------------------------------------------


def prometheus_config(rule_globs: Sequence[str], exporter_target: str, alertmanager_target: str,
                      scrape_interval_s: int, job: str) -> str:
    """Return a Prometheus configuration that scrapes the exporter and alerts to Alertmanager.

    The scrape timeout equals the interval, because the exporter under software emulation can
    take seconds to respond, and a timed-out scrape marks every series stale.
    """
    interval = f"{scrape_interval_s}s"
    config = {
        "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
        "rule_files": list(rule_globs),
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager_target]}]}]},
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [exporter_target]}]}],
    }
    return yaml.safe_dump(config, sort_keys=False)


def start_prometheus(folder: Path, config: str) -> Server:
    """Start Debian's Prometheus on a free 127.0.0.1 port with ``config``; wait until it is ready."""
    port = free_local_port()
    (folder / "prometheus.yml").write_text(config)
    argv = [
        "prometheus", f"--config.file={folder / 'prometheus.yml'}", f"--storage.tsdb.path={folder / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn",
    ]
    server = start_process("prometheus", argv, f"http://127.0.0.1:{port}", folder)
    wait_ready(server, "/-/ready", 60)
    return server


def _api(prometheus: Server, path: str, parameters: dict[str, str]) -> Any:
    """Call a Prometheus HTTP API endpoint and return its ``data``; raise RuntimeError on an API error."""
    return api_data(prometheus.url, path, parameters, timeout_s=30)


def query(prometheus: Server, expr: str) -> list[dict[str, Any]]:
    """Run an instant query now and return its result list (a vector's samples)."""
    result = _api(prometheus, "/api/v1/query", {"query": expr})["result"]
    return result if isinstance(result, list) else [result]


def query_range(prometheus: Server, expr: str, start: float, end: float, step_s: float) -> list[dict[str, Any]]:
    """Run a range query over [start, end] (Unix seconds) and return its series."""
    parameters = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step_s}s"}
    return list(_api(prometheus, "/api/v1/query_range", parameters)["result"])


def label_values(prometheus: Server, label: str, match: str) -> list[str]:
    """Return the values of ``label`` on series matching the selector ``match``."""
    parameters = {"match[]": match} if match else {}
    return list(_api(prometheus, f"/api/v1/label/{urllib.parse.quote(label)}/values", parameters))


# ---- Alertmanager ---------------------------------------------------------------------------------


def start_alertmanager(folder: Path, config: str) -> Server:
    """Start Debian's Alertmanager on a free 127.0.0.1 port, clustering off; wait until ready."""
    port = free_local_port()
    (folder / "alertmanager.yml").write_text(config)
    argv = [
        "prometheus-alertmanager", f"--config.file={folder / 'alertmanager.yml'}",
        f"--storage.path={folder / 'alertmanager-data'}", f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=", "--log.level=warn",
    ]
    server = start_process("alertmanager", argv, f"http://127.0.0.1:{port}", folder)
    wait_ready(server, "/-/ready", 60)
    return server


# ---- webhook sink ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notification:
    """One webhook request: host time received (Unix seconds), receiver (the URL path) and body."""

    received: float
    receiver: str
    payload: Mapping[str, Any]


@dataclass
class WebhookSink:
    """An HTTP server on 127.0.0.1 that records every POSTed Alertmanager webhook body."""

    server: ThreadingHTTPServer
    thread: threading.Thread
    notifications: list[Notification] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def snapshot(self) -> list[Notification]:
        """Return the notifications received so far, oldest first."""
        with self.lock:
            return list(self.notifications)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


def start_sink() -> WebhookSink:
    """Start the webhook sink in a thread; the receiver name is the request path without '/'."""
    sink: WebhookSink

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (name fixed by http.server)
            received = time.time()
            length = int(self.headers.get("Content-Length", "0"))
            payload = json.loads(self.rfile.read(length) or b"{}")
            with sink.lock:
                sink.notifications.append(Notification(received, self.path.strip("/"), payload))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (signature fixed)
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="webhook-sink", daemon=True)
    sink = WebhookSink(server, thread)
    thread.start()
    return sink
