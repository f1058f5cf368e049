"""Guest side of the end-to-end test: a Kubernetes node running the scenario's workloads.

Runs as root inside the test VM (see tests/vm/harness.py). It lays out the cgroups and kubelet
log folders of a node with the systemd cgroup driver and containerd, with the helpers of the
exporter's real-kernel test, and starts obsgen-exporter listening on all addresses. Then it acts
as the kubelet and the runtime for the workloads of scenario.py. It starts each container in its
own cgroup. When one dies, it removes the cgroup at once, as runtimes do, and restarts the
container in a new cgroup (new container ID, same pod) after the kubelet's back-off.

Every step is appended to an events file (JSON lines) in the exchange folder, which the host
reads as it goes. The script runs until the VM is stopped.

Usage: python -m tests.e2e.guest_cluster EVENTS.jsonl -- EXPORTER_COMMAND...
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from tests.e2e import scenario
from tests.e2e.scenario import Workload
from tests.vm.guest_node import (
    CONTAINER_LOG_DIR, LISTEN, MIB, POD_LOG_DIR, ROOT, Container, Pod, add_container, allocate_until_killed,
    make_cgroup, remove_cgroup, spawn, touch_anon, wait_for_exporter, write,
)

# wait_for_exporter polls LISTEN, so the exporter must listen on that port.
assert LISTEN.endswith(f":{scenario.EXPORTER_PORT}"), (LISTEN, scenario.EXPORTER_PORT)

EXPORTER_CGROUP = "system.slice/obsgen-exporter.service"
POLL_SECONDS = 0.25


class EventLog:
    """Append-only JSON-lines file. Each line is flushed and synced at once, so the host reads it soon."""

    def __init__(self, path: str) -> None:
        self._handle = open(path, "a", buffering=1)

    def add(self, event: str, **fields: object) -> None:
        record = {"event": event, "guest_time": time.time(), **fields}
        self._handle.write(json.dumps(record, sort_keys=True) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())


# ---- workloads (each runs in a forked child inside its container cgroup) -----------------------


def run_steady(workload: Workload) -> None:
    """Hold ``base_mib`` and allocate a short-lived burst every ``period`` seconds."""
    held = touch_anon(workload.base_mib)
    while True:
        burst = touch_anon(workload.burst_mib)
        time.sleep(workload.period / 2)
        del burst
        time.sleep(workload.period / 2)
    del held


def run_leak(workload: Workload) -> None:
    """Grow by ``rate_mib_per_s`` in 1 MiB steps, never freeing, with bursts on top like a GC cycle."""
    held = [touch_anon(workload.base_mib)]
    started = time.monotonic()
    step = 1 / workload.rate_mib_per_s
    next_burst = started
    while True:
        # Sleep until the next step is due rather than polling: every wake-up costs CPU time
        # that the exporter needs under software emulation.
        next_step = started + len(held) * step
        time.sleep(max(0.0, min(next_step, next_burst) - time.monotonic()))
        now = time.monotonic()
        if now >= next_step:
            held.append(touch_anon(1))
        if now >= next_burst:
            burst = touch_anon(workload.burst_mib)
            time.sleep(workload.period / 2)
            del burst
            next_burst = now + workload.period


def crashloop_runner(spike_after: float) -> Callable[[Workload], None]:
    """Return a workload that keeps ``base_mib`` and after ``spike_after`` seconds allocates until killed."""

    def run(workload: Workload) -> None:
        held = touch_anon(workload.base_mib)
        time.sleep(spike_after)
        allocate_until_killed()
        del held

    return run


def run_throttled(workload: Workload) -> None:
    """Hold ``base_mib`` above memory.high (no swap, so reclaim fails) and keep allocating."""
    held = touch_anon(workload.base_mib)
    while True:
        scratch = touch_anon(workload.burst_mib)
        del scratch
        time.sleep(workload.period)
    del held


# ---- the kubelet and runtime ----------------------------------------------------------------------


@dataclass
class Running:
    """One run of a container: its process and cgroup."""

    workload: Workload
    container: Container
    pid: int


def limits_of(workload: Workload) -> dict[str, str]:
    limits = {}
    if workload.memory_max_mib is not None:
        limits["memory.max"] = str(workload.memory_max_mib * MIB)
    if workload.memory_high_mib is not None:
        limits["memory.high"] = str(workload.memory_high_mib * MIB)
    return limits


def body_of(workload: Workload, restart: int) -> Callable[[Workload], None]:
    if workload.behaviour == scenario.STEADY:
        return run_steady
    if workload.behaviour == scenario.LEAK:
        return run_leak
    if workload.behaviour == scenario.CRASHLOOP:
        spikes = workload.spike_after
        return crashloop_runner(spikes[min(restart, len(spikes) - 1)])
    if workload.behaviour == scenario.THROTTLED:
        return run_throttled
    raise ValueError(f"unknown behaviour {workload.behaviour!r}")


def start_container(workload: Workload, pod: Pod, restart: int, events: EventLog) -> Running:
    """Create a new container cgroup (new ID) in ``pod`` and start the workload in it."""
    container = Container(pod, workload.container, restart=restart)
    add_container(container, limits_of(workload))
    body = body_of(workload, restart)
    pid, ready = spawn(container.cgroup, lambda: body(workload))
    os.close(ready)
    events.add("started", service=workload.service, namespace=pod.namespace, pod=pod.name,
               container=workload.container, container_id=container.id, restart=restart)
    return Running(workload, container, pid)


def oom_kills(cgroup: str) -> int:
    with open(f"{ROOT}/{cgroup}/memory.events") as handle:
        return int(next(line.split()[1] for line in handle if line.startswith("oom_kill ")))


def reap(running: Running, status: int, events: EventLog) -> None:
    """Record how a container's process ended and remove its cgroup, as the runtime does."""
    workload, container = running.workload, running.container
    killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    fields = dict(service=workload.service, namespace=container.pod.namespace, pod=container.pod.name,
                  container=workload.container, container_id=container.id, restart=container.restart)
    if killed and oom_kills(container.cgroup) > 0:
        events.add("oom_kill", **fields)
    else:
        events.add("exited", wait_status=status, **fields)
    remove_cgroup(container.cgroup)


def start_exporter(command: list[str]) -> subprocess.Popen[bytes]:
    """Start the exporter in a cgroup of its own, outside kubepods, logging to the exchange folder."""
    make_cgroup(EXPORTER_CGROUP)
    log = open(os.path.join(os.environ.get("OBSGEN_VM_EXCHANGE", "/tmp"), "exporter.log"), "wb")
    return subprocess.Popen(
        [*command, "--cgroup-root", ROOT, "--listen-address", f"0.0.0.0:{scenario.EXPORTER_PORT}",
         "--pod-log-dir", POD_LOG_DIR, "--container-log-dir", CONTAINER_LOG_DIR,
         "--oom-new-series-delay", str(scenario.SCRAPE_INTERVAL)],
        stdout=log, stderr=subprocess.STDOUT,
        preexec_fn=lambda: write(f"{ROOT}/{EXPORTER_CGROUP}/cgroup.procs", str(os.getpid())),
    )


def main(argv: list[str]) -> int:
    separator = argv.index("--")
    (events_path,) = argv[1:separator]
    events = EventLog(events_path)

    pods = {}
    for workload in scenario.WORKLOADS:
        pod = Pod(workload.namespace, workload.pod, workload.qos)
        make_cgroup(pod.cgroup)
        pods[workload.service] = pod

    exporter = start_exporter(argv[separator + 1:])
    wait_for_exporter(exporter, 120)
    events.add("ready")

    running = {}
    for workload in scenario.WORKLOADS:
        started = start_container(workload, pods[workload.service], 0, events)
        running[started.pid] = started
    restarts: list[tuple[float, Workload, int]] = []
    while exporter.poll() is None:
        for pid, run in list(running.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                del running[pid]
                reap(run, status, events)
                restart = run.container.restart + 1
                backoff = scenario.RESTART_BACKOFF[min(restart - 1, len(scenario.RESTART_BACKOFF) - 1)]
                restarts.append((time.monotonic() + backoff, run.workload, restart))
        now = time.monotonic()
        for due in [entry for entry in restarts if entry[0] <= now]:
            restarts.remove(due)
            _when, workload, restart = due
            started = start_container(workload, pods[workload.service], restart, events)
            running[started.pid] = started
        time.sleep(POLL_SECONDS)
    events.add("exporter_exited", returncode=exporter.returncode)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
