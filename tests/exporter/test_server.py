"""HTTP server: only /metrics and /healthz, bounded connections, slow clients cut off."""

from __future__ import annotations

import gzip
import http.client
import socket
import threading
import time

import pytest
from prometheus_client.registry import CollectorRegistry

from obsgen.exporter.collector import CollectorOptions, MemoryCollector
from obsgen.exporter.server import MetricsServer

from .helpers import write_cgroup, write_root


@pytest.fixture
def server(tmp_path):
    root = write_root(tmp_path / "cgroup")
    write_cgroup(root / "system.slice")
    registry = CollectorRegistry()
    MemoryCollector(CollectorOptions(root=str(root), pod_log_dir=None, container_log_dir=None), registry=registry)
    instance = MetricsServer(("127.0.0.1", 0), registry, max_connections=2, request_timeout=1.0)
    thread = threading.Thread(target=instance.serve_forever, daemon=True)
    thread.start()
    yield instance
    instance.shutdown()
    instance.server_close()
    thread.join(timeout=5)


def get(server, path, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=5)
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response, body


def test_metrics_path_serves_exposition(server):
    response, body = get(server, "/metrics")
    assert response.status == 200
    assert response.getheader("Content-Type").startswith("text/plain")
    assert b'obsgen_memory_current_bytes{cgroup="/system.slice",kind="slice",systemd_unit="system.slice"}' in body


def test_metrics_gzip_when_accepted(server):
    response, body = get(server, "/metrics", {"Accept-Encoding": "gzip"})
    assert response.getheader("Content-Encoding") == "gzip"
    assert b"obsgen_exporter_cgroups 2.0" in gzip.decompress(body)


def test_openmetrics_when_requested(server):
    response, body = get(server, "/metrics", {"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.getheader("Content-Type").startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")


def test_health_path(server):
    response, body = get(server, "/healthz")
    assert response.status == 200
    assert body == b"ok\n"


@pytest.mark.parametrize("path", ["/", "/metrics/", "/favicon.ico", "/../etc/passwd", "/healthz/x"])
def test_other_paths_are_404(server, path):
    response, _body = get(server, path)
    assert response.status == 404


def test_post_is_rejected(server):
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=5)
    connection.request("POST", "/metrics", body=b"x")
    assert connection.getresponse().status == 501
    connection.close()


def _slow_client(server):
    """Open a connection and send a request line one byte at a time, slower than the deadline allows."""
    sock = socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=5)
    sock.sendall(b"GET /metr")
    return sock


def test_slow_client_cut_off_at_deadline(server):
    sock = _slow_client(server)
    started = time.monotonic()
    closed_after = None
    # Trickle a byte every 0.3 s: each recv is within the socket timeout,
    # so only the whole-request deadline (1 s here) ends it.
    for byte in b"ics HTTP/1.0\r\nX-Slow: " + b"a" * 40:
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            closed_after = time.monotonic() - started
            break
        time.sleep(0.3)
        sock.settimeout(0.01)
        try:
            if sock.recv(1) == b"":
                closed_after = time.monotonic() - started
                break
        except (socket.timeout, BlockingIOError):
            pass
        except OSError:
            closed_after = time.monotonic() - started
            break
        sock.settimeout(5)
    sock.close()
    assert closed_after is not None, "server kept a trickling client for more than 12 s"
    assert closed_after < 3.0


def test_busy_server_answers_503_and_recovers(server):
    slow = [_slow_client(server), _slow_client(server)]
    time.sleep(0.2)
    response, _body = get(server, "/healthz")
    assert response.status == 503
    for sock in slow:
        sock.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        response, _body = get(server, "/healthz")
        if response.status == 200:
            break
        time.sleep(0.1)
    assert response.status == 200
