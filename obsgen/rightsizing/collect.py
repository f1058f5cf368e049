"""Fetch usage histories from Prometheus and group them by workload container.

A request belongs to a pod template, so obsgen recommends per workload container: every pod of
a Deployment, StatefulSet or DaemonSet shares one recommendation, and a rollout (new pod names)
does not reset the history. Services come from the catalog's selectors, applied here as the
membership rules apply them in Prometheus.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from obsgen import conventions as names
from obsgen.catalog.model import FLEET_SERVICE, Catalog, Selector
from obsgen.rightsizing.client import Prometheus, Series, range_chunks
from obsgen.rightsizing.method import History, Kill, Unit
from obsgen.rightsizing.queries import HistoryQueries, raw_history, recorded_history

STEP_S = names.ROLLUP_WINDOW_S
CHUNK_S = 86400
_HASH = "[bcdfghjklmnpqrstvwxz2456789]"
_WORKLOAD_RE = re.compile(rf"^(?P<name>.+?)-(?:(?:{_HASH}{{6,10}}-)?{_HASH}{{5}}|[0-9]+)$")

#: Called with (queries done, queries in total) as the fetch advances.
Progress = Callable[[int, int], None]
PodKey = tuple[str, str, str, str]  # cluster, namespace, pod, container


@dataclass(frozen=True)
class Fetched:
    """The result of one fetch: the histories, and which series it read (``recorded`` or ``raw``)."""

    histories: list[History]
    mode: str


def workload_of(pod: str) -> str:
    """Return the workload that created ``pod``: its name without the ReplicaSet hash, suffix or ordinal."""
    match = _WORKLOAD_RE.match(pod)
    return match.group("name") if match else pod


def _matches(selector: Selector, namespace: str, pod: str, container: str) -> bool:
    pairs = ((selector.namespace, namespace), (selector.pod, pod), (selector.container, container))
    return all(pattern is None or re.fullmatch(pattern, value) for pattern, value in pairs)


def service_of(catalog: Catalog, namespace: str, pod: str, container: str) -> str | None:
    """Return the service that claims a container, ``fleet`` for the catch-all, or None."""
    for service in catalog.services:
        if _matches(service.selector, namespace, pod, container):
            return service.name
    if catalog.fleet.enabled and _matches(catalog.fleet.selector, namespace, pod, container):
        return FLEET_SERVICE
    return None


def choose_mode(client: Prometheus, catalog: Catalog, start: float, end: float) -> str:
    """Return ``recorded`` when the 5-minute rollups cover the window's first hour and its end, else ``raw``."""
    probe = recorded_history(catalog).probe
    early = client.instant(probe, start + 3600)
    late = client.instant(probe, end)
    return "recorded" if early and late else "raw"


def fetch(client: Prometheus, catalog: Catalog, end: float, window_s: int, mode: str = "auto",
          progress: Progress | None = None) -> Fetched:
    """Return the history of every workload container that the catalog claims, over ``window_s`` before ``end``."""
    start = end - window_s + STEP_S
    if mode == "auto":
        mode = choose_mode(client, catalog, start, end)
    queries: HistoryQueries = recorded_history(catalog) if mode == "recorded" else raw_history(catalog)
    chunks = range_chunks(start, end, STEP_S, CHUNK_S)
    kinds = ("peaks", "means", "requests", "limits", "oom_kills")
    total, done = len(chunks) * len(kinds), 0
    samples: dict[str, dict[PodKey, list[tuple[float, float]]]] = {kind: defaultdict(list) for kind in kinds}
    for kind in kinds:
        for chunk_start, chunk_end in chunks:
            for series in client.range(getattr(queries, kind), chunk_start, chunk_end, STEP_S):
                samples[kind][_pod_key(series["metric"], catalog.cluster_label)] += _values(series)
            done += 1
            if progress:
                progress(done, total)
    return Fetched(group_histories(catalog, samples, end, window_s), mode)


def group_histories(catalog: Catalog, samples: dict[str, dict[PodKey, list[tuple[float, float]]]],
                    end: float, window_s: int) -> list[History]:
    """Merge per-pod samples into one history per workload container, sorted by service and unit."""
    pods_of: dict[Unit, list[PodKey]] = defaultdict(list)
    for key in samples["peaks"]:
        cluster, namespace, pod, container = key
        service = service_of(catalog, namespace, pod, container)
        if service is not None:
            pods_of[Unit(cluster, namespace, workload_of(pod), container, service)].append(key)
    histories = []
    for unit, pods in pods_of.items():
        peaks = tuple(sorted(point for pod in pods for point in samples["peaks"][pod]))
        means = tuple(sorted(point for pod in pods for point in samples["means"].get(pod, [])))
        # The current settings are those of the pod seen last; older pods may predate a change.
        newest = max(pods, key=lambda pod: max(time for time, _ in samples["peaks"][pod]))
        kills = tuple(Kill(time, _value_at(samples["limits"].get(pod, []), time))
                      for pod in pods for time in _episodes(samples["oom_kills"].get(pod, [])))
        histories.append(History(
            unit=unit, end=end, window_s=window_s, peaks=peaks, means=means, step_s=STEP_S,
            request=_last(samples["requests"].get(newest, [])), limit=_last(samples["limits"].get(newest, [])),
            kills=tuple(sorted(kills, key=lambda kill: kill.time)),
        ))
    return sorted(histories, key=lambda history: (history.unit.service, history.unit.namespace,
                                                  history.unit.workload, history.unit.container))


def _pod_key(metric: dict[str, str], cluster_label: str) -> PodKey:
    return (metric.get(cluster_label, ""), metric.get("namespace", ""), metric.get("pod", ""),
            metric.get("container", ""))


def _values(series: Series) -> list[tuple[float, float]]:
    return [(float(time), float(value)) for time, value in series["values"]]


def _last(points: list[tuple[float, float]]) -> int | None:
    return int(max(points)[1]) if points else None


def _value_at(points: list[tuple[float, float]], time: float) -> int | None:
    """Return the last value at or before ``time``, or the first after it when there is none before."""
    before = [point for point in points if point[0] <= time]
    if before:
        return int(max(before)[1])
    return int(min(points)[1]) if points else None


def _episodes(points: list[tuple[float, float]]) -> list[float]:
    """Return the start of each run of consecutive steps with a kill: one kill may show in several steps."""
    starts: list[float] = []
    previous = None
    for time, value in sorted(points):
        if value > 0 and (previous is None or time - previous > STEP_S):
            starts.append(time)
        if value > 0:
            previous = time
    return starts
