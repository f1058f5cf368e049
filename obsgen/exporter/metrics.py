"""Metric names, help texts and the memory.stat key classification.

The names are a contract: obsgen's recording rules select them. Change a name
only together with the rules.
"""

from __future__ import annotations

PREFIX = "obsgen_"

MEMORY_CURRENT = "obsgen_memory_current_bytes"
MEMORY_WORKING_SET = "obsgen_memory_working_set_bytes"
MEMORY_STAT = "obsgen_memory_stat_bytes"
MEMORY_STAT_EVENTS = "obsgen_memory_stat_events_total"
MEMORY_STAT_OTHER = "obsgen_memory_stat_other"
MEMORY_PEAK = "obsgen_memory_peak_bytes"
MEMORY_SWAP_CURRENT = "obsgen_memory_swap_current_bytes"
MEMORY_EVENTS = "obsgen_memory_events_total"
MEMORY_EVENTS_LOCAL = "obsgen_memory_events_local_total"
MEMORY_SWAP_EVENTS = "obsgen_memory_swap_events_total"
MEMORY_PRESSURE = "obsgen_memory_pressure_seconds_total"
CONTAINER_OOM_KILLS = "obsgen_container_oom_kills_total"
SCRAPE_DURATION = "obsgen_exporter_scrape_duration_seconds"
CGROUPS = "obsgen_exporter_cgroups"
ERRORS = "obsgen_exporter_errors_total"
CGROUPS_DROPPED = "obsgen_exporter_cgroups_dropped_total"

# Limit files and their metric names. A file reading "max" produces no series.
LIMIT_FILES: tuple[tuple[str, str, str], ...] = (
    ("memory.max", "obsgen_memory_max_bytes", "Hard memory limit (memory.max); absent when unlimited."),
    ("memory.high", "obsgen_memory_high_bytes", "Throttling threshold (memory.high); absent when unlimited."),
    ("memory.low", "obsgen_memory_low_bytes", "Best-effort memory protection (memory.low)."),
    ("memory.min", "obsgen_memory_min_bytes", "Hard memory protection (memory.min)."),
    ("memory.swap.max", "obsgen_memory_swap_max_bytes", "Swap limit (memory.swap.max); absent when unlimited."),
)

HELP: dict[str, str] = {
    MEMORY_CURRENT: "Memory charged to the cgroup and its descendants (memory.current).",
    MEMORY_WORKING_SET: "memory.current minus inactive_file from memory.stat, floored at 0 "
                        "(the working set as cAdvisor and the kubelet define it).",
    MEMORY_STAT: "Byte-valued memory.stat entries, by key.",
    MEMORY_STAT_EVENTS: "Event and page counters from memory.stat, by key.",
    MEMORY_STAT_OTHER: "memory.stat entries this exporter version does not know, raw value (unit unknown).",
    MEMORY_PEAK: "Highest memory.current since the cgroup was created (memory.peak, Linux 5.19+).",
    MEMORY_SWAP_CURRENT: "Swap used by the cgroup and its descendants (memory.swap.current).",
    MEMORY_EVENTS: "memory.events counters, including events of descendant cgroups.",
    MEMORY_EVENTS_LOCAL: "memory.events.local counters, events of this cgroup only.",
    MEMORY_SWAP_EVENTS: "memory.swap.events counters.",
    MEMORY_PRESSURE: "Total time tasks stalled on memory (memory.pressure total, PSI), by some/full.",
    CONTAINER_OOM_KILLS: "OOM kills of a Kubernetes container, kept across restarts and cgroup removal; "
                         "container is empty for kills that could not be attributed to a named container.",
    SCRAPE_DURATION: "Time the last scrape spent reading and parsing cgroup files.",
    CGROUPS: "Number of cgroups read by the last scrape.",
    ERRORS: "Cgroup files that could not be used, by file name and reason.",
    CGROUPS_DROPPED: "Cgroups not exported because --max-cgroups was reached.",
}
HELP.update({name: help_text for _file, name, help_text in LIMIT_FILES})

# Byte-valued memory.stat keys up to Linux 6.x.
STAT_BYTE_KEYS = frozenset("""
    anon file kernel kernel_stack pagetables sec_pagetables percpu sock vmalloc shmem zswap
    zswapped file_mapped file_dirty file_writeback swapcached anon_thp file_thp shmem_thp
    inactive_anon active_anon inactive_file active_file unevictable slab_reclaimable
    slab_unreclaimable slab hugetlb
""".split())

# The kernel derives every counter in memory.stat from a VM event or a
# workingset counter, and their names start with these prefixes. Unknown keys
# with them are counters; other unknown keys go to MEMORY_STAT_OTHER.
STAT_EVENT_PREFIXES = ("pg", "pswp", "zswp", "thp_", "workingset_", "numa_")

# Keys exported with --memory-stat=default: what the dashboards and rules use.
DEFAULT_STAT_KEYS = frozenset("""
    anon file kernel kernel_stack pagetables percpu sock vmalloc shmem file_mapped file_dirty
    file_writeback swapcached anon_thp inactive_anon active_anon inactive_file active_file
    unevictable slab_reclaimable slab_unreclaimable slab
    workingset_refault_anon workingset_refault_file workingset_activate_anon
    workingset_activate_file workingset_restore_anon workingset_restore_file
    pgscan pgsteal pgfault pgmajfault
""".split())

STAT_BYTES = "bytes"
STAT_EVENT = "event"
STAT_OTHER = "other"


def classify_stat_key(key: str) -> str:
    """Return STAT_BYTES, STAT_EVENT or STAT_OTHER for a memory.stat key."""
    if key in STAT_BYTE_KEYS:
        return STAT_BYTES
    if key.startswith(STAT_EVENT_PREFIXES):
        return STAT_EVENT
    return STAT_OTHER
