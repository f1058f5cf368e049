"""Builders for cgroup v2 trees and kubelet log directories used by the exporter tests."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# CI checks the shared material out beside the repository; OBSGEN_SHARED_DIR points elsewhere.
SHARED_DIR = Path(os.environ.get("OBSGEN_SHARED_DIR", REPO.parent / "shared"))
SHARED_CGROUP_FIXTURES = SHARED_DIR / "fixtures" / "cgroup2"
LOCAL_FIXTURES = Path(__file__).resolve().parent / "fixtures"

MEMORY_STAT_61 = """anon 8388608
file 1048576
kernel 262144
kernel_stack 16384
pagetables 40960
sec_pagetables 0
percpu 0
sock 0
vmalloc 0
shmem 0
zswap 0
zswapped 0
file_mapped 0
file_dirty 0
file_writeback 0
swapcached 0
anon_thp 0
file_thp 0
shmem_thp 0
inactive_anon 8388608
active_anon 0
inactive_file 524288
active_file 524288
unevictable 0
slab_reclaimable 100000
slab_unreclaimable 20000
slab 120000
workingset_refault_anon 0
workingset_refault_file 3
workingset_activate_anon 0
workingset_activate_file 0
workingset_restore_anon 0
workingset_restore_file 0
workingset_nodereclaim 0
pgscan 0
pgsteal 0
pgscan_kswapd 0
pgscan_direct 0
pgsteal_kswapd 0
pgsteal_direct 0
pgfault 1200
pgmajfault 7
pgrefill 0
pgactivate 0
pgdeactivate 0
pglazyfree 0
pglazyfreed 0
zswpin 0
zswpout 0
thp_fault_alloc 0
thp_collapse_alloc 0
"""

PRESSURE = "some avg10=0.00 avg60=0.00 avg300=0.00 total={some}\nfull avg10=0.00 avg60=0.00 avg300=0.00 total={full}\n"


def events_text(oom_kill: int = 0, oom: int = 0, max_events: int = 0, high: int = 0, group: bool = True) -> str:
    """Return a memory.events body; ``group=False`` leaves out oom_group_kill as kernels before 5.17 do."""
    text = f"low 0\nhigh {high}\nmax {max_events}\noom {oom}\noom_kill {oom_kill}\n"
    return text + ("oom_group_kill 0\n" if group else "")


def write_cgroup(directory: Path, current: int = 9437184, *, limit: str = "max", high: str = "max",
                 peak: int | None = None, oom_kill: int = 0, stat: str = MEMORY_STAT_61,
                 pressure: tuple[int, int] = (0, 0)) -> Path:
    """Create a non-root cgroup directory with the memory files of a 6.1 kernel."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "cgroup.controllers": "cpu io memory pids\n",
        "cgroup.events": "populated 1\nfrozen 0\n",
        "memory.current": f"{current}\n",
        "memory.stat": stat,
        "memory.max": f"{limit}\n",
        "memory.high": f"{high}\n",
        "memory.low": "0\n",
        "memory.min": "0\n",
        "memory.swap.max": "0\n",
        "memory.swap.current": "0\n",
        "memory.events": events_text(oom_kill),
        "memory.events.local": events_text(oom_kill),
        "memory.swap.events": "high 0\nmax 0\nfail 0\n",
        "memory.pressure": PRESSURE.format(some=pressure[0], full=pressure[1]),
    }
    if peak is not None:
        files["memory.peak"] = f"{peak}\n"
    for name, body in files.items():
        (directory / name).write_text(body)
    return directory


def write_root(directory: Path) -> Path:
    """Create a cgroup v2 root: cgroup.controllers with memory, memory.stat and memory.pressure only."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids rdma misc\n")
    (directory / "memory.stat").write_text(MEMORY_STAT_61)
    (directory / "memory.pressure").write_text(PRESSURE.format(some=1500000, full=250000))
    return directory


def set_oom_kill(directory: Path, oom_kill: int) -> None:
    """Rewrite memory.events of a cgroup as the kernel would after ``oom_kill`` kills."""
    (directory / "memory.events").write_text(events_text(oom_kill, oom=oom_kill, max_events=oom_kill))


def add_container_log(log_dir: Path, pod: str, namespace: str, container: str, container_id: str) -> None:
    """Create kubelet's /var/log/containers symlink for a container (pointing nowhere real)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    target = f"/var/log/pods/{namespace}_{pod}_uid/{container}/0.log"
    os.symlink(target, log_dir / f"{pod}_{namespace}_{container}-{container_id}.log")


def add_pod_log_dir(log_dir: Path, namespace: str, pod: str, uid: str) -> None:
    """Create kubelet's /var/log/pods/<namespace>_<pod>_<uid> directory."""
    (log_dir / f"{namespace}_{pod}_{uid}").mkdir(parents=True, exist_ok=True)


def parse_exposition(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Parse text exposition into {(sample name, label set): value} with prometheus_client's parser."""
    from prometheus_client.parser import text_string_to_metric_families

    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def find(samples: dict, name: str, **labels: str) -> list[float]:
    """Return values of samples named ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return [value for (sample_name, label_set), value in samples.items()
            if sample_name == name and wanted <= set(label_set)]
