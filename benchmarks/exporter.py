#!/usr/bin/env python3
"""Measure the exporter's memory and scrape cost on 1,000 real cgroups, beside references.

One run boots a real cgroup v2 kernel under qemu (tests/vm/harness.py). Inside it, the script
creates about 1,000 cgroups laid out as a Kubernetes node (250 pods of 3 containers, systemd
driver, containerd), with a small process in the first container of each pod. It then starts
three exporters side by side, each in a cgroup of its own:

- the obsgen exporter (HTTP server);
- the smallest prometheus-client exporter: one gauge behind ``start_http_server``;
- Debian's prometheus-node-exporter with its default collectors.

Each is scraped ``--scrapes`` times and its resident set size (VmRSS) read afterwards. The CPU
time of one obsgen scrape (user + system time of the exporter process, HTTP and text format
included) is compared with a minimal reader that keeps every file the exporter reads open and
re-reads them with ``os.pread``. Targets: obsgen's RSS at most 8 MiB above the one-gauge
exporter, and one scrape at most 3 times the minimal reader's CPU time.

    python3 benchmarks/exporter.py [--pods 250] [--scrapes 3] [--cpu-scrapes 3] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROOT = "/sys/fs/cgroup"
MIB = 1 << 20

RSS_TARGET_MIB = 8.0
CPU_RATIO_TARGET = 3.0

# The files the exporter reads for each cgroup (obsgen/exporter/collector.py, CgroupReader.read).
EXPORTER_FILES = (
    "memory.current", "memory.stat", "memory.max", "memory.high", "memory.low", "memory.min",
    "memory.swap.max", "memory.peak", "memory.swap.current", "memory.events", "memory.events.local",
    "memory.swap.events", "memory.pressure",
)

ONE_GAUGE = """
import sys, time
from prometheus_client import Gauge, start_http_server
Gauge("benchmark_up", "Always 1.").set(1)
start_http_server(int(sys.argv[1]), addr="127.0.0.1")
while True:
    time.sleep(3600)
"""
OBSGEN = "import sys; from obsgen.exporter.cli import main; sys.exit(main())"
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"


# ---- guest side ---------------------------------------------------------------------------------


def write(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


def make_cgroup(relative: str) -> str:
    """Create ``relative`` (and parents) with the memory controller enabled; return its path."""
    path = ROOT
    for part in relative.split("/"):
        write(f"{path}/cgroup.subtree_control", "+memory +pids")
        path = f"{path}/{part}"
        os.makedirs(path, exist_ok=True)
    return path


def build_node(pods: int) -> list[str]:
    """Create the pod and container cgroups and kubelet log entries; return container paths."""
    containers = []
    for index in range(pods):
        qos = ("guaranteed", "burstable", "besteffort")[index % 3]
        uid = str(uuid.UUID(int=index + 1))
        underscored = uid.replace("-", "_")
        if qos == "guaranteed":
            pod_cgroup = f"kubepods.slice/kubepods-pod{underscored}.slice"
        else:
            pod_cgroup = f"kubepods.slice/kubepods-{qos}.slice/kubepods-{qos}-pod{underscored}.slice"
        pod_name, namespace = f"svc-{index:04d}-7d9f8c6b5-abcde", f"team-{index % 5}"
        for number in range(3):
            container_id = f"{index:032x}{number:032x}"
            containers.append(make_cgroup(f"{pod_cgroup}/cri-containerd-{container_id}.scope"))
            container_name = f"c{number}"
            log_folder = f"/var/log/pods/{namespace}_{pod_name}_{uid}/{container_name}"
            os.makedirs(log_folder, exist_ok=True)
            write(f"{log_folder}/0.log", "")
            os.makedirs("/var/log/containers", exist_ok=True)
            os.symlink(f"{log_folder}/0.log", f"/var/log/containers/{pod_name}_{namespace}_{container_name}-{container_id}.log")
    return containers


def start_holders(cgroups: list[str]) -> list[int]:
    """Fork one sleeping process into each cgroup, with 1 MiB of anonymous memory charged to it."""
    pids = []
    for cgroup in cgroups:
        pid = os.fork()
        if pid == 0:
            try:
                write(f"{cgroup}/cgroup.procs", str(os.getpid()))
                held = bytearray(MIB)
                held[::4096] = b"\x01" * (MIB // 4096)
                while True:
                    signal.pause()
            finally:
                os._exit(1)
        pids.append(pid)
    return pids


def spawn_in_cgroup(command: list[str], name: str) -> subprocess.Popen:
    cgroup = make_cgroup(f"system.slice/{name}.service")
    return subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=open(f"/tmp/{name}.log", "w"),
        preexec_fn=lambda: write(f"{cgroup}/cgroup.procs", str(os.getpid())),
    )


def progress(message: str) -> None:
    print(f"[{time.monotonic():8.1f}] {message}", file=sys.stderr, flush=True)


def fetch(port: int) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=300) as response:
        return response.read()


def wait_until_serving(process: subprocess.Popen, port: int, name: str) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            fetch(port)
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start serving: {open(f'/tmp/{name}.log').read()}")
            time.sleep(0.2)


def rss_bytes(pid: int) -> int:
    """Return VmRSS of ``pid`` in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """Return the user + system CPU time of ``pid`` so far, in seconds (clock-tick resolution)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def all_cgroups() -> list[str]:
    return [folder for folder, _subfolders, _files in os.walk(ROOT)]


def open_exporter_files() -> list[int]:
    """Open every file the exporter reads, in every cgroup, for the minimal reader."""
    descriptors = []
    for folder in all_cgroups():
        for name in EXPORTER_FILES:
            try:
                descriptors.append(os.open(f"{folder}/{name}", os.O_RDONLY))
            except FileNotFoundError:
                pass
    return descriptors


def reader_pass_seconds(descriptors: list[int]) -> float:
    """Return the CPU seconds of one minimal-reader pass: one os.pread of every open file."""
    started = time.process_time()
    for fd in descriptors:
        os.pread(fd, 65536, 0)
    return time.process_time() - started


def measure_scrape_cpu(obsgen_pid: int, scrapes: int, result: dict) -> bytes:
    """Time obsgen scrapes and minimal-reader passes, alternating; return the last scrape body.

    Alternating makes both see the same host load, which changes guest CPU time under TCG.
    """
    descriptors = open_exporter_files()
    result["reader_files"] = len(descriptors)
    try:
        reader_pass_seconds(descriptors)  # warm-up pass, not recorded
        scrape_cpu, scrape_wall, reader_cpu = [], [], []
        for _ in range(scrapes):
            before, started = cpu_seconds(obsgen_pid), time.monotonic()
            body = fetch(9101)
            scrape_cpu.append(cpu_seconds(obsgen_pid) - before)
            scrape_wall.append(time.monotonic() - started)
            reader_cpu.append(reader_pass_seconds(descriptors))
            progress(f"scrape CPU {scrape_cpu[-1]:.2f} s, reader pass {reader_cpu[-1]:.3f} s")
    finally:
        for fd in descriptors:
            os.close(fd)
    result["obsgen_scrape_cpu_seconds"] = scrape_cpu
    result["obsgen_scrape_wall_seconds"] = scrape_wall
    result["reader_pass_cpu_seconds"] = reader_cpu
    return body


def guest_main(output: str, pods: int, scrapes: int, cpu_scrapes: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(hard, 65536), max(hard, 65536)))
    containers = build_node(pods)
    holders = start_holders(containers[::3])
    progress(f"{len(containers)} container cgroups, {len(holders)} processes")
    exporters = {
        "obsgen": ([sys.executable, "-c", OBSGEN, "--listen-address", "127.0.0.1:9101",
                    # A scrape of 1,000 cgroups under TCG can outlast the default 10 s.
                    "--request-timeout", "600"], 9101),
        "one-gauge": ([sys.executable, "-c", ONE_GAUGE, "9102"], 9102),
    }
    if os.path.exists(NODE_EXPORTER):
        exporters["node-exporter"] = ([NODE_EXPORTER, "--web.listen-address=127.0.0.1:9103"], 9103)
    processes = {}
    result: dict = {"kernel": platform.release(), "cpus": os.cpu_count(), "pods": pods, "scrapes": scrapes}
    try:
        for name, (command, port) in exporters.items():
            processes[name] = spawn_in_cgroup(command, name)
        for name, (_command, port) in exporters.items():
            wait_until_serving(processes[name], port, name)

        progress("all exporters serving")
        result["rss_bytes"] = {}
        for name, (_command, port) in exporters.items():
            series = result.setdefault("rss_series_bytes", {}).setdefault(name, [])
            for _ in range(scrapes):
                try:
                    body = fetch(port)
                except OSError as error:
                    raise RuntimeError(f"scraping {name} failed: {error}; its log: {open(f'/tmp/{name}.log').read()}")
                series.append(rss_bytes(processes[name].pid))
            result["rss_bytes"][name] = series[-1]
            result.setdefault("scrape_bytes", {})[name] = len(body)
            progress(f"{name}: {scrapes} scrapes done")

        obsgen = processes["obsgen"]
        body = measure_scrape_cpu(obsgen.pid, cpu_scrapes, result)
        for line in body.decode().splitlines():
            if line.startswith("obsgen_exporter_cgroups "):
                result["cgroups_read"] = int(float(line.split()[1]))
        result["obsgen_rss_after_cpu_scrapes"] = rss_bytes(obsgen.pid)
    finally:
        for process in processes.values():
            process.terminate()
            process.wait(30)
        for pid in holders:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    with open(output, "w") as handle:
        json.dump(result, handle)
    return 0


# ---- host side ----------------------------------------------------------------------------------


def report(result: dict) -> str:
    """Return the side-by-side table of one run's figures, with ratios and targets.

    The scrape ratio divides the smallest obsgen scrape CPU time by the smallest reader pass,
    the least disturbed figure of each under a loaded host; the median ratio is printed too.
    """
    rss = {name: value / MIB for name, value in result["rss_bytes"].items()}
    above = rss["obsgen"] - rss["one-gauge"]
    scrape, reader = result["obsgen_scrape_cpu_seconds"], result["reader_pass_cpu_seconds"]
    ratio = min(scrape) / min(reader)
    median_ratio = statistics.median(scrape) / statistics.median(reader)
    lines = [
        f"kernel {result['kernel']}, guest CPUs: {result['cpus']} (qemu TCG), {result['cgroups_read']} cgroups read "
        f"by obsgen, {result['scrapes']} scrapes each before RSS",
        "",
        f"{'exporter':<16}{'RSS MiB':>10}{'vs one-gauge':>14}{'scrape KiB':>12}",
    ]
    for name, value in rss.items():
        lines.append(
            f"{name:<16}{value:>10.1f}{value - rss['one-gauge']:>+14.1f}{result['scrape_bytes'][name] / 1024:>12.0f}"
        )
    lines += [
        "",
        f"obsgen RSS above one-gauge: {above:+.1f} MiB (target <= +{RSS_TARGET_MIB:.0f}): "
        + ("met" if above <= RSS_TARGET_MIB else f"missed by {above - RSS_TARGET_MIB:.1f} MiB")
        + f"; {result['obsgen_rss_after_cpu_scrapes'] / MIB:.1f} MiB after the CPU scrapes too",
        "obsgen RSS MiB after each scrape: "
        + " ".join(f"{value / MIB:.1f}" for value in result["rss_series_bytes"]["obsgen"]),
        "obsgen scrape CPU s:    " + " ".join(f"{value:.2f}" for value in scrape)
        + "  (wall " + " ".join(f"{value:.2f}" for value in result["obsgen_scrape_wall_seconds"]) + ")",
        "reader pass CPU s:      " + " ".join(f"{value:.3f}" for value in reader)
        + f"  ({result['reader_files']} files, os.pread)",
        f"scrape / reader: {ratio:.1f}x best-to-best, {median_ratio:.1f}x median (target <= {CPU_RATIO_TARGET:.0f}x): "
        + ("met" if ratio <= CPU_RATIO_TARGET else f"missed by a factor of {ratio / CPU_RATIO_TARGET:.1f}"),
    ]
    return "\n".join(lines)


def host_main(options: argparse.Namespace) -> int:
    sys.path.insert(0, str(REPO))
    from tests.vm import harness

    reason = harness.missing_requirement()
    if reason is not None:
        print(f"exporter benchmark: {reason}", file=sys.stderr)
        return 2
    exchange = Path(options.exchange or tempfile.mkdtemp(prefix="obsgen-bench-"))
    exchange.mkdir(parents=True, exist_ok=True)
    result = harness.run(
        [sys.executable, str(Path(__file__).resolve()), "--guest", "/xchg/exporter.json",
         "--pods", str(options.pods), "--scrapes", str(options.scrapes), "--cpu-scrapes", str(options.cpu_scrapes)],
        memory_mb=options.memory, cpus=options.cpus, timeout=options.timeout, exchange=exchange, cwd=str(REPO),
    )
    if result.returncode != 0:
        print(f"exporter benchmark: the VM run failed ({result.returncode}):\n{result.stderr}", file=sys.stderr)
        return 1
    figures = json.loads((exchange / "exporter.json").read_text())
    if options.json:
        Path(options.json).write_text(json.dumps(figures, indent=2) + "\n")
    print(report(figures))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=250, help="pods of 3 containers each (default 250)")
    # Under TCG one obsgen scrape of 1,000 cgroups takes minutes, hence the small defaults.
    parser.add_argument("--scrapes", type=int, default=3, help="scrapes of each exporter before RSS (default 3)")
    parser.add_argument("--cpu-scrapes", type=int, default=3, help="obsgen scrapes timed for CPU, each followed by a reader pass (default 3)")
    parser.add_argument("--cpus", type=int, default=1, help="guest CPUs (default 1)")
    parser.add_argument("--memory", type=int, default=1536, help="guest memory in MiB (default 1536)")
    parser.add_argument("--timeout", type=float, default=3600, help="VM time limit in seconds (default 3600)")
    parser.add_argument("--exchange", help="host folder for the guest's result file (default: a temp folder)")
    parser.add_argument("--json", help="also write the raw figures to this file")
    parser.add_argument("--guest", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.guest:
        return guest_main(options.guest, options.pods, options.scrapes, options.cpu_scrapes)
    return host_main(options)


if __name__ == "__main__":
    sys.exit(main())
