"""Command line: start-up checks, environment variables, --once and the server process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from obsgen.exporter import cli
from obsgen.exporter.preflight import StartupError, check_cgroup_root

from .helpers import REPO, find, parse_exposition, write_cgroup, write_root

V1_MOUNTINFO = """31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "obsgen.exporter.cli", *args], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=60, check=False)


def test_host_cgroup_v1_is_refused_with_fix():
    """On a host whose memory controller is on cgroup v1 the exporter refuses to start."""
    if Path("/sys/fs/cgroup/cgroup.controllers").exists():
        pytest.skip("this host mounts cgroup v2 at /sys/fs/cgroup")
    result = run_cli("--once")
    assert result.returncode == 2
    assert "not a cgroup v2 hierarchy" in result.stderr
    assert "Mount the host's /sys/fs/cgroup" in result.stderr
    assert result.stdout == ""


def test_v1_memory_mount_named_in_error(tmp_path):
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(V1_MOUNTINFO)
    with pytest.raises(StartupError, match="memory controller on cgroup v1 at /sys/fs/cgroup/memory"):
        check_cgroup_root(str(tmp_path), mountinfo_path=str(mountinfo))


def test_memory_controller_missing_is_refused(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("cpu io pids\n")
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(V1_MOUNTINFO)
    with pytest.raises(StartupError, match=r"memory controller is not available .*cpu io pids.*cgroup v1 at /sys/fs/cgroup/memory"):
        check_cgroup_root(str(tmp_path), mountinfo_path=str(mountinfo))


def test_missing_root_is_refused(tmp_path):
    with pytest.raises(StartupError, match="does not exist"):
        check_cgroup_root(str(tmp_path / "absent"))


def test_private_cgroup_namespace_is_refused(tmp_path):
    root = write_root(tmp_path / "root")
    self_cgroup = tmp_path / "self-cgroup"
    self_cgroup.write_text("0::/\n")
    with pytest.raises(StartupError, match="private cgroup namespace"):
        check_cgroup_root(str(root), mountinfo_path="/dev/null", self_cgroup_path=str(self_cgroup))


def test_host_namespace_with_children_is_accepted(tmp_path):
    root = write_root(tmp_path / "root")
    write_cgroup(root / "system.slice")
    self_cgroup = tmp_path / "self-cgroup"
    self_cgroup.write_text("0::/\n")
    check_cgroup_root(str(root), mountinfo_path="/dev/null", self_cgroup_path=str(self_cgroup))


def test_flags_from_environment(tmp_path):
    root = write_root(tmp_path / "root")
    write_cgroup(root / "a.slice")
    write_cgroup(root / "b.slice")
    result = run_cli("--once", env={"OBSGEN_EXPORTER_CGROUP_ROOT": str(root),
                                    "OBSGEN_EXPORTER_EXCLUDE": "^/b",
                                    "OBSGEN_EXPORTER_MEMORY_STAT": "all"})
    assert result.returncode == 0, result.stderr
    samples = parse_exposition(result.stdout)
    assert find(samples, "obsgen_memory_current_bytes", cgroup="/a.slice")
    assert find(samples, "obsgen_memory_current_bytes", cgroup="/b.slice") == []
    assert find(samples, "obsgen_memory_stat_bytes", cgroup="/a.slice", item="sec_pagetables") == [0]


def test_command_line_overrides_environment(tmp_path):
    root = write_root(tmp_path / "root")
    write_cgroup(root / "a.slice")
    result = run_cli("--once", "--cgroup-root", str(root), env={"OBSGEN_EXPORTER_CGROUP_ROOT": "/nonexistent"})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("OBSGEN_EXPORTER_MAX_CGROUPS", "0", "--max-cgroups: expected an integer of 1 or more, got '0'"),
    ("OBSGEN_EXPORTER_INCLUDE", "(", "invalid regular expression '('"),
    ("OBSGEN_EXPORTER_LOG_LEVEL", "loud", "OBSGEN_EXPORTER_LOG_LEVEL: invalid choice 'loud'"),
    ("OBSGEN_EXPORTER_LISTEN_ADDRESS", "9753", "expected HOST:PORT, got '9753'"),
])
def test_invalid_environment_value_is_reported(variable, value, message):
    result = run_cli("--once", env={variable: value})
    assert result.returncode == 2
    assert message in result.stderr


def test_once_output_written_atomically(tmp_path):
    root = write_root(tmp_path / "root")
    write_cgroup(root / "a.slice")
    output = tmp_path / "textfile" / "obsgen.prom"
    output.parent.mkdir()
    output.write_text("old content\n")
    result = run_cli("--once", "--cgroup-root", str(root), "--output", str(output))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    text = output.read_text()
    assert text.startswith(cli.HEADER)
    assert "obsgen_memory_current_bytes" in text
    assert sorted(p.name for p in output.parent.iterdir()) == ["obsgen.prom"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_server_process_serves_and_stops_on_sigterm(tmp_path):
    root = write_root(tmp_path / "root")
    write_cgroup(root / "a.slice")
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "obsgen.exporter.cli", "--cgroup-root", str(root),
         "--listen-address", f"127.0.0.1:{port}", "--pod-log-dir", "", "--container-log-dir", ""],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        body = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
                    body = response.read().decode()
            except OSError:
                time.sleep(0.1)
        assert body is not None, "exporter did not answer within 10 s"
        samples = parse_exposition(body)
        assert find(samples, "obsgen_memory_current_bytes", cgroup="/a.slice") == [9437184]
        assert find(samples, "process_resident_memory_bytes")
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert "stopped" in err
