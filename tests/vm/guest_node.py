"""Guest side of the real-kernel exporter tests: a Kubernetes node in miniature.

Runs as root inside the test VM (see harness.py). It lays out cgroups as the kubelet does with
the systemd cgroup driver and containerd, and writes the kubelet's log folders that carry the
Kubernetes names. Then it starts the exporter's HTTP server in its own cgroup and runs real workloads
(anon memory, page cache, shmem, processes OOM-killed, a container cgroup removed right after its
OOM kill, memory.high throttling). Around every scrape it reads the kernel's own files, so the
host can check the served values against them. Everything goes to a JSON file; this script
asserts nothing itself, so that the host test reports each mismatch separately.

Usage: guest_node.py OUTPUT.json SMALL_FILE LARGE_FILE -- EXPORTER_COMMAND...
SMALL_FILE and LARGE_FILE are host files nobody has read in the VM yet: reading them fills
page cache charged to the reader's cgroup.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field

ROOT = "/sys/fs/cgroup"
POD_LOG_DIR = "/var/log/pods"
CONTAINER_LOG_DIR = "/var/log/containers"
LISTEN = "127.0.0.1:9464"
MIB = 1 << 20
# Seconds between the scrapes of one phase. The exporter's --oom-new-series-delay is set to it,
# as its help text requests, because a new counter must be seen at 0 before it counts kills.
SCRAPE_INTERVAL = 1.0
KERNEL_FILES = ("memory.current", "memory.stat", "memory.events", "memory.high", "memory.max", "memory.pressure")


@dataclass
class Pod:
    """A pod's cgroup and names; ``qos`` is guaranteed, burstable or besteffort."""

    namespace: str
    name: str
    qos: str
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def cgroup(self) -> str:
        """Path relative to the cgroup root, as the kubelet's systemd driver names it."""
        uid = self.uid.replace("-", "_")
        if self.qos == "guaranteed":
            return f"kubepods.slice/kubepods-pod{uid}.slice"
        return f"kubepods.slice/kubepods-{self.qos}.slice/kubepods-{self.qos}-pod{uid}.slice"


@dataclass
class Container:
    """One container (one run of it: a restart gets a new ID and cgroup)."""

    pod: Pod
    name: str
    restart: int = 0
    id: str = field(default_factory=lambda: uuid.uuid4().hex + uuid.uuid4().hex)

    @property
    def cgroup(self) -> str:
        """Path relative to the cgroup root of containerd's scope for this container."""
        return f"{self.pod.cgroup}/cri-containerd-{self.id}.scope"


def write(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


def make_cgroup(relative: str, limits: dict[str, str] | None = None) -> None:
    """Create ``relative`` and its parents with the memory controller enabled down to it."""
    path = ROOT
    for part in relative.split("/"):
        write(f"{path}/cgroup.subtree_control", "+memory +pids")
        path = f"{path}/{part}"
        os.makedirs(path, exist_ok=True)
    for name, value in (limits or {}).items():
        write(f"{path}/{name}", value)


def add_container(container: Container, limits: dict[str, str] | None = None) -> None:
    """Create the container's cgroup and the log entries the kubelet writes for it."""
    make_cgroup(container.cgroup, limits)
    pod = container.pod
    log_folder = f"{POD_LOG_DIR}/{pod.namespace}_{pod.name}_{pod.uid}/{container.name}"
    os.makedirs(log_folder, exist_ok=True)
    log_file = f"{log_folder}/{container.restart}.log"
    write(log_file, "")
    os.makedirs(CONTAINER_LOG_DIR, exist_ok=True)
    link = f"{CONTAINER_LOG_DIR}/{pod.name}_{pod.namespace}_{container.name}-{container.id}.log"
    os.symlink(log_file, link)


def remove_cgroup(relative: str) -> None:
    """Remove a cgroup the way a runtime does once its last task exits; retry while busy."""
    for _ in range(100):
        try:
            os.rmdir(f"{ROOT}/{relative}")
            return
        except OSError as error:
            if error.errno != 16:  # EBUSY: the exiting task is still being detached
                raise
            time.sleep(0.01)
    raise RuntimeError(f"cgroup {relative} still busy after 1 s")


# ---- workloads ----------------------------------------------------------------------------------


def touch_anon(mebibytes: int) -> bytearray:
    """Allocate and write ``mebibytes`` of anonymous memory (every page touched)."""
    buffer = bytearray(mebibytes * MIB)
    buffer[::4096] = b"\x01" * (len(buffer) // 4096)
    return buffer


def read_file(path: str) -> None:
    """Read a whole file so its pages enter the page cache."""
    with open(path, "rb", buffering=0) as handle:
        while handle.read(MIB):
            pass


def spawn(cgroup: str, work) -> tuple[int, int]:
    """Fork a child, move it into ``cgroup`` and run ``work()`` there.

    Returns (pid, read end of a pipe the child writes one byte to once ``work`` returned).
    Forking avoids a Python start-up per worker, which costs seconds under TCG. The child then
    sleeps until killed, holding what ``work`` charged.
    """
    ready_read, ready_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(ready_read)
            write(f"{ROOT}/{cgroup}/cgroup.procs", str(os.getpid()))
            held = work()
            os.write(ready_write, b"r")
            while True:
                signal.pause()
            del held
        finally:
            os._exit(1)
    os.close(ready_write)
    return pid, ready_read


def wait_ready(pid: int, ready: int) -> None:
    """Wait for a child started by :func:`spawn` to finish its work."""
    if os.read(ready, 1) != b"r":
        raise RuntimeError(f"worker {pid} died before it was ready: {os.waitpid(pid, 0)}")
    os.close(ready)


def allocate_until_killed() -> None:
    """Grow anonymous memory until the OOM killer ends the process."""
    chunks = []
    while True:
        chunks.append(touch_anon(4))


def run_until_oom_killed(cgroup: str, kills: dict[str, int]) -> None:
    """Run a worker in ``cgroup``, wait until the OOM killer has killed it and count the kill in ``kills[cgroup]``."""
    pid, ready = spawn(cgroup, allocate_until_killed)
    _, status = os.waitpid(pid, 0)
    os.close(ready)
    if not (os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL):
        raise RuntimeError(f"worker in {cgroup} was expected to be OOM-killed, wait status {status}")
    kills[cgroup] = kills.get(cgroup, 0) + 1


# ---- observation --------------------------------------------------------------------------------


def kernel_snapshot() -> dict[str, dict[str, str]]:
    """Return the memory files of every cgroup under kubepods.slice, by relative path."""
    snapshot = {}
    for folder, _subfolders, _files in os.walk(f"{ROOT}/kubepods.slice"):
        relative = folder[len(ROOT) + 1:]
        files = {}
        for name in KERNEL_FILES:
            try:
                with open(f"{folder}/{name}") as handle:
                    files[name] = handle.read()
            except FileNotFoundError:
                pass
        snapshot[relative] = files
    return snapshot


def scrape() -> str:
    with urllib.request.urlopen(f"http://{LISTEN}/metrics", timeout=60) as response:
        return response.read().decode()


def observe(phases: list[dict], name: str, scrapes: int = 3) -> None:
    """Scrape ``scrapes`` times, each between two kernel snapshots, and record it as a phase."""
    for index in range(scrapes):
        before = kernel_snapshot()
        started = time.monotonic()
        text = scrape()
        seconds = time.monotonic() - started
        phases.append(
            {"phase": name, "index": index, "before": before, "scrape": text, "after": kernel_snapshot(),
             "seconds": seconds}
        )
        time.sleep(SCRAPE_INTERVAL)


def wait_for_exporter(process: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            scrape()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


# ---- scenario -----------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    separator = argv.index("--")
    output, small_file, large_file = argv[1:separator]
    exporter_command = argv[separator + 1:]

    cart = Pod("shop", "cart-5d8f7c9b4-x2x7q", "guaranteed")
    report = Pod("jobs", "report-28391540-7hq2m", "besteffort")
    checkout = Pod("shop", "checkout-6c9d7f8b5-kq2mz", "burstable")
    search = Pod("shop", "search-84f6b7d9c-w5r8t", "burstable")
    steady = Container(cart, "cart")
    batch = Container(report, "worker")
    server_first = Container(checkout, "server")
    indexer = Container(search, "indexer")

    for pod in (cart, report, checkout, search):
        make_cgroup(pod.cgroup)
    add_container(steady, {"memory.max": str(256 * MIB)})
    add_container(batch, {"memory.max": str(48 * MIB)})
    add_container(server_first, {"memory.max": str(48 * MIB)})
    add_container(indexer, {"memory.high": str(16 * MIB)})

    # The exporter runs in a cgroup of its own, outside kubepods, so its own allocations never
    # change the numbers compared here.
    make_cgroup("system.slice/obsgen-exporter.service")
    exporter_log = open("/tmp/exporter.log", "w")
    exporter = subprocess.Popen(
        [*exporter_command, "--cgroup-root", ROOT, "--listen-address", LISTEN,
         "--pod-log-dir", POD_LOG_DIR, "--container-log-dir", CONTAINER_LOG_DIR,
         "--oom-new-series-delay", str(SCRAPE_INTERVAL)],
        stdout=exporter_log, stderr=subprocess.STDOUT,
        preexec_fn=lambda: write(f"{ROOT}/system.slice/obsgen-exporter.service/cgroup.procs", str(os.getpid())),
    )
    phases: list[dict] = []
    kills: dict[str, int] = {}
    result: dict = {"phases": phases, "pods": {}, "containers": {}, "kills": kills}
    holders: list[int] = []
    try:
        wait_for_exporter(exporter, 90)
        observe(phases, "start", scrapes=1)

        # Anon, page cache and shmem, then idle, so the kernel's numbers hold still.
        def steady_work() -> bytearray:
            held = touch_anon(24)
            read_file(small_file)
            write("/dev/shm/cart-session", "x" * (8 * MIB))
            return held

        def throttled_work() -> bytearray:
            held = touch_anon(4)
            read_file(large_file)
            return held

        for cgroup, work in ((steady.cgroup, steady_work), (indexer.cgroup, throttled_work)):
            pid, ready = spawn(cgroup, work)
            wait_ready(pid, ready)
            holders.append(pid)
        observe(phases, "idle")

        # A worker OOM-killed twice in a container cgroup that stays.
        run_until_oom_killed(batch.cgroup, kills)
        observe(phases, "batch-killed-once")
        run_until_oom_killed(batch.cgroup, kills)
        observe(phases, "batch-killed-twice")

        # A container OOM-killed and its cgroup removed at once; then its restart, same fate.
        run_until_oom_killed(server_first.cgroup, kills)
        remove_cgroup(server_first.cgroup)
        observe(phases, "server-killed-removed")
        server_restart = Container(checkout, "server", restart=1)
        add_container(server_restart, {"memory.max": str(48 * MIB)})
        run_until_oom_killed(server_restart.cgroup, kills)
        remove_cgroup(server_restart.cgroup)
        observe(phases, "server-restart-killed-removed")

        once = subprocess.run(
            [*exporter_command, "--once", "--cgroup-root", ROOT,
             "--pod-log-dir", POD_LOG_DIR, "--container-log-dir", CONTAINER_LOG_DIR],
            capture_output=True, text=True, timeout=120,
        )
        result["once"] = {"returncode": once.returncode, "stdout": once.stdout, "stderr": once.stderr}

        for pod in (cart, report, checkout, search):
            result["pods"][pod.cgroup] = {"namespace": pod.namespace, "pod": pod.name, "uid": pod.uid, "qos": pod.qos}
        for container in (steady, batch, server_first, server_restart, indexer):
            result["containers"][container.cgroup] = {
                "pod_cgroup": container.pod.cgroup, "container": container.name, "id": container.id,
            }
    finally:
        for pid in holders:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        exporter.send_signal(signal.SIGTERM)
        try:
            result["exporter_returncode"] = exporter.wait(20)
        except subprocess.TimeoutExpired:
            exporter.kill()
            result["exporter_returncode"] = exporter.wait()
        exporter_log.close()
        with open("/tmp/exporter.log") as handle:
            result["exporter_log"] = handle.read()
        with open(output + ".tmp", "w") as handle:
            json.dump(result, handle)
        os.replace(output + ".tmp", output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
