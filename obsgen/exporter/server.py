"""A small HTTP server for /metrics and /healthz that slow clients cannot exhaust.

prometheus_client's own server (0.26) serves metrics on every path and has no bound on
threads or request time, so this one is built on http.server with three caps:
at most ``max_connections`` requests are handled at once (more are answered
503 and closed), each socket operation times out after ``request_timeout``
seconds, and a whole request is cut off after ``request_timeout`` seconds even
if the client trickles bytes.
"""

from __future__ import annotations

import gzip
import logging
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client.exposition import choose_encoder, generate_latest
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
HEALTH_PATH = "/healthz"


class _Handler(BaseHTTPRequestHandler):
    server: MetricsServer
    protocol_version = "HTTP/1.0"
    server_version = "obsgen-exporter"
    sys_version = ""

    def setup(self) -> None:
        self.timeout = self.server.request_timeout
        super().setup()
        # Cut off clients that send a byte just often enough to beat the socket timeout.
        self._deadline = threading.Timer(self.server.request_timeout, self._abort)
        self._deadline.daemon = True
        self._deadline.start()

    def finish(self) -> None:
        self._deadline.cancel()
        try:
            super().finish()
        except OSError:
            pass

    def _abort(self) -> None:
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def do_GET(self) -> None:  # noqa: N802 - name fixed by http.server
        path = self.path.split("?", 1)[0]
        if path == METRICS_PATH:
            self._send_metrics()
        elif path == HEALTH_PATH:
            self._send(200, "text/plain; charset=utf-8", b"ok\n")
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found: this exporter serves /metrics and /healthz\n")

    def _send_metrics(self) -> None:
        encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
        try:
            if encoder is generate_latest and self.server.fast_text is not None:
                body = self.server.fast_text()
            else:
                body = encoder(self.server.registry)
        except Exception:  # a collector bug must not kill the server thread silently
            log.exception("scrape failed")
            self._send(500, "text/plain; charset=utf-8", b"scrape failed, see the exporter log\n")
            return
        encoding = None
        if "gzip" in self.headers.get("Accept-Encoding", ""):
            body = gzip.compress(body, compresslevel=1)
            encoding = "gzip"
        self._send(200, content_type, body, encoding)

    def _send(self, status: int, content_type: str, body: bytes, encoding: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature fixed by http.server
        log.debug("%s %s", self.address_string(), format % args)


class MetricsServer(ThreadingHTTPServer):
    """HTTP server for ``registry`` on /metrics and a liveness check on /healthz.

    ``fast_text``, when given, renders the same registry in text format 0.0.4
    and is used instead of prometheus_client's encoder for that format.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], registry: Collector, max_connections: int = 8,
                 request_timeout: float = 10.0, fast_text: Callable[[], bytes] | None = None) -> None:
        self.registry = registry
        self.fast_text = fast_text
        self.request_timeout = request_timeout
        self._slots = threading.BoundedSemaphore(max_connections)
        self.rejected = 0
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self._reject_busy(request)
            return
        try:
            super().process_request(request, client_address)
        except Exception:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _reject_busy(self, request: socket.socket) -> None:
        self.rejected += 1
        if self.rejected == 1 or self.rejected % 100 == 0:
            log.warning("all request slots busy; responded 503 (%d times so far)", self.rejected)
        try:
            request.settimeout(1.0)
            request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        except OSError:
            pass
        finally:
            self.shutdown_request(request)
