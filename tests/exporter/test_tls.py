"""HTTPS on the exporter's server: handshakes in worker threads, mutual TLS, rotation and start-up errors.

Certificates are made per test module with the openssl command into a temporary folder;
every connection goes to 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from prometheus_client.registry import CollectorRegistry

from obsgen.exporter.collector import CollectorOptions, MemoryCollector
from obsgen.exporter.server import MetricsServer
from obsgen.exporter.tls import ReloadingContext, TlsSettings, build_context

from .helpers import REPO, free_port, write_cgroup, write_root

OPENSSL_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""

REQUEST_TIMEOUT = 3.0


class Pki:
    """A throwaway CA in ``folder`` that issues server and client certificates with the openssl command."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder = folder
        self.config = folder / "openssl.cnf"
        self.config.write_text(OPENSSL_CONFIG)
        self.ca_cert = folder / f"{name}-ca.crt"
        self.ca_key = folder / f"{name}-ca.key"
        self._serial = 1
        self._openssl("req", "-x509", "-new", "-config", self.config, "-extensions", "ca", *self._new_key(self.ca_key),
                      "-days", "2", "-subj", f"/CN={name} test CA", "-out", self.ca_cert)

    def issue(self, name: str, extensions: str) -> tuple[Path, Path]:
        """Return (certificate, key) of a new certificate with the config section ``extensions``."""
        cert, key, request = (self.folder / f"{name}.{suffix}" for suffix in ("crt", "key", "csr"))
        self._serial += 1
        self._openssl("req", "-new", "-config", self.config, *self._new_key(key), "-subj", f"/CN={name}",
                      "-out", request)
        self._openssl("x509", "-req", "-in", request, "-CA", self.ca_cert, "-CAkey", self.ca_key,
                      "-set_serial", str(self._serial), "-days", "2", "-extfile", self.config,
                      "-extensions", extensions, "-out", cert)
        return cert, key

    @staticmethod
    def _new_key(path: Path) -> list[str | Path]:
        return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", path]

    @staticmethod
    def _openssl(*args: str | Path) -> None:
        subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command is missing; scripts/test.sh installs the Debian package openssl")
    return Pki(tmp_path_factory.mktemp("pki"), "exporter")


@pytest.fixture(scope="module")
def server_files(pki):
    return pki.issue("server", "server")


@pytest.fixture(scope="module")
def client_files(pki):
    return pki.issue("scraper", "client")


@contextlib.contextmanager
def running_server(tmp_path: Path, tls: ReloadingContext | None, max_connections: int = 2):
    root = write_root(tmp_path / "cgroup")
    write_cgroup(root / "system.slice")
    registry = CollectorRegistry()
    MemoryCollector(CollectorOptions(root=str(root), pod_log_dir=None, container_log_dir=None), registry=registry)
    server = MetricsServer(("127.0.0.1", 0), registry, max_connections=max_connections,
                           request_timeout=REQUEST_TIMEOUT, tls=tls)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def client_context(pki: Pki, cert: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    if cert is not None:
        context.load_cert_chain(str(cert[0]), str(cert[1]))
    return context


def https_get(server: MetricsServer, context: ssl.SSLContext, path: str = "/metrics",
              timeout: float = 5) -> tuple[int, bytes]:
    connection = http.client.HTTPSConnection("127.0.0.1", server.server_address[1], context=context,
                                             timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_until_closed(sock: socket.socket, limit: float) -> float | None:
    """Return the seconds until the server closed ``sock``, or None if it stayed open for ``limit`` seconds."""
    started = time.monotonic()
    sock.settimeout(limit)
    try:
        sock.recv(1)
    except TimeoutError:
        return None
    except OSError:
        pass
    return time.monotonic() - started


def test_metrics_over_tls(tmp_path, pki, server_files):
    tls = ReloadingContext(TlsSettings(str(server_files[0]), str(server_files[1])))
    with running_server(tmp_path, tls) as server:
        status, body = https_get(server, client_context(pki))
        health_status, health_body = https_get(server, client_context(pki), "/healthz")
    assert status == 200
    assert b'obsgen_memory_current_bytes{cgroup="/system.slice",cgroup_kind="slice"}' in body
    assert health_status == 200
    assert health_body == b"ok\n"


def test_response_ends_with_close_notify(tmp_path, pki, server_files):
    """The body has no Content-Length, so a clean TLS close is what marks it complete."""
    tls = ReloadingContext(TlsSettings(str(server_files[0]), str(server_files[1])))
    with running_server(tmp_path, tls) as server:
        raw = socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=5)
        with client_context(pki).wrap_socket(raw, server_hostname="127.0.0.1", suppress_ragged_eofs=False) as sock:
            sock.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            received = b""
            while chunk := sock.recv(65536):  # raises SSLEOFError on a close without close_notify
                received += chunk
            version = sock.version()
    assert received.startswith(b"HTTP/1.0 200 ")
    assert b"obsgen_exporter_cgroups 2.0" in received
    assert version in ("TLSv1.2", "TLSv1.3")


def test_plain_http_to_tls_port_gets_400(tmp_path, server_files, pki):
    tls = ReloadingContext(TlsSettings(str(server_files[0]), str(server_files[1])))
    with running_server(tmp_path, tls) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=5)
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        body = response.read()
        connection.close()
        status_after, _body = https_get(server, client_context(pki), "/healthz")
    assert response.status == 400
    assert b"use https://" in body
    assert b"obsgen_" not in body
    assert status_after == 200


def test_non_tls_bytes_closed_without_response(tmp_path, server_files):
    tls = ReloadingContext(TlsSettings(str(server_files[0]), str(server_files[1])))
    with running_server(tmp_path, tls) as server:
        with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=5) as sock:
            sock.sendall(b"\x00\x01\x02\x03 binary junk")
            answer = sock.recv(1024)
    assert answer == b""


def test_client_ca_requires_certificate_for_metrics(tmp_path, pki, server_files, client_files):
    tls = ReloadingContext(TlsSettings(str(server_files[0]), str(server_files[1]), str(pki.ca_cert)))
    with running_server(tmp_path, tls) as server:
        status_without, body_without = https_get(server, client_context(pki))
        health_without, _body = https_get(server, client_context(pki), "/healthz")
        status_with, body_with = https_get(server, client_context(pki, client_files))
    assert status_without == 403
    assert b"client certificate required" in body_without
    assert b"obsgen_" not in body_without
    assert health_without == 200
    assert status_with == 200
    assert b"obsgen_memory_current_bytes" in body_with


def test_certificate_from_other_ca_fails_handshake(tmp_path, pki, server_files):
    (tmp_path / "stranger").mkdir()
    stranger = Pki(tmp_path / "stranger", "stranger")
    stranger_client = stranger.issue("intruder", "client")
    tls = ReloadingContext(TlsSettings(str(server_files[0]), str(server_files[1]), str(pki.ca_cert)))
    with running_server(tmp_path, tls) as server:
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            https_get(server, client_context(pki, stranger_client), "/healthz")
        status_after, _body = https_get(server, client_context(pki), "/healthz")
    assert status_after == 200


@pytest.mark.parametrize("first_bytes", [b"", b"\x16"], ids=["nothing", "one-byte"])
def test_stalled_handshake_does_not_block_others(tmp_path, pki, server_files, first_bytes):
    """A client that never finishes its ClientHello occupies one slot until the deadline and delays no other client."""
    tls = ReloadingContext(TlsSettings(str(server_files[0]), str(server_files[1])))
    # The stalled socket closes before the server stops, so that a server whose accepting
    # thread hangs in the handshake fails this test instead of hanging it.
    with running_server(tmp_path, tls) as server, \
            socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=5) as stalled:
        stalled.sendall(first_bytes)
        time.sleep(0.2)
        started = time.monotonic()
        # A timeout below REQUEST_TIMEOUT: the request must not wait for the stalled handshake to end.
        status, body = https_get(server, client_context(pki), timeout=REQUEST_TIMEOUT - 1)
        elapsed = time.monotonic() - started
        closed_after = wait_until_closed(stalled, REQUEST_TIMEOUT + 3)
    assert status == 200
    assert b"obsgen_memory_current_bytes" in body
    assert elapsed < REQUEST_TIMEOUT - 1
    assert closed_after is not None, "server kept a stalled TLS handshake open past its deadline"
    assert closed_after < REQUEST_TIMEOUT + 1


def test_stalled_handshakes_count_against_connection_cap(tmp_path, pki, server_files):
    tls = ReloadingContext(TlsSettings(str(server_files[0]), str(server_files[1])))
    with running_server(tmp_path, tls, max_connections=2) as server, contextlib.ExitStack() as stack:
        stalled = [stack.enter_context(socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=5))
                   for _ in range(2)]
        time.sleep(0.2)
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            https_get(server, client_context(pki), "/healthz")
        busy_rejections = server.rejected
        for sock in stalled:
            sock.close()
        status = None
        deadline = time.monotonic() + REQUEST_TIMEOUT + 2
        while time.monotonic() < deadline and status != 200:
            with contextlib.suppress(ssl.SSLError, ConnectionResetError):
                status, _body = https_get(server, client_context(pki), "/healthz")
            time.sleep(0.1)
    assert busy_rejections == 1
    assert status == 200


def test_minimum_version_is_enforced(tmp_path, pki, server_files):
    settings = TlsSettings(str(server_files[0]), str(server_files[1]), min_version="1.3")
    old_client = client_context(pki)
    old_client.maximum_version = ssl.TLSVersion.TLSv1_2
    with running_server(tmp_path, ReloadingContext(settings)) as server:
        with pytest.raises(ssl.SSLError):
            https_get(server, old_client, "/healthz")
        status, _body = https_get(server, client_context(pki), "/healthz")
    assert status == 200
    assert build_context(TlsSettings(str(server_files[0]), str(server_files[1]))).minimum_version \
        == ssl.TLSVersion.TLSv1_2


def _served_serial(server: MetricsServer, context: ssl.SSLContext) -> str:
    with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            serial = sock.getpeercert()["serialNumber"]
            sock.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
            sock.recv(1024)
    return serial


def test_rotated_certificate_is_served(tmp_path, pki, caplog):
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    first_cert, first_key = pki.issue("rotating-1", "server")
    shutil.copy(first_cert, cert)
    shutil.copy(first_key, key)
    tls = ReloadingContext(TlsSettings(str(cert), str(key)))
    second_cert, second_key = pki.issue("rotating-2", "server")
    with running_server(tmp_path, tls) as server:
        serial_before = _served_serial(server, client_context(pki))
        # Replace both files by rename, as kubelet swaps a Secret volume.
        shutil.copy(second_cert, tmp_path / "new.crt")
        shutil.copy(second_key, tmp_path / "new.key")
        os.replace(tmp_path / "new.crt", cert)
        os.replace(tmp_path / "new.key", key)
        serial_after = _served_serial(server, client_context(pki))
        # A broken file is logged and the last good certificate stays in use.
        with caplog.at_level(logging.ERROR, logger="obsgen.exporter.tls"):
            cert.write_text("not a certificate\n")
            serial_broken = _served_serial(server, client_context(pki))
    assert serial_before != serial_after
    assert serial_after == serial_broken
    assert "still serving the previous certificate" in caplog.text


def run_exporter(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "obsgen.exporter.cli", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, check=False, env={**os.environ, "PYTHONPATH": str(REPO)})


@pytest.fixture
def cgroup_root(tmp_path):
    root = write_root(tmp_path / "cgroup")
    write_cgroup(root / "system.slice")
    return root


@pytest.mark.parametrize(("flags", "message"), [
    (["--tls-cert-file", "{cert}"], "--tls-cert-file is set but --tls-key-file is missing"),
    (["--tls-key-file", "{key}"], "--tls-key-file is set but --tls-cert-file is missing"),
    (["--tls-client-ca-file", "{ca}"], "--tls-client-ca-file needs --tls-cert-file and --tls-key-file"),
    (["--tls-cert-file", "{cert}", "--tls-key-file", "{missing}"],
     "cannot read --tls-key-file {missing}: No such file or directory"),
    (["--tls-cert-file", "{missing}", "--tls-key-file", "{key}"],
     "cannot read --tls-cert-file {missing}: No such file or directory"),
    (["--tls-cert-file", "{cert}", "--tls-key-file", "{folder}"], "cannot read --tls-key-file {folder}: Is a directory"),
    (["--tls-cert-file", "{cert}", "--tls-key-file", "{key}", "--tls-client-ca-file", "{missing}"],
     "cannot read --tls-client-ca-file {missing}: No such file or directory"),
    (["--tls-cert-file", "{cert}", "--tls-key-file", "{other_key}"],
     "cannot load --tls-cert-file {cert} with --tls-key-file {other_key}: KEY_VALUES_MISMATCH"),
    (["--tls-cert-file", "{key}", "--tls-key-file", "{key}"], "cannot load --tls-cert-file"),
    (["--tls-cert-file", "{cert}", "--tls-key-file", "{key}", "--tls-client-ca-file", "{key}"],
     "cannot load --tls-client-ca-file"),
])
def test_startup_error_names_flag(cgroup_root, pki, server_files, client_files, flags, message):
    paths = {"cert": server_files[0], "key": server_files[1], "ca": pki.ca_cert, "other_key": client_files[1],
             "missing": cgroup_root / "absent.pem", "folder": cgroup_root}
    port = free_port()
    result = run_exporter("--cgroup-root", str(cgroup_root), "--listen-address", f"127.0.0.1:{port}",
                          *(flag.format(**paths) for flag in flags))
    assert result.returncode == 2
    assert f"obsgen-exporter: error: {message.format(**paths)}" in result.stderr
    assert "Traceback" not in result.stderr
    assert "serving" not in result.stderr


def test_encrypted_key_rejected_without_prompt(cgroup_root, server_files, tmp_path):
    encrypted = tmp_path / "encrypted.key"
    subprocess.run(["openssl", "pkey", "-in", str(server_files[1]), "-aes256", "-passout", "pass:secret",
                    "-out", str(encrypted)], check=True, capture_output=True, timeout=30)
    result = run_exporter("--cgroup-root", str(cgroup_root), "--listen-address", f"127.0.0.1:{free_port()}",
                          "--tls-cert-file", str(server_files[0]), "--tls-key-file", str(encrypted))
    assert result.returncode == 2
    assert f"cannot load --tls-key-file {encrypted}: the key is encrypted" in result.stderr
    assert "pass phrase" not in result.stderr
    assert "Traceback" not in result.stderr


def test_server_process_serves_https(cgroup_root, pki, server_files):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "obsgen.exporter.cli", "--cgroup-root", str(cgroup_root),
         "--listen-address", f"127.0.0.1:{port}", "--pod-log-dir", "", "--container-log-dir", "",
         "--tls-cert-file", str(server_files[0]), "--tls-key-file", str(server_files[1])],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        body = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and body is None:
            try:
                connection = http.client.HTTPSConnection("127.0.0.1", port, context=client_context(pki), timeout=2)
                connection.request("GET", "/metrics")
                body = connection.getresponse().read()
                connection.close()
            except (ConnectionRefusedError, ConnectionResetError):
                time.sleep(0.1)
        assert body is not None, "exporter did not answer over HTTPS within 10 s"
        assert b"obsgen_memory_current_bytes" in body
    finally:
        process.terminate()
        _out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert f"on https://127.0.0.1:{port}/metrics" in err
