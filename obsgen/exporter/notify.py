"""Catch OOM kills between scrapes with inotify file-change events.

The kernel sends a file-modified event on ``memory.events`` when a counter
in it changes, and on ``cgroup.events`` when the cgroup becomes empty. Both
arrive before the runtime removes an OOM-killed container's cgroup, so
reading ``memory.events`` then records the kill while the file still exists.
Pod directories are watched for new subdirectories, so a container created
and killed between two scrapes is seen too.

This is best effort: when inotify is unavailable or out of watches the
exporter still counts every kill through the pod's hierarchical counter, only
without the container name. inotify is called through ctypes because the
standard library has no binding.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import select
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from . import identity as ident
from .cgroupfs import CgroupFileError, CgroupVanished, parse_flat_keyed, read_text
from .oomtrack import OomTracker

log = logging.getLogger(__name__)

IN_MODIFY = 0x00000002
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_ISDIR = 0x40000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

_EVENT_HEADER = struct.Struct("iIII")
# memory.events changes up to 50 times a second in a cgroup above memory.high,
# so reads it triggers are limited per cgroup while only low/high change. A
# cgroup at memory.max (max, oom, oom_kill change) and cgroup.events (the
# cgroup became empty, as after a fatal kill) are always read at once, because
# the runtime may remove the cgroup right after the kill.
MIN_READ_INTERVAL = 0.1
_THROTTLING_EVENTS = frozenset({"low", "high"})


class InotifyUnavailable(Exception):
    """inotify cannot be used here (no libc symbol, or inotify_init1 failed)."""


class Inotify:
    """Minimal inotify binding: one instance, add/remove watches, read events."""

    def __init__(self) -> None:
        try:
            # The process's own symbols include libc's; find_library would need
            # ldconfig, which distroless images lack.
            self._libc = ctypes.CDLL(None, use_errno=True)
            self._add = self._libc.inotify_add_watch
            self._rm = self._libc.inotify_rm_watch
            init = self._libc.inotify_init1
        except (OSError, AttributeError) as error:
            raise InotifyUnavailable(f"libc has no inotify: {error}") from error
        self._add.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        self._rm.argtypes = [ctypes.c_int, ctypes.c_int]
        fd = init(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            code = ctypes.get_errno()
            raise InotifyUnavailable(f"inotify_init1 failed: {os.strerror(code)}")
        self.fd: int = fd

    def add_watch(self, path: str, mask: int) -> int:
        """Add a watch and return its descriptor; raise OSError on failure."""
        wd = self._add(self.fd, os.fsencode(path), mask)
        if wd < 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code), path)
        return int(wd)

    def remove_watch(self, wd: int) -> None:
        """Remove a watch; one the kernel already dropped is ignored."""
        self._rm(self.fd, wd)

    def read_events(self) -> list[tuple[int, int, str]]:
        """Return pending (watch descriptor, mask, name) events without blocking."""
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return []
        events = []
        offset = 0
        while offset + _EVENT_HEADER.size <= len(data):
            wd, mask, _cookie, length = _EVENT_HEADER.unpack_from(data, offset)
            offset += _EVENT_HEADER.size
            name = data[offset:offset + length].rstrip(b"\0").decode("utf-8", "replace")
            offset += length
            events.append((wd, mask, name))
        return events

    def close(self) -> None:
        """Close the inotify descriptor, which removes all watches."""
        os.close(self.fd)


@dataclass
class _Watch:
    cgroup: str
    directory: str
    identity: ident.CgroupIdentity
    file: str  # "memory.events", "cgroup.events", or "" for a watched pod directory
    added: float


@dataclass
class _ReadSchedule:
    last_read: float = float("-inf")
    due: float | None = None
    # Whether the last read saw a counter other than low/high change, as
    # happens at memory.max right before an OOM kill: then reads are not delayed.
    hot: bool = True
    last_events: dict[str, int] | None = None


class OomWatcher:
    """Background thread that reads container ``memory.events`` on change.

    ``root`` is the cgroup root directory; cgroups are named by their path
    relative to it, as in the collector. ``on_error`` receives file errors.
    ``clock`` must be the collector's clock, which ``retain`` compares with;
    read scheduling always uses ``time.monotonic``.
    """

    def __init__(self, root: str, tracker: OomTracker, on_error: Callable[[CgroupFileError], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._root = root.rstrip("/") or "/"
        self._tracker = tracker
        self._on_error = on_error
        self._clock = clock
        self._inotify = Inotify()
        self._lock = threading.Lock()
        self._watches: dict[int, _Watch] = {}
        self._watched: set[str] = set()
        self._schedules: dict[str, _ReadSchedule] = {}
        self._out_of_watches = False
        self._wake_read, self._wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="oom-watcher", daemon=True)

    def start(self) -> None:
        """Start the watcher thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and release the inotify descriptor."""
        self._stop.set()
        os.write(self._wake_write, b"x")
        self._thread.join(timeout=5)
        self._inotify.close()
        os.close(self._wake_read)
        os.close(self._wake_write)

    def _absolute(self, cgroup: str) -> str:
        return self._root + cgroup if self._root != "/" else cgroup

    def watch_pod(self, cgroup: str, identity: ident.CgroupIdentity) -> None:
        """Watch a pod cgroup for new container directories (idempotent)."""
        self._add(cgroup, identity, is_pod=True)

    def watch_container(self, cgroup: str, identity: ident.CgroupIdentity) -> None:
        """Watch a container cgroup's events files (idempotent)."""
        self._add(cgroup, identity, is_pod=False)

    def _add(self, cgroup: str, identity: ident.CgroupIdentity, is_pod: bool) -> bool:
        with self._lock:
            if cgroup in self._watched or self._out_of_watches:
                return False
            directory = self._absolute(cgroup)
            files = [""] if is_pod else ["memory.events", "cgroup.events"]
            mask = IN_CREATE | IN_MOVED_TO | IN_ONLYDIR if is_pod else IN_MODIFY
            for file in files:
                target = directory + "/" + file if file else directory
                try:
                    wd = self._inotify.add_watch(target, mask | IN_DONT_FOLLOW)
                except OSError as error:
                    if error.errno == errno.ENOSPC:
                        self._out_of_watches = True
                        log.warning("inotify watch limit reached at %s; OOM kills of containers removed "
                                    "between scrapes will be counted without a container name. Raise "
                                    "fs.inotify.max_user_watches to fix this", target)
                    # ENOENT: the cgroup vanished, or a kernel without cgroup.events.
                    continue
                self._watches[wd] = _Watch(cgroup, directory, identity, file, self._clock())
                self._watched.add(cgroup)
            return cgroup in self._watched

    def retain(self, seen: set[str], scrape_started: float) -> None:
        """Remove watches of cgroups a scrape did not see, unless added after it started.

        The kernel drops a watch when its file is deleted, but the removal of
        a cgroup's files is not guaranteed to report it, so watches that
        outlive their cgroup are removed here.
        """
        with self._lock:
            stale = [wd for wd, watch in self._watches.items()
                     if watch.cgroup not in seen and watch.added < scrape_started]
            for wd in stale:
                cgroup = self._watches.pop(wd).cgroup
                self._inotify.remove_watch(wd)
                self._watched.discard(cgroup)
                self._schedules.pop(cgroup, None)

    def watch_count(self) -> int:
        """Return the number of inotify watches held."""
        with self._lock:
            return len(self._watches)

    def _run(self) -> None:
        poller = select.poll()
        poller.register(self._inotify.fd, select.POLLIN)
        poller.register(self._wake_read, select.POLLIN)
        while not self._stop.is_set():
            timeout_ms = self._next_timeout_ms()
            poller.poll(timeout_ms)
            if self._stop.is_set():
                return
            for wd, mask, name in self._inotify.read_events():
                self._handle(wd, mask, name)
            self._read_due()

    def _next_timeout_ms(self) -> int | None:
        with self._lock:
            dues = [s.due for s in self._schedules.values() if s.due is not None]
        if not dues:
            return None
        return max(0, int((min(dues) - time.monotonic()) * 1000) + 1)

    def _handle(self, wd: int, mask: int, name: str) -> None:
        # A file watch reports IN_MODIFY with an empty name; a pod directory
        # watch reports IN_CREATE with the new child's name.
        if mask & IN_Q_OVERFLOW:
            log.warning("inotify queue overflowed; some OOM kills may be counted without a container name")
            return
        with self._lock:
            watch = self._watches.get(wd)
            if watch is None:
                return
            if mask & IN_IGNORED:
                del self._watches[wd]
                if not any(w.cgroup == watch.cgroup for w in self._watches.values()):
                    self._watched.discard(watch.cgroup)
                    self._schedules.pop(watch.cgroup, None)
                return
        if not watch.file:
            if mask & (IN_CREATE | IN_MOVED_TO) and mask & IN_ISDIR:
                self._on_new_child(watch, name)
            return
        if mask & IN_MODIFY:
            self._on_modified(watch)

    def _on_new_child(self, pod: _Watch, name: str) -> None:
        child_identity = ident.identify_component(pod.identity, name, pod.cgroup.strip("/").split("/"))
        if child_identity.kind != ident.KIND_CONTAINER:
            return
        cgroup = pod.cgroup + "/" + name
        if self._add(cgroup, child_identity, is_pod=False):
            self._read(cgroup, self._absolute(cgroup), child_identity)

    def _on_modified(self, watch: _Watch) -> None:
        now = time.monotonic()
        with self._lock:
            schedule = self._schedules.setdefault(watch.cgroup, _ReadSchedule())
            throttled = watch.file == "memory.events" and not schedule.hot
            if throttled and now - schedule.last_read < MIN_READ_INTERVAL:
                schedule.due = schedule.last_read + MIN_READ_INTERVAL
                return
            schedule.last_read = now
            schedule.due = None
        self._read(watch.cgroup, watch.directory, watch.identity)

    def _read_due(self) -> None:
        now = time.monotonic()
        targets: dict[str, _Watch] = {}
        with self._lock:
            for cgroup, schedule in self._schedules.items():
                if schedule.due is not None and schedule.due <= now:
                    schedule.due = None
                    schedule.last_read = now
                    targets[cgroup] = next(w for w in self._watches.values() if w.cgroup == cgroup)
        for watch in targets.values():
            self._read(watch.cgroup, watch.directory, watch.identity)

    def _read(self, cgroup: str, directory: str, identity: ident.CgroupIdentity) -> None:
        try:
            dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return
        try:
            path = directory + "/memory.events"
            text = read_text(dir_fd, "memory.events", path)
            if text is None:
                return
            events = parse_flat_keyed(text, path)
        except CgroupVanished:
            return
        except CgroupFileError as error:
            self._on_error(error)
            return
        finally:
            os.close(dir_fd)
        with self._lock:
            schedule = self._schedules.get(cgroup)
            if schedule is not None:
                previous = schedule.last_events
                schedule.hot = previous is None or any(
                    value != previous.get(key) for key, value in events.items() if key not in _THROTTLING_EVENTS)
                schedule.last_events = events
        if "oom_kill" in events:
            self._tracker.observe_container(cgroup, identity.pod_uid, identity.container_id, events["oom_kill"])
