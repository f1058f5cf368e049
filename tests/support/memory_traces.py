"""Synthetic container memory traces with a known expected recommendation, as OpenMetrics.

Each trace is one workload container sampled every ``scrape_s`` seconds: the working set of each
of its pods, its request and limit, and its OOM kills. ``openmetrics`` writes the series that
cAdvisor and kube-state-metrics would expose, with kube-prometheus-stack job labels, including
the pod-level cAdvisor series (``container=""``) that a careless sum would double.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field

MIB = 1024 * 1024
DAY_S = 86400
HOUR_S = 3600
CADVISOR = 'job="kubelet",metrics_path="/metrics/cadvisor"'
KSM = 'job="kube-state-metrics"'


@dataclass
class Pod:
    """One pod of a workload: its name and its working set samples (Unix seconds, bytes)."""

    name: str
    samples: list[tuple[int, float]] = field(default_factory=list)
    #: Times of the OOM kills of its container; each restarts the container.
    kills: list[int] = field(default_factory=list)


@dataclass
class Trace:
    """One workload container: its kind, its pods and its configured request and limit (bytes)."""

    kind: str
    namespace: str
    workload: str
    container: str
    request: int
    limit: int
    pods: list[Pod]

    def all_samples(self) -> list[tuple[int, float]]:
        return sorted(sample for pod in self.pods for sample in pod.samples)

    def peak(self) -> float:
        return max(value for _, value in self.all_samples())


def workload_of(pod: str) -> str:
    """Return the workload of a pod named by ``_pod_name``: the name without its two suffixes."""
    return pod.rsplit("-", 2)[0]


def _pod_name(workload: str, rng: random.Random) -> str:
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return (f"{workload}-{''.join(rng.choice(alphabet) for _ in range(10))}-"
            f"{''.join(rng.choice(alphabet) for _ in range(5))}")


def _times(start: int, end: int, scrape_s: int) -> range:
    return range(start, end + 1, scrape_s)


def steady(start: int, end: int, scrape_s: int, rng: random.Random, level_mib: float = 200,
           noise_mib: float = 5, workload: str = "steady", rollout_at: int | None = None) -> Trace:
    """Flat use with small noise; a rollout halfway replaces the pod, which must not reset history."""
    rollout_at = rollout_at if rollout_at is not None else (start + end) // 2
    first, second = Pod(_pod_name(workload, rng)), Pod(_pod_name(workload, rng))
    for time in _times(start, end, scrape_s):
        value = (level_mib + rng.uniform(-noise_mib, noise_mib)) * MIB
        (first if time < rollout_at else second).samples.append((time, value))
    return Trace("steady", "shop", workload, "server", 1024 * MIB, 2048 * MIB, [first, second])


def spiky(start: int, end: int, scrape_s: int, rng: random.Random, base_mib: float = 100,
          spike_mib: float = 400, every_s: int = 6 * HOUR_S, spike_s: int = 180, workload: str = "spiky") -> Trace:
    """A low base with short spikes: batch jobs or caches rebuilt every few hours."""
    pod = Pod(_pod_name(workload, rng))
    for time in _times(start, end, scrape_s):
        in_spike = (time - start) % every_s < spike_s
        value = spike_mib * rng.uniform(0.97, 1.0) if in_spike else base_mib + rng.uniform(-3, 3)
        pod.samples.append((time, value * MIB))
    return Trace("spiky", "shop", workload, "worker", 512 * MIB, 1024 * MIB, [pod])


def growing(start: int, end: int, scrape_s: int, rng: random.Random, from_mib: float = 100,
            per_day_mib: float = 200 / 7, workload: str = "growing") -> Trace:
    """Linear growth with noise, as a cache that never evicts or a slow leak."""
    pod = Pod(_pod_name(workload, rng))
    for time in _times(start, end, scrape_s):
        value = from_mib + per_day_mib * (time - start) / DAY_S + rng.uniform(-3, 3)
        pod.samples.append((time, value * MIB))
    return Trace("growing", "shop", workload, "server", 256 * MIB, 1024 * MIB, [pod])


def oom_killed(start: int, end: int, scrape_s: int, rng: random.Random, limit_mib: float = 256,
               workload: str = "oomer", ramps_from: int | None = None) -> Trace:
    """Steady use, then, from ``ramps_from``, memory climbs to the limit and the kernel kills it.

    Samples never exceed the limit: cgroup usage cannot, so the demand above it is unseen.
    """
    ramps_from = ramps_from if ramps_from is not None else end - 2 * DAY_S
    pod = Pod(_pod_name(workload, rng))
    level = 170.0
    for time in _times(start, end, scrape_s):
        if time >= ramps_from:
            level += 100 / (8 * HOUR_S) * scrape_s  # about 8 h from 170Mi to the limit
        value = level + rng.uniform(-2, 2)
        if value >= limit_mib:
            pod.kills.append(time)
            value, level = limit_mib, 150.0
        pod.samples.append((time, value * MIB))
    return Trace("oom", "shop", workload, "server", 192 * MIB, int(limit_mib * MIB), [pod])


def short_lived(start: int, end: int, scrape_s: int, rng: random.Random, hours: float = 3,
                workload: str = "shortlived") -> Trace:
    """A workload that ran only for the last few hours of the window."""
    pod = Pod(_pod_name(workload, rng))
    for time in _times(int(end - hours * HOUR_S), end, scrape_s):
        pod.samples.append((time, (80 + rng.uniform(-2, 2)) * MIB))
    return Trace("short", "shop", workload, "server", 256 * MIB, 512 * MIB, [pod])


def daily_cycle(start: int, end: int, scrape_s: int, rng: random.Random, low_mib: float = 150,
                high_mib: float = 350, workload: str = "diurnal") -> Trace:
    """Use that follows daily traffic: low at night, high in the afternoon."""
    pod = Pod(_pod_name(workload, rng))
    for time in _times(start, end, scrape_s):
        phase = math.sin(2 * math.pi * (time % DAY_S) / DAY_S)
        value = low_mib + (high_mib - low_mib) * (phase + 1) / 2 + rng.uniform(-5, 5)
        pod.samples.append((time, value * MIB))
    return Trace("diurnal", "shop", workload, "server", 512 * MIB, 1024 * MIB, [pod])


def standard_set(start: int, end: int, scrape_s: int, seed: int = 1) -> list[Trace]:
    """Return one trace of each kind over ``[start, end]``."""
    rng = random.Random(seed)
    return [steady(start, end, scrape_s, rng), spiky(start, end, scrape_s, rng),
            growing(start, end, scrape_s, rng), oom_killed(start, end, scrape_s, rng),
            short_lived(start, end, scrape_s, rng), daily_cycle(start, end, scrape_s, rng)]


def _labels(*parts: str) -> str:
    return "{" + ",".join(part for part in parts if part) + "}"


def _series_lines(name: str, labels: str, points: Iterable[tuple[int, float]]) -> list[str]:
    return [f"{name}{labels} {value:.17g} {time}" for time, value in points]


def openmetrics(traces: list[Trace], scrape_s: int) -> str:
    """Return every series of ``traces`` as one OpenMetrics text ending in ``# EOF``."""
    families: dict[str, list[str]] = {}

    def add(name: str, kind: str, lines: list[str]) -> None:
        families.setdefault(f"{name}\0{kind}", []).extend(lines)

    for trace in traces:
        for pod in trace.pods:
            where = f'namespace="{trace.namespace}",pod="{pod.name}"'
            container = f'{where},container="{trace.container}"'
            times = [time for time, _ in pod.samples]
            add("container_memory_working_set_bytes", "gauge",
                _series_lines("container_memory_working_set_bytes", _labels(CADVISOR, container), pod.samples))
            # The pod-level cgroup: the same memory again plus a little for the pause container.
            add("container_memory_working_set_bytes", "gauge",
                _series_lines("container_memory_working_set_bytes", _labels(CADVISOR, where, 'container=""'),
                              [(time, value + MIB) for time, value in pod.samples]))
            for name, value in (("kube_pod_container_resource_requests", trace.request),
                                ("kube_pod_container_resource_limits", trace.limit)):
                add(name, "gauge", _series_lines(name, _labels(KSM, container, 'resource="memory"', 'unit="byte"'),
                                                 [(time, value) for time in times]))
            restarts = [(time, float(sum(1 for kill in pod.kills if kill <= time))) for time in times]
            add("kube_pod_container_status_restarts", "counter",
                _series_lines("kube_pod_container_status_restarts_total", _labels(KSM, container), restarts))
            if pod.kills:
                reason = [(time, 1.0) for time in times if time >= pod.kills[0]]
                add("kube_pod_container_status_last_terminated_reason", "gauge",
                    _series_lines("kube_pod_container_status_last_terminated_reason",
                                  _labels(KSM, container, 'reason="OOMKilled"'), reason))
    out = []
    for key in sorted(families):
        name, kind = key.split("\0")
        out.append(f"# TYPE {name} {kind}")
        out.extend(families[key])
    out.append("# EOF")
    return "\n".join(out) + "\n"
