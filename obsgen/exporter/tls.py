"""TLS settings of the exporter's HTTP server and an SSL context that follows certificate rotation.

The context is built with the standard library ``ssl`` module, with the same
inputs as prometheus_client's ``start_http_server`` (certificate, key, client
CA, minimum version). The server wraps each accepted socket in a worker thread,
so a TLS handshake never runs in the thread that accepts connections.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
from dataclasses import dataclass

log = logging.getLogger(__name__)

TLS_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}

class TlsSettingsError(Exception):
    """Invalid or unreadable TLS settings, found before the server listens."""


@dataclass(frozen=True)
class TlsSettings:
    """Paths of the PEM files to serve HTTPS with, and the minimum protocol version."""

    cert_file: str
    key_file: str
    client_ca_file: str | None = None
    min_version: str = "1.2"

    @classmethod
    def from_flags(cls, cert_file: str | None, key_file: str | None, client_ca_file: str | None,
                   min_version: str = "1.2") -> TlsSettings | None:
        """Return the settings, or None when TLS is off; raise TlsSettingsError for an incomplete set.

        An empty string counts as unset, as for an empty environment variable.
        """
        if not cert_file and not key_file:
            if client_ca_file:
                raise TlsSettingsError("--tls-client-ca-file needs --tls-cert-file and --tls-key-file")
            return None
        if not cert_file:
            raise TlsSettingsError("--tls-key-file is set but --tls-cert-file is missing; set both to serve HTTPS")
        if not key_file:
            raise TlsSettingsError("--tls-cert-file is set but --tls-key-file is missing; set both to serve HTTPS")
        if min_version not in TLS_VERSIONS:
            raise TlsSettingsError(f"--tls-min-version: expected one of {', '.join(TLS_VERSIONS)}, "
                                   f"got {min_version!r}")
        return cls(cert_file, key_file, client_ca_file or None, min_version)

    def files(self) -> list[tuple[str, str]]:
        """Return (flag, path) of every file the context is built from."""
        files = [("--tls-cert-file", self.cert_file), ("--tls-key-file", self.key_file)]
        if self.client_ca_file:
            files.append(("--tls-client-ca-file", self.client_ca_file))
        return files


class _EncryptedKey(Exception):
    """An encrypted private key, which needs a pass phrase."""


def _reject_encrypted_key() -> bytes:
    raise _EncryptedKey()


def build_context(settings: TlsSettings) -> ssl.SSLContext:
    """Build a server-side SSL context from ``settings``; raise TlsSettingsError naming the failing flag.

    With a client CA, the server requests a client certificate and rejects the
    handshake when the client sends one that the CA did not sign. A client that
    sends none completes the handshake; the HTTP handler then rejects it on
    /metrics and lets it through on /healthz only.
    """
    for flag, path in settings.files():
        try:
            with open(path, "rb"):
                pass
        except OSError as error:
            raise TlsSettingsError(f"cannot read {flag} {path}: {error.strerror}") from error

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = TLS_VERSIONS[settings.min_version]
    try:
        # OpenSSL would prompt on the terminal for the pass phrase of an encrypted key. The
        # callback raises instead, so such a key fails to load like any other bad key.
        context.load_cert_chain(certfile=settings.cert_file, keyfile=settings.key_file,
                                password=_reject_encrypted_key)
    except _EncryptedKey:
        raise TlsSettingsError(f"cannot load --tls-key-file {settings.key_file}: the key is encrypted "
                               "(expected an unencrypted PEM private key, as cert-manager writes)") from None
    except ssl.SSLError as error:
        raise TlsSettingsError(f"cannot load --tls-cert-file {settings.cert_file} with --tls-key-file "
                               f"{settings.key_file}: {error.reason or error} (expected a PEM certificate "
                               "and the PEM private key that matches it)") from error
    if settings.client_ca_file:
        try:
            context.load_verify_locations(cafile=settings.client_ca_file)
        except ssl.SSLError as error:
            raise TlsSettingsError(f"cannot load --tls-client-ca-file {settings.client_ca_file}: "
                                   f"{error.reason or error} (expected PEM CA certificates)") from error
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def _file_states(settings: TlsSettings) -> tuple[tuple[int, int, int, int] | None, ...]:
    """Return (st_dev, st_ino, st_size, st_mtime_ns) of each file, None where stat failed."""
    states: list[tuple[int, int, int, int] | None] = []
    for _flag, path in settings.files():
        try:
            status = os.stat(path)
        except OSError:
            states.append(None)
        else:
            states.append((status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns))
    return tuple(states)


class ReloadingContext:
    """An SSL context that is rebuilt when one of its files changes.

    Each call of ``current`` compares the files' inode, size and modification
    time with those of the last build. stat follows symlinks, so the swap of a
    Kubernetes Secret volume's ``..data`` link counts as a change. A rebuild
    that fails, for example while a new certificate is in place but its key is
    not yet, is logged once and the previous context stays in use until the
    files change again.
    """

    def __init__(self, settings: TlsSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._states = _file_states(settings)
        self._context = build_context(settings)

    @property
    def client_cert_required(self) -> bool:
        return self.settings.client_ca_file is not None

    def current(self) -> ssl.SSLContext:
        """Return the context for a new connection, rebuilt first if a file changed."""
        states = _file_states(self.settings)
        if states == self._states:
            return self._context
        with self._lock:
            if states != self._states:
                # Record the states read before the build, so that a change during
                # the build is seen by the next connection and built again.
                self._states = states
                try:
                    self._context = build_context(self.settings)
                except TlsSettingsError as error:
                    log.error("TLS files changed but cannot be loaded, still serving the previous "
                              "certificate: %s", error)
                else:
                    log.info("TLS files changed; new connections use the reloaded certificate")
            return self._context
