"""Tests of the qemu harness: its pure parts on the host, then real boots."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from tests.vm import harness

PYTHON = sys.executable

MODULES_DEP = """\
kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko kernel/fs/netfs/netfs.ko
kernel/net/9p/9pnet.ko:
kernel/fs/netfs/netfs.ko:
kernel/drivers/net/virtio_net.ko.xz: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko
"""


# ---- host-only ----------------------------------------------------------------------------------


def test_module_order_puts_dependencies_first() -> None:
    order, missing = harness.module_load_order(MODULES_DEP, ["9pnet-virtio", "9p", "virtio_net", "nosuch"])

    assert missing == ["nosuch"]
    assert order == [
        "kernel/net/9p/9pnet.ko",
        "kernel/net/9p/9pnet_virtio.ko",
        "kernel/fs/netfs/netfs.ko",
        "kernel/fs/9p/9p.ko",
        "kernel/net/core/failover.ko",
        "kernel/drivers/net/virtio_net.ko.xz",
    ]


def test_cpio_archive_lists_in_cpio(tmp_path: Path) -> None:
    if shutil.which("cpio") is None:
        pytest.skip("cpio not installed (Debian package cpio)")
    archive = harness.cpio_newc(
        [
            harness.CpioEntry("bin", 0o040755),
            harness.CpioEntry("bin/tool", 0o100755, b"abc"),
            harness.CpioEntry("dev/console", 0o020600, rdev=(5, 1)),
        ]
    )
    listing = subprocess.run(
        ["cpio", "-itv", "--quiet"], input=archive, capture_output=True, check=True
    ).stdout.decode()
    extracted = subprocess.run(
        ["cpio", "-i", "--quiet", "--to-stdout", "bin/tool"], input=archive, capture_output=True, check=True
    ).stdout

    assert [line.split()[-1] for line in listing.splitlines()] == ["bin", "bin/tool", "dev/console"]
    assert listing.splitlines()[2].startswith("crw-------")
    assert extracted == b"abc"


def test_guest_script_quotes_arguments() -> None:
    script = harness.guest_script(["printf", "%s\n", "a b", "$HOME"], {"GREETING": "it's"}, "/some dir")
    result = subprocess.run(["sh", "-c", script.replace("cd '/some dir'", "cd /tmp")], capture_output=True, text=True)

    assert result.stdout == "a b\n$HOME\n"
    assert "export GREETING='it'\"'\"'s'" in script


def test_guest_script_rejects_bad_variable_name() -> None:
    with pytest.raises(ValueError, match="invalid environment variable name"):
        harness.guest_script(["true"], {"A-B": "1"}, "/")


# ---- real boots ---------------------------------------------------------------------------------

PROBE = textwrap.dedent(
    """
    import os, sys
    print(open("/sys/fs/cgroup/cgroup.controllers").read().strip())
    print(open("/sys/fs/cgroup/cgroup.subtree_control").read().strip())
    mounts = [line.split() for line in open("/proc/mounts")]
    print([m[2] for m in mounts if m[1] == "/sys/fs/cgroup"][0])
    os.mkdir("/sys/fs/cgroup/probe")
    print(open("/sys/fs/cgroup/probe/memory.max").read().strip())
    with open(os.path.join(os.environ["OBSGEN_VM_EXCHANGE"], "back.txt"), "w") as out:
        out.write(os.environ["PROBE_VALUE"] + " " + os.getcwd())
    print("to stderr", file=sys.stderr)
    sys.exit(7)
    """
)


def test_boot_has_cgroup2_memory(vm_available: None, tmp_path: Path) -> None:
    exchange = tmp_path / "exchange"
    exchange.mkdir()

    result = harness.run(
        [PYTHON, "-c", PROBE], timeout=60, exchange=exchange, env={"PROBE_VALUE": "v 1"}, cwd="/usr"
    )

    lines = result.stdout.splitlines()
    assert result.returncode == 7, result.stderr
    assert "memory" in lines[0].split()
    assert "memory" in lines[1].split()
    assert lines[2] == "cgroup2"
    assert lines[3] == "max"
    assert result.stderr == "to stderr\n"
    assert (exchange / "back.txt").read_text() == "v 1 /usr"
    assert result.boot_seconds is not None and result.boot_seconds > 0
    assert not result.timed_out


def test_command_timeout_powers_off(vm_available: None) -> None:
    started = time.monotonic()

    result = harness.run(["sh", "-c", "echo started; sleep 300; echo finished"], timeout=3)

    assert result.returncode == harness.EXIT_TIMEOUT
    assert result.timed_out
    assert result.stdout == "started\n"
    assert time.monotonic() - started < 60


def test_host_kills_vm_past_deadline(vm_available: None) -> None:
    # No boot allowance: the VM cannot even boot in one second under TCG, so only the host's
    # kill can end it.
    started = time.monotonic()

    result = harness.run(["true"], timeout=1, boot_allowance=0)

    assert result.returncode == harness.EXIT_TIMEOUT
    assert result.timed_out
    assert "killed" in result.stderr
    assert time.monotonic() - started < 15


GUEST_SERVER = textwrap.dedent(
    """
    import http.server, os, socket, sys
    host_port = int(sys.argv[1])
    # The host listens on this port of 127.0.0.1; with restrict=on the guest must not reach it.
    try:
        socket.create_connection(("10.0.2.2", host_port), timeout=3).close()
        outcome = "reached"
    except OSError as error:
        outcome = "blocked"
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = open("/sys/fs/cgroup/cgroup.controllers", "rb").read()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
    server = http.server.HTTPServer(("0.0.0.0", 9464), Handler)
    exchange = os.environ["OBSGEN_VM_EXCHANGE"]
    with open(os.path.join(exchange, "ready.tmp"), "w") as out:
        out.write(outcome)
    os.rename(os.path.join(exchange, "ready.tmp"), os.path.join(exchange, "ready"))
    server.serve_forever()
    """
)


def test_forward_reaches_guest_only(vm_available: None) -> None:
    host_port = harness.free_local_port()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        vm = harness.start(
            [PYTHON, "-c", GUEST_SERVER, str(listener.getsockname()[1])], timeout=120, forward=(host_port, 9464)
        )
        try:
            outcome = vm.wait_for("ready", timeout=90).read_text()
            with urllib.request.urlopen(f"http://127.0.0.1:{host_port}/", timeout=30) as response:
                body = response.read().decode()
            with pytest.raises(BlockingIOError):
                listener.accept()
        finally:
            harness.stop_pid(vm.pid, vm.exchange)
            vm.process.wait(10)
            vm.cleanup()

    assert outcome == "blocked"
    assert "memory" in body.split()
    assert not vm.running()


def test_stop_pid_rejects_foreign_process() -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        with pytest.raises(ValueError, match="not a VM"):
            harness.stop_pid(sleeper.pid)
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()
