"""A small HTTP server for /metrics and /healthz that slow clients cannot exhaust.

prometheus_client's own server (0.26) serves metrics on every path and has no bound on
threads or request time, so this one is built on http.server with three caps:
at most ``max_connections`` requests are handled at once (more get a 503
response and are closed), each socket operation times out after ``request_timeout``
seconds, and a whole request is cut off after ``request_timeout`` seconds even
if the client trickles bytes.

With TLS, the accepting thread only accepts the TCP connection. The handshake
runs in the request's worker thread, after the connection got one of the
``max_connections`` slots, and within the same deadline, so a client that
connects and never sends a ClientHello occupies one slot for at most
``request_timeout`` seconds and blocks nobody else.
"""

from __future__ import annotations

import itertools
import logging
import socket
import ssl
import sys
import threading
import zlib
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client.exposition import choose_encoder, generate_latest
from prometheus_client.registry import Collector

from .tls import ReloadingContext

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
HEALTH_PATH = "/healthz"

# The first byte of every TLS connection: the record type of a handshake message.
TLS_HANDSHAKE_RECORD = 0x16
PLAIN_HTTP_RESPONSE = b"client sent plain HTTP to an HTTPS port; use https:// to scrape this exporter\n"


class _Handler(BaseHTTPRequestHandler):
    server: MetricsServer
    protocol_version = "HTTP/1.0"
    server_version = "obsgen-exporter"
    sys_version = ""

    def setup(self) -> None:
        self.timeout = self.server.request_timeout
        self._tls_ready = False
        self._tls_socket: ssl.SSLSocket | None = None
        self._completed = False
        # Held while self.request is replaced by its TLS wrapper, so that the deadline shuts down the current one.
        self._request_lock = threading.Lock()
        # Cut off clients that send a byte just often enough to beat the socket timeout.
        self._deadline = threading.Timer(self.server.request_timeout, self._abort)
        self._deadline.daemon = True
        self._deadline.start()
        if self.server.tls is not None:
            self._tls_ready = self._start_tls()
        super().setup()

    def handle(self) -> None:
        if self.server.tls is not None and not self._tls_ready:
            return
        super().handle()
        self._completed = True

    def finish(self) -> None:
        self._deadline.cancel()
        try:
            super().finish()
        except OSError:
            pass
        if self._tls_socket is not None:
            self._close_tls(self._tls_socket)

    def _abort(self) -> None:
        with self._request_lock:
            try:
                # The plain socket method: SSLSocket.shutdown would also drop the TLS
                # state that the worker thread may be using at this moment.
                socket.socket.shutdown(self.request, socket.SHUT_RDWR)
            except OSError:
                pass

    def _start_tls(self) -> bool:
        """Run the TLS handshake on this connection; return False if it failed."""
        plain = self.request
        plain.settimeout(self.timeout)
        try:
            first = plain.recv(1, socket.MSG_PEEK)
        except OSError as error:  # timed out or reset before the first byte
            self.server.record_tls_failure(self.client_address, f"no ClientHello: {error}")
            return False
        if not first:  # closed by the client, or shut down at the deadline
            self.server.record_tls_failure(self.client_address, "closed before the ClientHello")
            return False
        if first[0] != TLS_HANDSHAKE_RECORD:
            if first.isalpha():
                self._reject_plain_http(plain)
            self.server.record_tls_failure(self.client_address, f"not TLS, first byte {first!r}")
            return False
        assert self.server.tls is not None
        try:
            with self._request_lock:
                self._tls_socket = self.server.tls.current().wrap_socket(
                    plain, server_side=True, do_handshake_on_connect=False)
                self.request = self._tls_socket
            self._tls_socket.do_handshake()
        except OSError as error:  # ssl.SSLError, timeouts and resets
            self.server.record_tls_failure(self.client_address, str(error))
            return False
        return True

    def _reject_plain_http(self, plain: socket.socket) -> None:
        try:
            # Read the request first, because closing with unread data would reset
            # the connection before the client has read the response.
            plain.recv(65536)
            plain.sendall(b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
                          b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                          % (len(PLAIN_HTTP_RESPONSE), PLAIN_HTTP_RESPONSE))
        except OSError:
            pass

    def _close_tls(self, tls_socket: ssl.SSLSocket) -> None:
        """Send close_notify if the response is complete, then close the TLS socket.

        The server closes the original socket object, which the TLS wrapper has
        taken over, so the wrapper must be closed here. close_notify signals to
        the client that a body without Content-Length is complete. It is left
        out after a failure, so that a cut-off body looks cut off. The socket
        is non-blocking for it, so the server sends its alert but does not wait
        for the client's.
        """
        if self._completed:
            try:
                tls_socket.setblocking(False)
                tls_socket.unwrap()
            except (OSError, ValueError):
                pass
        try:
            socket.socket.shutdown(tls_socket, socket.SHUT_WR)
        except OSError:
            pass
        tls_socket.close()

    def do_GET(self) -> None:  # noqa: N802 - name fixed by http.server
        path = self.path.split("?", 1)[0]
        if path == METRICS_PATH:
            if self.server.tls is not None and self.server.tls.client_cert_required \
                    and self.connection.getpeercert(binary_form=True) is None:
                self._send(403, "text/plain; charset=utf-8",
                           b"client certificate required: /metrics needs a certificate signed by the client CA\n")
                return
            self._send_metrics()
        elif path == HEALTH_PATH:
            self._send(200, "text/plain; charset=utf-8", b"ok\n")
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found: this exporter serves /metrics and /healthz\n")

    def _send_metrics(self) -> None:
        encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
        try:
            if encoder is generate_latest and self.server.fast_text is not None:
                chunks = iter(self.server.fast_text())
                # The first chunk reads the tree, so scrape errors surface before any header is sent.
                first = next(chunks, b"")
            else:
                chunks, first = iter(()), encoder(self.server.registry)
        except Exception:  # a collector bug must not kill the server thread silently
            log.exception("scrape failed")
            self._send(500, "text/plain; charset=utf-8", b"scrape failed, see the exporter log\n")
            return
        gzipped = "gzip" in self.headers.get("Accept-Encoding", "")
        # HTTP/1.0 without Content-Length: the body ends when the connection
        # closes, so a large scrape is never held in memory whole.
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        if gzipped:
            self.send_header("Content-Encoding", "gzip")
        self.end_headers()
        compressor = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS) if gzipped else None
        for chunk in itertools.chain([first], chunks):
            self.wfile.write(compressor.compress(chunk) if compressor else chunk)
        if compressor:
            self.wfile.write(compressor.flush())

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature fixed by http.server
        log.debug("%s %s", self.address_string(), format % args)


class MetricsServer(ThreadingHTTPServer):
    """HTTP server for ``registry`` on /metrics and a liveness check on /healthz.

    ``fast_text``, when given, renders the same registry in text format 0.0.4
    as chunks and is used instead of prometheus_client's encoder for that format.
    ``tls``, when given, makes the server speak HTTPS only.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], registry: Collector, max_connections: int = 8,
                 request_timeout: float = 10.0, fast_text: Callable[[], Iterable[bytes]] | None = None,
                 tls: ReloadingContext | None = None) -> None:
        self.registry = registry
        self.fast_text = fast_text
        self.request_timeout = request_timeout
        self.tls = tls
        self._slots = threading.BoundedSemaphore(max_connections)
        self.rejected = 0
        self._tls_failures = itertools.count(1)
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
            answer = "closed the connection" if self.tls is not None else "responded 503"
            log.warning("all request slots busy; %s (%d times so far)", answer, self.rejected)
        try:
            if self.tls is not None:
                # A plain-text 503 would reach a TLS client as a protocol error, and a
                # handshake here would block the accepting thread, so just close.
                return
            request.settimeout(1.0)
            request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        except OSError:
            pass
        finally:
            self.shutdown_request(request)

    def record_tls_failure(self, client_address: Any, reason: str) -> None:
        """Log a failed TLS connection: the first and every 100th at warning, the rest at debug."""
        count = next(self._tls_failures)
        level = logging.WARNING if count == 1 or count % 100 == 0 else logging.DEBUG
        log.log(level, "TLS connection from %s failed: %s (%d failures so far)", client_address[0], reason, count)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, OSError):  # the client went away, or sent bytes that TLS rejects
            log.debug("connection from %s failed: %s", client_address[0], error)
        else:
            log.exception("request from %s failed", client_address[0])
