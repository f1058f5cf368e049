"""prometheus_client collector that reads the cgroup v2 memory files on each scrape."""

from __future__ import annotations

import functools
import logging
import os
import re
import resource
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import CollectorRegistry
from prometheus_client.utils import floatToGoString

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
    """Collector settings: the tree to read, filters, limits and name sources. Times are in seconds."""

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

    def __init__(self, root: str, files: cgroupfs.FileCache, on_error: Callable[[CgroupFileError], None]) -> None:
        self._root = root.rstrip("/")
        self._files = files
        self._on_error = on_error
        self._missing_file = False

    def _parse(self, entry: cgroupfs.WalkEntry, name: str, parser: Callable[[str, str], _T]) -> _T | None:
        # The full path is built only for an error message: this runs for
        # every file of every cgroup.
        cgroup = entry.path
        try:
            text = self._files.read(entry.dir_fd, cgroup, entry.inode, name, name)
            if text is None:
                self._missing_file = True
                return None
            return parser(text, name)
        except CgroupFileError as error:
            path = f"{self._root}{cgroup.rstrip('/')}/{name}"
            self._on_error(CgroupFileError(path, error.reason, error.detail))
            return None
        except CgroupVanished:
            raise CgroupVanished(f"{self._root}{cgroup.rstrip('/')}/{name}") from None

    def events(self, entry: cgroupfs.WalkEntry) -> dict[str, int] | None:
        """Read memory.events only (for OOM accounting of cgroups that are not exported)."""
        return self._parse(entry, "memory.events", cgroupfs.parse_flat_keyed)

    def read(self, entry: cgroupfs.WalkEntry) -> CgroupReading | None:
        """Read every memory file of a cgroup; None when it has no memory controller.

        Raise CgroupVanished when the cgroup was removed during the read.
        """
        is_root = entry.path == "/"
        self._missing_file = False
        reading = CgroupReading()
        reading.current = self._parse(entry, "memory.current", cgroupfs.parse_u64)
        if reading.current is None and not is_root and self._missing_file:
            # memory.current is absent, so the memory controller is off here (or the cgroup is gone).
            # The failed open already showed that, so no stat of the file follows.
            return None
        reading.stat = self._parse(entry, "memory.stat", cgroupfs.parse_flat_keyed)
        for file, metric, _help in m.LIMIT_FILES:
            value = self._parse(entry, file, cgroupfs.parse_limit)
            if isinstance(value, int):
                reading.limits[metric] = value
        reading.peak = self._parse(entry, "memory.peak", cgroupfs.parse_u64)
        reading.swap_current = self._parse(entry, "memory.swap.current", cgroupfs.parse_u64)
        reading.events = self.events(entry)
        reading.events_local = self._parse(entry, "memory.events.local", cgroupfs.parse_flat_keyed)
        reading.swap_events = self._parse(entry, "memory.swap.events", cgroupfs.parse_flat_keyed)
        reading.pressure = self._parse(entry, "memory.pressure", cgroupfs.parse_pressure)
        # A missing file means an older kernel, or a cgroup removed during the
        # read (open fails with ENOENT then). Drop the partial reading of the latter.
        if self._missing_file and not is_root and not _exists(entry.dir_fd, "memory.current"):
            raise CgroupVanished(entry.path)
        return reading


def _exists(dir_fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return False
    return True


def label_text(value: str) -> str:
    """Return ``value`` as text that encodes to UTF-8, writing each undecodable byte as ``\\xNN``.

    Directory names are bytes: ``os.scandir`` turns those that are not UTF-8 into lone
    surrogates, which no exposition format can carry.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return value


def cgroup_labels(cgroup: str, identity: ident.CgroupIdentity, names: KubernetesNames) -> dict[str, str]:
    """Return every identity label of one cgroup; unknown labels are left out, not set to ""."""
    # "cgroup_kind", not "kind": on the pressure family "kind" is the PSI line (some or full).
    # NOTE: a name with the byte 0xff and one with the four characters "\xff" get the same label.
    labels = {"cgroup": label_text(cgroup), "cgroup_kind": identity.kind}
    for label in m.INFO_ONLY_LABELS:
        value = getattr(identity, label)
        if value:
            labels[label] = label_text(value)
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


class CgroupLabels:
    """The labels of one cgroup, as dicts and as rendered exposition text.

    ``labels`` are the value series' labels (``m.VALUE_LABELS``); ``info``
    has every identity label and goes on the one ``m.CGROUP_INFO`` series.
    """

    def __init__(self, info: dict[str, str]) -> None:
        self.info = info
        self.labels = {name: value for name, value in info.items() if name in m.VALUE_LABELS}
        self.text = render_labels(self.labels)
        self.info_text = render_labels(self.info)

    def for_metric(self, name: str) -> dict[str, str]:
        """Return the base labels of ``name``'s series."""
        return self.info if name == m.CGROUP_INFO else self.labels

    def text_for_metric(self, name: str) -> str:
        """Return the base labels of ``name``'s series as exposition text."""
        return self.info_text if name == m.CGROUP_INFO else self.text


def render_labels(labels: dict[str, str]) -> str:
    """Render labels as ``a="1",b="2"`` with the text format's escaping."""
    return ",".join(f'{name}="{_escape(value)}"' for name, value in labels.items())


def _escape(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


class _Families:
    """Series of one scrape as prometheus_client families, yielded in order of first use."""

    def __init__(self) -> None:
        self._families: dict[str, Metric] = {}

    def add(self, cgroup: CgroupLabels, name: str, extra: tuple[str, str] | None, value: float) -> None:
        family = self._families.get(name)
        if family is None:
            family = self._families[name] = new_family(name)
        labels = cgroup.for_metric(name)
        if extra is not None:
            labels = {**labels, extra[0]: extra[1]}
        # add_sample lets each series carry only its known labels;
        # the *MetricFamily.add_metric API would force every label onto every series.
        family.add_sample(name, labels, value)

    def add_items(self, cgroup: CgroupLabels, name: str, label: str, items: Iterable[tuple[str, float]]) -> None:
        for key, value in items:
            self.add(cgroup, name, (label, key), value)

    def __iter__(self) -> Iterator[Metric]:
        return iter(self._families.values())


class _TextLines:
    """Series of one scrape, kept compact and rendered to text format 0.0.4 in chunks.

    A scrape of a large node has tens of thousands of series but only one
    label set per cgroup. Each series is kept as three entries of a flat
    list per family: its cgroup's rendered label set, its extra label
    (``,item="anon"``, shared by every cgroup) and its value. Lines are built
    only while the output is written. That is several times cheaper than
    prometheus_client's per-sample rendering, and the whole output is never
    in memory at once. The flat list takes 24 bytes a series, where a tuple
    per series took about 100 and set the scrape's peak memory.
    """

    def __init__(self) -> None:
        # Per family: base labels, extra label text ("" or ',name="value"'), value; repeated.
        self._rows: dict[str, list[str | int]] = {}

    def add(self, cgroup: CgroupLabels, name: str, extra: tuple[str, str] | None, value: float) -> None:
        rows = self._rows.get(name)
        if rows is None:
            rows = self._rows[name] = []
        number = value if isinstance(value, int) else floatToGoString(value)
        extra_text = "" if extra is None else _extra_label(extra[0], extra[1])
        rows += (cgroup.text_for_metric(name), extra_text, number)

    def add_items(self, cgroup: CgroupLabels, name: str, label: str, items: Iterable[tuple[str, int]]) -> None:
        """Add one series per (label value, value) pair; the values must be integers."""
        rows = self._rows.get(name)
        if rows is None:
            rows = self._rows[name] = []
        base = cgroup.text_for_metric(name)
        for key, value in items:
            rows += (base, _extra_label(label, key), value)

    def chunks(self, rows_per_chunk: int = 256) -> Iterator[str]:
        """Yield the exposition text family by family, a few hundred lines at a time."""
        step = 3 * rows_per_chunk
        for name, rows in self._rows.items():
            kind = "counter" if name.endswith("_total") else "gauge"
            yield f"# HELP {name} {m.HELP[name]}\n# TYPE {name} {kind}\n"
            for start in range(0, len(rows), step):
                fields = iter(rows[start:start + step])
                yield "".join([f"{name}{{{base}{extra}}} {value}\n" for base, extra, value in zip(fields, fields, fields)])


@functools.lru_cache(maxsize=4096)
def _extra_label(name: str, value: str) -> str:
    """Return ``,name="value"`` escaped; the values are memory.stat keys, event names and PSI lines."""
    return f',{name}="{_escape(value)}"'


SeriesSink = _Families | _TextLines


def add_reading(sink: SeriesSink, cgroup: CgroupLabels, reading: CgroupReading, memory_stat: str) -> None:
    """Add the series of one cgroup reading to ``sink``, its info series first."""
    sink.add(cgroup, m.CGROUP_INFO, None, 1)
    if reading.current is not None:
        sink.add(cgroup, m.MEMORY_CURRENT, None, reading.current)
        if reading.stat is not None and "inactive_file" in reading.stat:
            sink.add(cgroup, m.MEMORY_WORKING_SET, None, max(0, reading.current - reading.stat["inactive_file"]))
    if reading.stat is not None:
        _add_stat(sink, cgroup, reading.stat, memory_stat)
    for metric, value in reading.limits.items():
        sink.add(cgroup, metric, None, value)
    if reading.peak is not None:
        sink.add(cgroup, m.MEMORY_PEAK, None, reading.peak)
    if reading.swap_current is not None:
        sink.add(cgroup, m.MEMORY_SWAP_CURRENT, None, reading.swap_current)
    for metric, events in ((m.MEMORY_EVENTS, reading.events), (m.MEMORY_EVENTS_LOCAL, reading.events_local),
                           (m.MEMORY_SWAP_EVENTS, reading.swap_events)):
        if events:
            sink.add_items(cgroup, metric, "event", events.items())
    if reading.pressure is not None:
        # PSI totals are in microseconds.
        sink.add(cgroup, m.MEMORY_PRESSURE, ("kind", "some"), reading.pressure.some / 1e6)
        if reading.pressure.full is not None:
            sink.add(cgroup, m.MEMORY_PRESSURE, ("kind", "full"), reading.pressure.full / 1e6)


_STAT_METRICS = {m.STAT_BYTES: m.MEMORY_STAT, m.STAT_EVENT: m.MEMORY_STAT_EVENTS, m.STAT_OTHER: m.MEMORY_STAT_OTHER}


def _add_stat(sink: SeriesSink, cgroup: CgroupLabels, stat: dict[str, int], memory_stat: str) -> None:
    by_metric: dict[str, list[tuple[str, int]]] = {m.MEMORY_STAT: [], m.MEMORY_STAT_EVENTS: [], m.MEMORY_STAT_OTHER: []}
    default_only = memory_stat == STAT_DEFAULT
    for key, value in stat.items():
        if default_only and key not in m.DEFAULT_STAT_KEYS:
            continue
        by_metric[_stat_metric(key)].append((key, value))
    for metric, items in by_metric.items():
        if items:
            sink.add_items(cgroup, metric, "item", items)


@functools.lru_cache(maxsize=1024)
def _stat_metric(key: str) -> str:
    return _STAT_METRICS[m.classify_stat_key(key)]


def _descriptor_budget() -> int:
    """Return how many cgroup files may stay open, raising the soft RLIMIT_NOFILE to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (OSError, ValueError):
            pass
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    try:
        in_use = len(os.listdir("/proc/self/fd"))
    except OSError:
        in_use = 64
    # Leave room for sockets, directory descriptors of the walk and inotify.
    return max(0, min(soft, 1 << 20) - in_use - 256)


class _StaticCollector:
    """Already built families, in the shape generate_latest expects."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> list[Metric]:
        return self._families


class MemoryCollector:
    """Collector for cgroup v2 memory metrics; each ``collect()`` reads the tree anew.

    Thread-safe: ``collect()`` and ``render_text()`` take an internal lock, so
    concurrent scrapes run one after the other. ``registry`` is where the
    collector registers itself (None: nowhere, for tests and ``--once``).
    """

    def __init__(self, options: CollectorOptions, registry: CollectorRegistry | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.options = options
        self.tracker = OomTracker(options.oom_grace_seconds, options.oom_new_series_delay)
        self.watcher: OomWatcher | None = None
        self._clock = clock
        self._lock = threading.Lock()
        # record_error is also called by the watcher thread.
        self._errors_lock = threading.Lock()
        self._errors: dict[tuple[str, str], int] = {}
        self._logged: set[tuple[str, str]] = set()
        self._dropped_total = 0
        self._tracked: set[str] = set()
        self._last_drop_warning = float("-inf")
        self._files = cgroupfs.FileCache(_descriptor_budget())
        self._identities: dict[str, ident.CgroupIdentity] = {}
        self._labels: dict[str, tuple[object, CgroupLabels]] = {}
        if registry is not None:
            registry.register(self)

    def describe(self) -> Iterable[Metric]:
        """Return empty families so that registering does not read cgroupfs."""
        return [new_family(name) for name in m.HELP]

    def close(self) -> None:
        """Close the cgroup files kept open between scrapes."""
        with self._lock:
            self._files.close()

    def record_error(self, error: CgroupFileError) -> None:
        """Count a file error and log it the first time this file and reason are seen."""
        file = os.path.basename(error.path)
        key = (error.path, error.reason)
        with self._errors_lock:
            self._errors[(file, error.reason)] = self._errors.get((file, error.reason), 0) + 1
            if key in self._logged or len(self._logged) > _MAX_LOGGED_ERRORS:
                return
            self._logged.add(key)
            first_over_limit = len(self._logged) > _MAX_LOGGED_ERRORS
        if first_over_limit:
            log.warning("more than %d distinct file errors; further ones are only counted in %s",
                        _MAX_LOGGED_ERRORS, m.ERRORS)
        else:
            log.warning("skipping %s: %s (logged once; counted in %s)", error.path, error.detail, m.ERRORS)

    def collect(self) -> Iterator[Metric]:
        """Read the cgroup tree and yield fresh metric families."""
        families = _Families()
        with self._lock:
            extra = self._scrape(families)
        return iter([*families, *extra])

    def render_text_chunks(self) -> Iterator[bytes]:
        """Read the cgroup tree and yield it in text format 0.0.4, in chunks.

        The same series as ``collect()``, rendered without building a
        prometheus_client sample per series. The tree is read when the first
        chunk is requested.
        """
        lines = _TextLines()
        with self._lock:
            extra = self._scrape(lines)
        for chunk in lines.chunks():
            yield chunk.encode()
        yield generate_latest(_StaticCollector(extra))

    def render_text(self) -> bytes:
        """Read the cgroup tree and return it in text format 0.0.4."""
        return b"".join(self.render_text_chunks())

    def _scrape(self, sink: SeriesSink) -> list[Metric]:
        """Add the cgroup series to ``sink``; return the OOM and self-metric families."""
        started = time.perf_counter()
        walk_started = self._clock()
        names = scan_names(self.options.pod_log_dir, self.options.container_log_dir)
        self._tracked = set()
        exported, dropped = self._walk(sink, names)
        now = self._clock()
        if self.watcher is not None:
            self.watcher.retain(self._tracked, walk_started)
        self.tracker.finish_scrape(names, now)
        self._dropped_total += dropped
        if dropped and now - self._last_drop_warning >= _DROP_WARNING_INTERVAL:
            self._last_drop_warning = now
            log.warning("--max-cgroups=%d reached: %d cgroups not exported this scrape (counted in %s; "
                        "this warning repeats at most every %d s)", self.options.max_cgroups, dropped,
                        m.CGROUPS_DROPPED, int(_DROP_WARNING_INTERVAL))
        return [self._oom_counters(), *self._self_metrics(exported, time.perf_counter() - started)]

    def _walk(self, sink: SeriesSink, names: KubernetesNames) -> tuple[int, int]:
        options = self.options
        reader = _Reader(options.root, self._files, self.record_error)
        try:
            root_fd = os.open(options.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as error:
            detail = f"cannot open cgroup root: {error.strerror}"
            self.record_error(CgroupFileError(options.root, cgroupfs.REASON_IO, detail))
            return 0, 0
        exported = dropped = 0
        # Identities depend only on the path and labels only on the path and
        # the names, so both are kept across scrapes for the cgroups still there.
        previous_identities, self._identities = self._identities, {}
        previous_labels, self._labels = self._labels, {}
        try:
            for entry in cgroupfs.walk(root_fd, options.max_depth, self.record_error):
                identity = previous_identities.get(entry.path) or self._identity(entry.path)
                self._identities[entry.path] = identity
                wanted = self._wanted(entry.path)
                if wanted and exported >= options.max_cgroups:
                    dropped += 1
                    wanted = False
                try:
                    if wanted:
                        reading = reader.read(entry)
                        if reading is None:
                            continue
                        exported += 1
                        labels = self._cgroup_labels(entry.path, identity, names, previous_labels)
                        add_reading(sink, labels, reading, options.memory_stat)
                        events = reading.events
                    elif identity.kind in (ident.KIND_POD, ident.KIND_CONTAINER):
                        events = reader.events(entry)
                    else:
                        continue
                except CgroupVanished:
                    continue
                self._track_oom(entry.path, identity, events)
        finally:
            os.close(root_fd)
            self._files.end_scrape()
        return exported, dropped

    def _identity(self, path: str) -> ident.CgroupIdentity:
        """Derive the identity of ``path``; its parent was identified earlier in the walk."""
        if path == "/":
            return ident.CgroupIdentity()
        parent_path, _, name = path.rpartition("/")
        parent_path = parent_path or "/"
        parent = self._identities.get(parent_path, ident.CgroupIdentity())
        parents = parent_path.strip("/").split("/") if parent_path != "/" else []
        return ident.identify_component(parent, name, parents)

    def _cgroup_labels(self, path: str, identity: ident.CgroupIdentity, names: KubernetesNames,
                       previous: dict[str, tuple[object, CgroupLabels]]) -> CgroupLabels:
        names_key = (names.containers.get(identity.container_id), names.pods.get(identity.pod_uid))
        cached = previous.get(path)
        if cached is not None and cached[0] == names_key:
            labels = cached[1]
        else:
            labels = CgroupLabels(cgroup_labels(path, identity, names))
        self._labels[path] = (names_key, labels)
        return labels

    def _wanted(self, path: str) -> bool:
        if self.options.include is not None and not self.options.include.search(path):
            return False
        return not (self.options.exclude is not None and self.options.exclude.search(path))

    def _track_oom(self, path: str, identity: ident.CgroupIdentity, events: dict[str, int] | None) -> None:
        if not identity.pod_uid or events is None or "oom_kill" not in events:
            return
        now = self._clock()
        self._tracked.add(path)
        if identity.kind == ident.KIND_POD:
            self.tracker.observe_pod(identity.pod_uid, events["oom_kill"], now)
            if self.watcher is not None:
                self.watcher.watch_pod(path, identity)
        elif identity.kind == ident.KIND_CONTAINER:
            self.tracker.observe_container(path, identity.pod_uid, identity.container_id, events["oom_kill"], now)
            if self.watcher is not None:
                self.watcher.watch_container(path, identity)

    def _oom_counters(self) -> Metric:
        family = new_family(m.CONTAINER_OOM_KILLS)
        for key, counter in self.tracker.counters():
            labels = {"pod_uid": key.pod_uid, "container": key.container}
            if counter.namespace:
                labels.update(namespace=counter.namespace, pod=counter.pod)
            family.add_sample(m.CONTAINER_OOM_KILLS, labels, counter.value)
        return family

    def _self_metrics(self, exported: int, duration: float) -> list[Metric]:
        duration_family = GaugeMetricFamily(m.SCRAPE_DURATION, m.HELP[m.SCRAPE_DURATION], value=duration)
        cgroups_family = GaugeMetricFamily(m.CGROUPS, m.HELP[m.CGROUPS], value=exported)
        errors_family = CounterMetricFamily(m.ERRORS, m.HELP[m.ERRORS], labels=["file", "reason"])
        with self._errors_lock:
            errors = sorted(self._errors.items())
        for (file, reason), count in errors:
            errors_family.add_metric([file, reason], count)
        dropped_family = CounterMetricFamily(m.CGROUPS_DROPPED, m.HELP[m.CGROUPS_DROPPED], value=self._dropped_total)
        return [duration_family, cgroups_family, errors_family, dropped_family]
