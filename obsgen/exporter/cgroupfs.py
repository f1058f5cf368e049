"""Strict, read-only readers for cgroup v2 interface files.

Every file is opened relative to a directory file descriptor with
``O_NOFOLLOW``, and directories are entered the same way, so a symlink inside
the tree can never lead a read outside the cgroup root. Nothing here writes.

Parsers are pure functions over text. They raise :class:`CgroupFileError`
naming the file, the offending line and the reason, and accept nothing they do
not understand: a partly understood file would feed wrong numbers.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

log = logging.getLogger(__name__)

U64_MAX = 2**64 - 1

# A cgroup removed while it is read fails with ENODEV (kernfs node
# deactivated) or ENOENT (directory gone before the open).
_VANISHED_ERRNOS = frozenset({errno.ENOENT, errno.ENODEV})
# Files that a kernel or a boot option may leave out: PSI files fail with
# EOPNOTSUPP when PSI is disabled at boot.
_ABSENT_ERRNOS = frozenset({errno.ENOENT, errno.EOPNOTSUPP})
_READ_CHUNK = 65536
# memory.stat is under 2 KiB on 6.x kernels; anything past this is not a cgroup file.
MAX_FILE_BYTES = 1 << 20

REASON_PARSE = "parse"
REASON_PERMISSION = "permission"
REASON_IO = "io"
REASON_SYMLINK = "symlink"
REASON_TOO_LARGE = "too_large"


class CgroupFileError(Exception):
    """A cgroup file that exists but cannot be used.

    ``reason`` is a short fixed word for the error counter's label, ``path``
    the file, and ``detail`` the human-readable cause with the bad line.
    """

    def __init__(self, path: str, reason: str, detail: str) -> None:
        super().__init__(f"{path}: {detail}")
        self.path = path
        self.reason = reason
        self.detail = detail


class CgroupVanished(Exception):
    """The cgroup was removed while it was being read."""


@dataclass(frozen=True)
class PressureTotals:
    """Total stall time from a PSI file, in microseconds; ``full`` is None when absent."""

    some: int
    full: int | None


def parse_u64(text: str, path: str) -> int:
    """Parse a file holding one unsigned 64-bit decimal integer."""
    value = text.strip()
    if not value:
        raise CgroupFileError(path, REASON_PARSE, "file is empty, expected an integer")
    if "\n" in value:
        raise CgroupFileError(path, REASON_PARSE, f"expected one line, got {value!r}")
    return _u64_field(value, path, value)


def parse_limit(text: str, path: str) -> int | None:
    """Parse a limit file such as memory.max; the literal ``max`` returns None (no limit)."""
    if text.strip() == "max":
        return None
    return parse_u64(text, path)


def parse_flat_keyed(text: str, path: str) -> dict[str, int]:
    """Parse ``key value`` lines (memory.stat, memory.events) into a dict.

    Keys are kept in file order. Unknown keys are accepted, because newer
    kernels add keys, but a line that is not ``<word> <u64>`` or a repeated key
    rejects the whole file.
    """
    # Fast path for well-formed files, checked by one regular expression;
    # anything else goes through the line-by-line parser for a precise error.
    if _FLAT_KEYED_FILE.fullmatch(text):
        fields = text.split()
        # Interned keys are shared by every cgroup's dict instead of copied per scrape.
        values = dict(zip(map(sys.intern, fields[0::2]), map(int, fields[1::2])))
        if len(values) * 2 == len(fields) and max(values.values()) <= U64_MAX:
            return values
    return _parse_flat_keyed_lines(text, path)


_FLAT_KEYED_FILE = re.compile(r"(?:[a-z0-9_]+ [0-9]{1,20}\n)+")


def _parse_flat_keyed_lines(text: str, path: str) -> dict[str, int]:
    values: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line:
            continue
        fields = line.split(" ")
        if len(fields) != 2 or not _is_key(fields[0]):
            raise CgroupFileError(path, REASON_PARSE, f"line {number}: expected 'key value', got {line!r}")
        key, raw = fields
        if key in values:
            raise CgroupFileError(path, REASON_PARSE, f"line {number}: duplicate key {key!r}")
        values[key] = _u64_field(raw, path, line, number)
    if not values:
        raise CgroupFileError(path, REASON_PARSE, "file is empty, expected 'key value' lines")
    return values


def parse_pressure(text: str, path: str) -> PressureTotals:
    """Parse a PSI file (``some avg10=… total=N`` and optionally ``full …``)."""
    totals: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line:
            continue
        kind, _, rest = line.partition(" ")
        if kind not in ("some", "full") or kind in totals:
            raise CgroupFileError(path, REASON_PARSE, f"line {number}: expected a 'some' or 'full' line, got {line!r}")
        total = None
        for field in rest.split(" "):
            name, sep, raw = field.partition("=")
            if not sep:
                raise CgroupFileError(path, REASON_PARSE, f"line {number}: expected name=value, got {field!r}")
            if name == "total":
                total = _u64_field(raw, path, line, number)
        if total is None:
            raise CgroupFileError(path, REASON_PARSE, f"line {number}: no total= field in {line!r}")
        totals[kind] = total
    if "some" not in totals:
        raise CgroupFileError(path, REASON_PARSE, "no 'some' line")
    return PressureTotals(some=totals["some"], full=totals.get("full"))


def _is_key(word: str) -> bool:
    return _KEY.fullmatch(word) is not None


_KEY = re.compile(r"[a-z0-9_]+")


def _u64_field(raw: str, path: str, line: str, number: int | None = None) -> int:
    where = f"line {number}: " if number is not None else ""
    if not (raw.isascii() and raw.isdigit()):
        raise CgroupFileError(path, REASON_PARSE, f"{where}expected an unsigned integer, got {line!r}")
    value = int(raw)
    if value > U64_MAX:
        raise CgroupFileError(path, REASON_PARSE, f"{where}value {raw} exceeds 2^64-1")
    return value


_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


def read_text(dir_fd: int, name: str, path: str) -> str | None:
    """Read file ``name`` of the directory open as ``dir_fd``.

    Return None when the file does not exist (a kernel without it). Raise
    :class:`CgroupVanished` when the cgroup was removed mid-read and
    :class:`CgroupFileError` for anything else, ``path`` naming the file.
    """
    try:
        fd = _open(dir_fd, name, path)
    except OSError as error:
        raise _classify(error, path) from error
    if fd is None:
        return None
    try:
        return _read_fd(fd, path)
    finally:
        os.close(fd)


_OUT_OF_DESCRIPTORS = frozenset({errno.EMFILE, errno.ENFILE})


def _open(dir_fd: int, name: str, path: str) -> int | None:
    """Open a file read-only; None when absent. EMFILE and ENFILE pass through as OSError."""
    try:
        return os.open(name, _OPEN_FLAGS, dir_fd=dir_fd)
    except OSError as error:
        if error.errno in _ABSENT_ERRNOS:
            return None
        if error.errno in _OUT_OF_DESCRIPTORS:
            raise
        raise _classify(error, path) from error


def _read_fd(fd: int, path: str) -> str | None:
    """Read an open file from offset 0; None for EOPNOTSUPP (PSI disabled)."""
    try:
        data = _read_all(fd, path)
    except OSError as error:
        if error.errno in _VANISHED_ERRNOS:
            raise CgroupVanished(path) from error
        if error.errno == errno.EOPNOTSUPP:
            return None
        raise _classify(error, path) from error
    try:
        return data.decode("ascii")
    except UnicodeDecodeError as error:
        raise CgroupFileError(path, REASON_PARSE, f"not ASCII text at byte {error.start}") from error


@dataclass
class _OpenCgroup:
    inode: int
    fds: dict[str, int]


class FileCache:
    """Descriptors of cgroup files kept open across scrapes and re-read from offset 0.

    Opening a file costs more than reading it, so each file is opened once
    and read with ``pread`` at every scrape. kernfs regenerates the content
    for each read at offset 0. A cgroup is known by its path and directory inode,
    so a cgroup removed and created again under the same name gets new
    descriptors. Descriptors of a removed cgroup fail with ENODEV, which
    raises :class:`CgroupVanished` and closes them. Those of cgroups not seen
    by a scrape are closed by :meth:`end_scrape`. At most ``max_fds`` are
    kept, and past that files are opened and closed on each read.
    """

    def __init__(self, max_fds: int) -> None:
        self._max_fds = max_fds
        self._open_count = 0
        self._cgroups: dict[str, _OpenCgroup] = {}
        self._seen: set[str] = set()

    def read(self, dir_fd: int, cgroup: str, inode: int, name: str, path: str) -> str | None:
        """Read file ``name`` of ``cgroup`` like :func:`read_text`."""
        entry = self._cgroups.get(cgroup)
        if entry is None or entry.inode != inode:
            if entry is not None:
                self._close(cgroup)
            entry = self._cgroups[cgroup] = _OpenCgroup(inode, {})
        self._seen.add(cgroup)
        fd = entry.fds.get(name)
        if fd is None:
            fd = self._open(dir_fd, name, path)
            if fd is None:
                return None
            if self._cgroups.get(cgroup) is not entry:
                # Running out of descriptors made _open close every cached one, this cgroup's too.
                entry = self._cgroups[cgroup] = _OpenCgroup(inode, {})
            if self._open_count < self._max_fds:
                entry.fds[name] = fd
                self._open_count += 1
        stored = entry.fds.get(name) == fd
        try:
            return _read_fd(fd, path)
        except CgroupVanished:
            self._close(cgroup)
            raise
        finally:
            if not stored:
                os.close(fd)

    def _open(self, dir_fd: int, name: str, path: str) -> int | None:
        try:
            return _open(dir_fd, name, path)
        except OSError as error:
            if not self._open_count:
                raise _classify(error, path) from error
        # Out of descriptors: keep at most half as many from now on, free
        # all kept ones, and try once more.
        log.warning("out of file descriptors with %d cgroup files open; keeping at most %d open from now on",
                    self._open_count, self._open_count // 2)
        self._max_fds = self._open_count // 2
        self.close()
        try:
            return _open(dir_fd, name, path)
        except OSError as error:
            raise _classify(error, path) from error

    def end_scrape(self) -> None:
        """Close the descriptors of cgroups that the scrape now ending did not read."""
        for cgroup in [c for c in self._cgroups if c not in self._seen]:
            self._close(cgroup)
        self._seen = set()

    def close(self) -> None:
        """Close every descriptor."""
        for cgroup in list(self._cgroups):
            self._close(cgroup)

    def open_count(self) -> int:
        """Return the number of descriptors held."""
        return self._open_count

    def _close(self, cgroup: str) -> None:
        entry = self._cgroups.pop(cgroup)
        for fd in entry.fds.values():
            os.close(fd)
        self._open_count -= len(entry.fds)


def _read_all(fd: int, path: str) -> bytes:
    first = os.pread(fd, _READ_CHUNK, 0)
    # A short read is the whole file: kernfs and regular files return all
    # they have up to the requested size. This saves a syscall per file.
    if len(first) < _READ_CHUNK:
        return first
    chunks = [first]
    size = len(first)
    while True:
        chunk = os.pread(fd, _READ_CHUNK, size)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_FILE_BYTES:
            raise CgroupFileError(path, REASON_TOO_LARGE, f"larger than {MAX_FILE_BYTES} bytes")
        chunks.append(chunk)


def _classify(error: OSError, path: str) -> CgroupFileError:
    if error.errno in (errno.EACCES, errno.EPERM):
        return CgroupFileError(path, REASON_PERMISSION, f"permission denied ({error.strerror})")
    if error.errno == errno.ELOOP:
        return CgroupFileError(path, REASON_SYMLINK, "is a symlink; symlinks are never followed")
    return CgroupFileError(path, REASON_IO, f"read failed: {error.strerror or error}")


@dataclass(frozen=True)
class WalkEntry:
    """One cgroup directory during a walk; ``dir_fd`` is valid only until the walk moves on."""

    path: str
    depth: int
    dir_fd: int
    inode: int


ErrorSink = Callable[[CgroupFileError], None]


def walk(root_fd: int, max_depth: int | None, on_error: ErrorSink) -> Iterator[WalkEntry]:
    """Yield the cgroup directories below ``root_fd`` in sorted pre-order.

    The root itself is yielded first as ``/``. A parent is always yielded
    before its children, which the OOM accounting relies on. Directories are
    opened with ``O_NOFOLLOW`` relative to their parent, so symlinked
    directories are skipped. A directory that vanishes is skipped silently;
    any other failure to list or enter one is passed to ``on_error``.
    """
    yield from _walk_dir(root_fd, "/", os.fstat(root_fd).st_ino, 0, max_depth, on_error)


def _walk_dir(dir_fd: int, path: str, inode: int, depth: int, max_depth: int | None,
              on_error: ErrorSink) -> Iterator[WalkEntry]:
    yield WalkEntry(path, depth, dir_fd, inode)
    if max_depth is not None and depth >= max_depth:
        return
    try:
        with os.scandir(dir_fd) as entries:
            children = sorted((entry.name, entry.inode()) for entry in entries if entry.is_dir(follow_symlinks=False))
    except OSError as error:
        if error.errno not in _VANISHED_ERRNOS:
            on_error(_classify(error, path))
        return
    prefix = path if path.endswith("/") else path + "/"
    for name, child_inode in children:
        child_path = prefix + name
        try:
            child_fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        except OSError as error:
            # ENOTDIR: replaced by a symlink or file since the listing.
            if error.errno not in _VANISHED_ERRNOS and error.errno not in (errno.ENOTDIR, errno.ELOOP):
                on_error(_classify(error, child_path))
            continue
        try:
            yield from _walk_dir(child_fd, child_path, child_inode, depth + 1, max_depth, on_error)
        finally:
            os.close(child_fd)
