"""prometheus_client collector that reads the cgroup v2 memory files on each scrape."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from prometheus_client.registry import CollectorRegistry
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from . import cgroupfs
from . import identity as ident
from . import metrics as m
from .cgroupfs import CgroupFileError, CgroupVanished, PressureTotals
from .names import KubernetesNames, scan_names
from .oomtrack import OomTracker

if TYPE_CHECKING:
    from .notify import OomWatcher

log = logging.getLogger(__name__)
_T = TypeVar("_T")

STAT_DEFAULT = "default"
STAT_ALL = "all"
# Distinct (file, reason) error pairs remembered for log-once; past it errors are only counted.
_MAX_LOGGED_ERRORS = 1000
_DROP_WARNING_INTERVAL = 600.0


@dataclass(frozen=True)
class CollectorOptions:
    """What to read and how to label it. Times are in seconds."""

    root: str = "/sys/fs/cgroup"
    include: re.Pattern[str] | None = None
    exclude: re.Pattern[str] | None = None
    max_depth: int | None = None
    max_cgroups: int = 10000
    memory_stat: str = STAT_DEFAULT
    pod_log_dir: str | None = "/var/log/pods"
    container_log_dir: str | None = "/var/log/containers"
    oom_grace_seconds: float = 300.0
    oom_new_series_delay: float = 60.0


@dataclass
class CgroupReading:
    """Values read from one cgroup; None or missing keys mean the file was absent or unusable."""

    current: int | None = None
    stat: dict[str, int] | None = None
    limits: dict[str, int] = field(default_factory=dict)
    peak: int | None = None
    swap_current: int | None = None
    events: dict[str, int] | None = None
    events_local: dict[str, int] | None = None
    swap_events: dict[str, int] | None = None
    pressure: PressureTotals | None = None


class _Reader:
    """Reads one cgroup directory, sending file errors to ``on_error``."""

    def __init__(self, root: str, on_error: Callable[[CgroupFileError], None]) -> None:
        self._root = root.rstrip("/")
        self._on_error = on_error

    def _text(self, dir_fd: int, cgroup: str, name: str) -> str | None:
        path = f"{self._root}{cgroup.rstrip('/')}/{name}"
        try:
            return cgroupfs.read_text(dir_fd, name, path)
        except CgroupFileError as error:
            self._on_error(error)
            return None

    def _parse(self, dir_fd: int, cgroup: str, name: str, parser: Callable[[str, str], _T]) -> _T | None:
        text = self._text(dir_fd, cgroup, name)
        if text is None:
            return None
        path = f"{self._root}{cgroup.rstrip('/')}/{name}"
        try:
            return parser(text, path)
        except CgroupFileError as error:
            self._on_error(error)
            return None

    def events(self, dir_fd: int, cgroup: str) -> dict[str, int] | None:
        """Read memory.events only (for OOM accounting of cgroups that are not exported)."""
        return self._parse(dir_fd, cgroup, "memory.events", cgroupfs.parse_flat_keyed)

    def read(self, dir_fd: int, cgroup: str) -> CgroupReading | None:
        """Read every memory file of a cgroup; None when it has no memory controller.

        Raise CgroupVanished when the cgroup was removed during the read.
        """
        reading = CgroupReading()
        reading.current = self._parse(dir_fd, cgroup, "memory.current", cgroupfs.parse_u64)
        if reading.current is None and cgroup != "/" and not _exists(dir_fd, "memory.current"):
            # No memory controller enabled here (or the cgroup is gone).
            return None
        reading.stat = self._parse(dir_fd, cgroup, "memory.stat", cgroupfs.parse_flat_keyed)
        for file, metric, _help in m.LIMIT_FILES:
            value = self._parse(dir_fd, cgroup, file, cgroupfs.parse_limit)
            if isinstance(value, int):
                reading.limits[metric] = value
        reading.peak = self._parse(dir_fd, cgroup, "memory.peak", cgroupfs.parse_u64)
        reading.swap_current = self._parse(dir_fd, cgroup, "memory.swap.current", cgroupfs.parse_u64)
        reading.events = self.events(dir_fd, cgroup)
        reading.events_local = self._parse(dir_fd, cgroup, "memory.events.local", cgroupfs.parse_flat_keyed)
        reading.swap_events = self._parse(dir_fd, cgroup, "memory.swap.events", cgroupfs.parse_flat_keyed)
        reading.pressure = self._parse(dir_fd, cgroup, "memory.pressure", cgroupfs.parse_pressure)
        if cgroup != "/" and not _exists(dir_fd, "memory.current"):
            # Removed while we read: drop the partial reading.
            raise CgroupVanished(cgroup)
        return reading


def _exists(dir_fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return False
    return True


def cgroup_labels(cgroup: str, identity: ident.CgroupIdentity, names: KubernetesNames) -> dict[str, str]:
    """Return the label set of one cgroup; unknown labels are left out, not set to ""."""
    labels = {"cgroup": cgroup, "kind": identity.kind}
    for label in ("pod_uid", "qos_class", "container_id", "container_runtime", "systemd_unit"):
        value = getattr(identity, label)
        if value:
            labels[label] = value
    container = names.containers.get(identity.container_id) if identity.container_id else None
    if container is not None:
        labels.update(namespace=container.namespace, pod=container.pod, container=container.container)
    elif identity.pod_uid and identity.pod_uid in names.pods:
        pod = names.pods[identity.pod_uid]
        labels.update(namespace=pod.namespace, pod=pod.pod)
    return labels


def new_family(name: str) -> Metric:
    """Return an empty family for ``name``: a counter when it ends in ``_total``, else a gauge."""
    if name.endswith("_total"):
        return CounterMetricFamily(name, m.HELP[name])
    return GaugeMetricFamily(name, m.HELP[name])


class _Families:
    """The metric families of one scrape, created on first use and yielded in a fixed order."""

    def __init__(self) -> None:
        self._families: dict[str, Metric] = {}

    def add(self, name: str, labels: dict[str, str], value: float) -> None:
        family = self._families.get(name)
        if family is None:
            family = self._families[name] = new_family(name)
        # NOTE: add_sample lets each series carry only the labels it knows;
        # the *MetricFamily.add_metric API would force every label onto every series.
        family.add_sample(name, labels, value)

    def __iter__(self) -> Iterator[Metric]:
        return iter(self._families.values())


def add_reading(families: _Families, labels: dict[str, str], reading: CgroupReading, memory_stat: str) -> None:
    """Add the series of one cgroup reading to ``families``."""
    if reading.current is not None:
        families.add(m.MEMORY_CURRENT, labels, reading.current)
        if reading.stat is not None and "inactive_file" in reading.stat:
            families.add(m.MEMORY_WORKING_SET, labels, max(0, reading.current - reading.stat["inactive_file"]))
    if reading.stat is not None:
        _add_stat(families, labels, reading.stat, memory_stat)
    for metric, value in reading.limits.items():
        families.add(metric, labels, value)
    if reading.peak is not None:
        families.add(m.MEMORY_PEAK, labels, reading.peak)
    if reading.swap_current is not None:
        families.add(m.MEMORY_SWAP_CURRENT, labels, reading.swap_current)
    for metric, events in ((m.MEMORY_EVENTS, reading.events), (m.MEMORY_EVENTS_LOCAL, reading.events_local),
                           (m.MEMORY_SWAP_EVENTS, reading.swap_events)):
        for event, count in (events or {}).items():
            families.add(metric, {**labels, "event": event}, count)
    if reading.pressure is not None:
        # On this family "kind" is the PSI line (some or full), so the cgroup
        # kind moves to "cgroup_kind". PSI totals are in microseconds.
        pressure_labels = {**labels, "cgroup_kind": labels["kind"]}
        families.add(m.MEMORY_PRESSURE, {**pressure_labels, "kind": "some"}, reading.pressure.some / 1e6)
        if reading.pressure.full is not None:
            families.add(m.MEMORY_PRESSURE, {**pressure_labels, "kind": "full"}, reading.pressure.full / 1e6)


def _add_stat(families: _Families, labels: dict[str, str], stat: dict[str, int], memory_stat: str) -> None:
    for key, value in stat.items():
        if memory_stat == STAT_DEFAULT and key not in m.DEFAULT_STAT_KEYS:
            continue
        item_labels = {**labels, "item": key}
        kind = m.classify_stat_key(key)
        if kind == m.STAT_BYTES:
            families.add(m.MEMORY_STAT, item_labels, value)
        elif kind == m.STAT_EVENT:
            families.add(m.MEMORY_STAT_EVENTS, item_labels, value)
        else:
            families.add(m.MEMORY_STAT_OTHER, item_labels, value)


class MemoryCollector:
    """Collector for cgroup v2 memory metrics; each ``collect()`` reads the tree anew.

    Not for concurrent use without the internal lock: ``collect()`` takes it,
    so parallel scrapes run one after the other. ``registry`` is where the
    collector registers itself (None: nowhere, for tests and ``--once``).
    """

    def __init__(self, options: CollectorOptions, registry: CollectorRegistry | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.options = options
        self.tracker = OomTracker(options.oom_grace_seconds, options.oom_new_series_delay)
        self.watcher: OomWatcher | None = None
        self._clock = clock
        self._lock = threading.Lock()
        self._errors: dict[tuple[str, str], int] = {}
        self._logged: set[tuple[str, str]] = set()
        self._dropped_total = 0
        self._last_drop_warning = float("-inf")
        if registry is not None:
            registry.register(self)

    def describe(self) -> Iterable[Metric]:
        """Return empty families so that registering does not read cgroupfs."""
        return [new_family(name) for name in m.HELP]

    def record_error(self, error: CgroupFileError) -> None:
        """Count a file error and log it the first time this file and reason are seen."""
        file = os.path.basename(error.path)
        self._errors[(file, error.reason)] = self._errors.get((file, error.reason), 0) + 1
        key = (error.path, error.reason)
        if key in self._logged:
            return
        if len(self._logged) < _MAX_LOGGED_ERRORS:
            self._logged.add(key)
            log.warning("skipping %s: %s (logged once; counted in %s)", error.path, error.detail, m.ERRORS)
        elif len(self._logged) == _MAX_LOGGED_ERRORS:
            self._logged.add(("", ""))
            log.warning("more than %d distinct file errors; further ones are only counted in %s",
                        _MAX_LOGGED_ERRORS, m.ERRORS)

    def collect(self) -> Iterator[Metric]:
        """Read the cgroup tree and yield fresh metric families."""
        with self._lock:
            families = self._scrape()
        return iter(families)

    def _scrape(self) -> list[Metric]:
        started = time.perf_counter()
        families = _Families()
        names = scan_names(self.options.pod_log_dir, self.options.container_log_dir)
        exported, dropped = self._walk(families, names)
        now = self._clock()
        self.tracker.finish_scrape(names, now)
        self._dropped_total += dropped
        if dropped and now - self._last_drop_warning >= _DROP_WARNING_INTERVAL:
            self._last_drop_warning = now
            log.warning("--max-cgroups=%d reached: %d cgroups not exported this scrape (counted in %s; "
                        "this warning repeats at most every %d s)", self.options.max_cgroups, dropped,
                        m.CGROUPS_DROPPED, int(_DROP_WARNING_INTERVAL))
        self._add_oom_counters(families)
        result = list(families)
        result.extend(self._self_metrics(exported, time.perf_counter() - started))
        return result

    def _walk(self, families: _Families, names: KubernetesNames) -> tuple[int, int]:
        options = self.options
        reader = _Reader(options.root, self.record_error)
        try:
            root_fd = os.open(options.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as error:
            self.record_error(CgroupFileError(options.root, cgroupfs.REASON_IO, f"cannot open cgroup root: {error.strerror}"))
            return 0, 0
        exported = dropped = 0
        identities: dict[str, ident.CgroupIdentity] = {}
        try:
            for entry in cgroupfs.walk(root_fd, options.max_depth, self.record_error):
                identity = self._identity(entry.path, identities)
                wanted = self._wanted(entry.path)
                if wanted and exported >= options.max_cgroups:
                    dropped += 1
                    wanted = False
                try:
                    if wanted:
                        reading = reader.read(entry.dir_fd, entry.path)
                        if reading is None:
                            continue
                        exported += 1
                        add_reading(families, cgroup_labels(entry.path, identity, names), reading, options.memory_stat)
                        events = reading.events
                    elif identity.kind in (ident.KIND_POD, ident.KIND_CONTAINER):
                        events = reader.events(entry.dir_fd, entry.path)
                    else:
                        continue
                except CgroupVanished:
                    continue
                self._track_oom(entry.path, identity, events)
        finally:
            os.close(root_fd)
        return exported, dropped

    def _identity(self, path: str, cache: dict[str, ident.CgroupIdentity]) -> ident.CgroupIdentity:
        if path == "/":
            identity = ident.CgroupIdentity()
        else:
            parent_path, _, name = path.rpartition("/")
            parent_path = parent_path or "/"
            parent = cache.get(parent_path, ident.CgroupIdentity())
            identity = ident.identify_component(parent, name, parent_path.strip("/").split("/") if parent_path != "/" else [])
        cache[path] = identity
        return identity

    def _wanted(self, path: str) -> bool:
        if self.options.include is not None and not self.options.include.search(path):
            return False
        return not (self.options.exclude is not None and self.options.exclude.search(path))

    def _track_oom(self, path: str, identity: ident.CgroupIdentity, events: dict[str, int] | None) -> None:
        if not identity.pod_uid or events is None or "oom_kill" not in events:
            return
        now = self._clock()
        if identity.kind == ident.KIND_POD:
            self.tracker.observe_pod(identity.pod_uid, events["oom_kill"], now)
            if self.watcher is not None:
                self.watcher.watch_pod(path, identity)
        elif identity.kind == ident.KIND_CONTAINER:
            self.tracker.observe_container(path, identity.pod_uid, identity.container_id, events["oom_kill"], now)
            if self.watcher is not None:
                self.watcher.watch_container(path, identity)

    def _add_oom_counters(self, families: _Families) -> None:
        for key, counter in self.tracker.counters():
            labels = {"pod_uid": key.pod_uid, "container": key.container}
            if counter.namespace:
                labels.update(namespace=counter.namespace, pod=counter.pod)
            families.add(m.CONTAINER_OOM_KILLS, labels, counter.value)

    def _self_metrics(self, exported: int, duration: float) -> list[Metric]:
        duration_family = GaugeMetricFamily(m.SCRAPE_DURATION, m.HELP[m.SCRAPE_DURATION], value=duration)
        cgroups_family = GaugeMetricFamily(m.CGROUPS, m.HELP[m.CGROUPS], value=exported)
        errors_family = CounterMetricFamily(m.ERRORS, m.HELP[m.ERRORS], labels=["file", "reason"])
        for (file, reason), count in sorted(self._errors.items()):
            errors_family.add_metric([file, reason], count)
        dropped_family = CounterMetricFamily(m.CGROUPS_DROPPED, m.HELP[m.CGROUPS_DROPPED], value=self._dropped_total)
        return [duration_family, cgroups_family, errors_family, dropped_family]
