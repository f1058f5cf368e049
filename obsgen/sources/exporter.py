"""The exporter source: obsgen's own cgroup v2 exporter (``obsgen-exporter``).

The exporter labels container cgroups with namespace, pod and container names (from the
kubelet's log layout) and keeps an OOM-kill counter per container that survives restarts and
removed cgroups. Signals that cAdvisor lacks (memory.high events, PSI, memory.peak, swap) come
only from here.
"""

from __future__ import annotations

from obsgen import conventions as names
from obsgen import promql
from obsgen.catalog.model import SOURCE_EXPORTER, Catalog

SOURCE = SOURCE_EXPORTER
#: Container cgroups; the exporter labels every cgroup's kind ``cgroup_kind`` (``kind`` on the PSI
#: family is the PSI line, some or full).
CONTAINERS = 'cgroup_kind="container", container!=""'


def recording_rules(catalog: Catalog, oom_windows: tuple[int, ...]) -> list[dict[str, object]]:
    """Return the rules that fill the contract from the exporter's series."""
    group = promql.by(names.container_labels(catalog.cluster_label))
    exporter = catalog.selectors.exporter

    def per_container(expr_of_selector: str, metric: str, extra: str = "") -> str:
        matchers = ", ".join(part for part in (exporter, CONTAINERS, extra) if part)
        return f"max {group} ({expr_of_selector.format(f'{metric}{{{matchers}}}')})"

    def gauge(record: str, metric: str, extra: str = "") -> dict[str, object]:
        return _rule(record, per_container("{}", metric, extra))

    rules = [
        gauge(names.WORKING_SET, "obsgen_memory_working_set_bytes"),
        gauge(names.RSS, "obsgen_memory_stat_bytes", 'item="anon"'),
        gauge(names.CACHE, "obsgen_memory_stat_bytes", 'item="file"'),
        gauge(names.USAGE, "obsgen_memory_current_bytes"),
        gauge(names.LIMIT, "obsgen_memory_max_bytes"),
        gauge(names.MEMORY_HIGH, "obsgen_memory_high_bytes"),
        gauge(names.SWAP, "obsgen_memory_swap_current_bytes"),
        gauge(names.PEAK, "obsgen_memory_peak_bytes"),
        _rule(names.HIGH_EVENTS_RATE, per_container("rate({}[5m])", "obsgen_memory_events_total", 'event="high"')),
        _rule(names.PRESSURE_RATE, per_container("rate({}[5m])", "obsgen_memory_pressure_seconds_total",
                                                 'kind="some"')),
        _rule(names.MAJOR_FAULTS_RATE, per_container("rate({}[5m])", "obsgen_memory_stat_events_total",
                                                     'item="pgmajfault"')),
    ]
    for window in oom_windows:
        kills = f"max {group} (increase(obsgen_container_oom_kills_total{{{exporter}}}[{promql.duration(window)}]))"
        rules.append(_rule(names.oom_kills(window), f"{kills} > 0"))
    return rules


def _rule(record: str, expr: str) -> dict[str, object]:
    return {"record": record, "expr": expr, "labels": {names.SOURCE_LABEL: SOURCE}}
