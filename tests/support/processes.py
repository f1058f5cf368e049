"""Server processes for tests: start one with its output in a log file, wait until it is ready, stop it.

Each process is ended by :func:`stop_process`, which signals only the pid that
:func:`start_process` started.
"""

from __future__ import annotations

import signal
import subprocess
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Server:
    """A server process started by this module, with its address and log file."""

    name: str
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def log_tail(self, lines: int = 30) -> str:
        """Return the last ``lines`` lines of the server's log, for failure messages."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def start_process(name: str, argv: Sequence[str], url: str, folder: Path) -> Server:
    """Start ``argv`` with its output in ``folder/<name>.log``."""
    log = folder / f"{name}.log"
    with open(log, "wb") as handle:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT)
    return Server(name, process, url, log)


def stop_process(server: Server, grace: float = 10.0) -> None:
    """Stop a server this module started: SIGTERM, then SIGKILL after ``grace`` seconds."""
    process = server.process
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_ready(server: Server, path: str, timeout: float) -> None:
    """Wait until ``GET server.url + path`` returns 200; raise RuntimeError with the log otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(server.url + path, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.name} not ready after {timeout} s:\n{server.log_tail()}")
        time.sleep(0.2)
