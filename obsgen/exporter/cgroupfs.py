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
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

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
    return bool(word) and word.isascii() and all(c.islower() or c.isdigit() or c == "_" for c in word)


def _u64_field(raw: str, path: str, line: str, number: int | None = None) -> int:
    where = f"line {number}: " if number is not None else ""
    if not (raw.isascii() and raw.isdigit()):
        raise CgroupFileError(path, REASON_PARSE, f"{where}expected an unsigned integer, got {line!r}")
    value = int(raw)
    if value > U64_MAX:
        raise CgroupFileError(path, REASON_PARSE, f"{where}value {raw} exceeds 2^64-1")
    return value


def read_text(dir_fd: int, name: str, path: str) -> str | None:
    """Read file ``name`` of the directory open as ``dir_fd``.

    Return None when the file does not exist (a kernel without it). Raise
    :class:`CgroupVanished` when the cgroup was removed mid-read and
    :class:`CgroupFileError` for anything else, ``path`` naming the file.
    """
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError as error:
        if error.errno in _ABSENT_ERRNOS:
            return None
        raise _classify(error, path) from error
    try:
        data = _read_all(fd, path)
    except OSError as error:
        if error.errno in _VANISHED_ERRNOS:
            raise CgroupVanished(path) from error
        if error.errno == errno.EOPNOTSUPP:
            return None
        raise _classify(error, path) from error
    finally:
        os.close(fd)
    try:
        return data.decode("ascii")
    except UnicodeDecodeError as error:
        raise CgroupFileError(path, REASON_PARSE, f"not ASCII text at byte {error.start}") from error


def _read_all(fd: int, path: str) -> bytes:
    chunks = []
    size = 0
    while True:
        chunk = os.read(fd, _READ_CHUNK)
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


ErrorSink = Callable[[CgroupFileError], None]


def walk(root_fd: int, max_depth: int | None, on_error: ErrorSink) -> Iterator[WalkEntry]:
    """Yield the cgroup directories below ``root_fd`` in sorted pre-order.

    The root itself is yielded first as ``/``. A parent is always yielded
    before its children, which the OOM accounting relies on. Directories are
    opened with ``O_NOFOLLOW`` relative to their parent, so symlinked
    directories are skipped. A directory that vanishes is skipped silently;
    any other failure to list or enter one is passed to ``on_error``.
    """
    yield from _walk_dir(root_fd, "/", 0, max_depth, on_error)


def _walk_dir(dir_fd: int, path: str, depth: int, max_depth: int | None, on_error: ErrorSink) -> Iterator[WalkEntry]:
    yield WalkEntry(path, depth, dir_fd)
    if max_depth is not None and depth >= max_depth:
        return
    try:
        with os.scandir(dir_fd) as entries:
            names = sorted(entry.name for entry in entries if entry.is_dir(follow_symlinks=False))
    except OSError as error:
        if error.errno not in _VANISHED_ERRNOS:
            on_error(_classify(error, path))
        return
    prefix = path if path.endswith("/") else path + "/"
    for name in names:
        child_path = prefix + name
        try:
            child_fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        except OSError as error:
            # ENOTDIR: replaced by a symlink or file since the listing.
            if error.errno not in _VANISHED_ERRNOS and error.errno not in (errno.ENOTDIR, errno.ELOOP):
                on_error(_classify(error, child_path))
            continue
        try:
            yield from _walk_dir(child_fd, child_path, depth + 1, max_depth, on_error)
        finally:
            os.close(child_fd)
