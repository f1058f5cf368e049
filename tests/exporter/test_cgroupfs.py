"""Strict parsers and read-only, symlink-safe reads of cgroup files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from obsgen.exporter import cgroupfs
from obsgen.exporter.cgroupfs import CgroupFileError, U64_MAX


def test_parse_u64_plain_value():
    assert cgroupfs.parse_u64("134217728\n", "memory.max") == 134217728


def test_parse_u64_accepts_u64_max():
    assert cgroupfs.parse_u64(f"{U64_MAX}\n", "memory.current") == U64_MAX


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("\n", "empty"),
        (f"{U64_MAX + 1}\n", "exceeds 2^64-1"),
        ("-1\n", "unsigned integer"),
        ("12 34\n", "unsigned integer"),
        ("1\n2\n", "one line"),
        ("0x10\n", "unsigned integer"),
        ("max\n", "unsigned integer"),
    ],
)
def test_parse_u64_rejects_bad_values(text, message):
    with pytest.raises(CgroupFileError) as caught:
        cgroupfs.parse_u64(text, "/cg/memory.current")
    assert message in caught.value.detail
    assert caught.value.path == "/cg/memory.current"
    assert caught.value.reason == cgroupfs.REASON_PARSE


def test_parse_limit_max_means_no_limit():
    assert cgroupfs.parse_limit("max\n", "memory.max") is None


def test_parse_limit_number():
    assert cgroupfs.parse_limit("67108864\n", "memory.max") == 67108864


def test_parse_flat_keyed_keeps_unknown_keys():
    values = cgroupfs.parse_flat_keyed("anon 4096\nbrand_new_key 7\n", "memory.stat")
    assert values == {"anon": 4096, "brand_new_key": 7}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("anon 4096\nfile\n", "line 2: expected 'key value'"),
        ("anon 4096 12\n", "line 1: expected 'key value'"),
        ("Anon 1\n", "line 1: expected 'key value'"),
        ("anon -5\n", "line 1: expected an unsigned integer"),
        ("anon 1\nanon 2\n", "line 2: duplicate key 'anon'"),
        (f"anon {U64_MAX + 1}\n", "exceeds 2^64-1"),
        ("", "empty"),
    ],
)
def test_parse_flat_keyed_rejects_bad_lines(text, message):
    with pytest.raises(CgroupFileError) as caught:
        cgroupfs.parse_flat_keyed(text, "/cg/memory.stat")
    assert message in caught.value.detail


def test_parse_pressure_some_and_full():
    text = "some avg10=1.50 avg60=0.20 avg300=0.00 total=10260000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=5740000\n"
    totals = cgroupfs.parse_pressure(text, "memory.pressure")
    assert totals.some == 10260000
    assert totals.full == 5740000


def test_parse_pressure_without_full_line():
    totals = cgroupfs.parse_pressure("some avg10=0.00 avg60=0.00 avg300=0.00 total=12\n", "memory.pressure")
    assert totals.some == 12
    assert totals.full is None


@pytest.mark.parametrize(
    "text",
    [
        "some avg10=0.00 avg60=0.00 avg300=0.00\n",
        "partial avg10=0.00 total=1\n",
        "some avg10=0.00 total=1\nsome avg10=0.00 total=2\n",
        "some avg10 total=1\n",
        "full avg10=0.00 avg60=0.00 avg300=0.00 total=1\n",
    ],
)
def test_parse_pressure_rejects_bad_files(text):
    with pytest.raises(CgroupFileError):
        cgroupfs.parse_pressure(text, "memory.pressure")


@pytest.fixture
def cgroup_dir(tmp_path):
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    yield tmp_path, fd
    os.close(fd)


def test_read_text_missing_file_is_absent(cgroup_dir):
    path, fd = cgroup_dir
    assert cgroupfs.read_text(fd, "memory.peak", str(path / "memory.peak")) is None


def test_read_text_rejects_binary_junk(cgroup_dir):
    path, fd = cgroup_dir
    (path / "memory.current").write_bytes(b"\xff\xfe12\x00\n")
    with pytest.raises(CgroupFileError) as caught:
        cgroupfs.read_text(fd, "memory.current", str(path / "memory.current"))
    assert caught.value.reason == cgroupfs.REASON_PARSE
    assert "not ASCII" in caught.value.detail


def test_read_text_never_follows_symlink(cgroup_dir, tmp_path_factory):
    path, fd = cgroup_dir
    outside = tmp_path_factory.mktemp("outside") / "secret"
    outside.write_text("12345\n")
    (path / "memory.current").symlink_to(outside)
    with pytest.raises(CgroupFileError) as caught:
        cgroupfs.read_text(fd, "memory.current", str(path / "memory.current"))
    assert caught.value.reason == cgroupfs.REASON_SYMLINK


def test_read_text_unreadable_file_is_permission_error(cgroup_dir):
    if os.geteuid() == 0:
        pytest.skip("root reads files regardless of their mode")
    path, fd = cgroup_dir
    (path / "memory.stat").write_text("anon 1\n")
    (path / "memory.stat").chmod(0)
    with pytest.raises(CgroupFileError) as caught:
        cgroupfs.read_text(fd, "memory.stat", str(path / "memory.stat"))
    assert caught.value.reason == cgroupfs.REASON_PERMISSION


def test_read_text_rejects_oversized_file(cgroup_dir):
    path, fd = cgroup_dir
    (path / "memory.stat").write_bytes(b"a" * (cgroupfs.MAX_FILE_BYTES + 1))
    with pytest.raises(CgroupFileError) as caught:
        cgroupfs.read_text(fd, "memory.stat", str(path / "memory.stat"))
    assert caught.value.reason == cgroupfs.REASON_TOO_LARGE


def _walk_paths(root: Path, max_depth=None, errors=None):
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return [(entry.path, entry.depth) for entry in cgroupfs.walk(fd, max_depth, (errors or []).append)]
    finally:
        os.close(fd)


def test_walk_is_sorted_preorder(tmp_path):
    for sub in ("b/y", "a/z", "a/x", "b/x/deep"):
        (tmp_path / sub).mkdir(parents=True)
    assert [path for path, _ in _walk_paths(tmp_path)] == ["/", "/a", "/a/x", "/a/z", "/b", "/b/x", "/b/x/deep", "/b/y"]


def test_walk_respects_max_depth(tmp_path):
    (tmp_path / "a/b/c").mkdir(parents=True)
    assert _walk_paths(tmp_path, max_depth=2) == [("/", 0), ("/a", 1), ("/a/b", 2)]


def test_walk_skips_symlinked_directory_outside_root(tmp_path, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    (outside / "escaped").mkdir()
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(outside, target_is_directory=True)
    paths = [path for path, _ in _walk_paths(tmp_path)]
    assert paths == ["/", "/real"]


def _read_through_cache(cache, directory: Path, cgroup: str, name: str):
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return cache.read(fd, cgroup, os.fstat(fd).st_ino, name, str(directory / name))
    finally:
        os.close(fd)


def test_file_cache_rereads_changed_content(tmp_path):
    cache = cgroupfs.FileCache(max_fds=10)
    (tmp_path / "memory.current").write_text("4096\n")
    assert _read_through_cache(cache, tmp_path, "/a", "memory.current") == "4096\n"
    (tmp_path / "memory.current").write_text("8192\n")
    assert _read_through_cache(cache, tmp_path, "/a", "memory.current") == "8192\n"
    assert cache.open_count() == 1
    cache.close()
    assert cache.open_count() == 0


def test_file_cache_reopens_recreated_cgroup(tmp_path):
    cache = cgroupfs.FileCache(max_fds=10)
    first = tmp_path / "first"
    first.mkdir()
    (first / "memory.current").write_text("1\n")
    assert _read_through_cache(cache, first, "/a", "memory.current") == "1\n"
    # Same cgroup path, new directory: the old descriptor must not be read.
    shutil.rmtree(first)
    second = tmp_path / "second"
    second.mkdir()
    (second / "memory.current").write_text("2\n")
    assert _read_through_cache(cache, second, "/a", "memory.current") == "2\n"
    assert cache.open_count() == 1


def test_file_cache_closes_unseen_cgroups(tmp_path):
    cache = cgroupfs.FileCache(max_fds=10)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "memory.current").write_text("1\n")
        _read_through_cache(cache, tmp_path / name, "/" + name, "memory.current")
    cache.end_scrape()
    assert cache.open_count() == 2
    _read_through_cache(cache, tmp_path / "a", "/a", "memory.current")
    cache.end_scrape()
    assert cache.open_count() == 1


def test_file_cache_respects_descriptor_budget(tmp_path):
    cache = cgroupfs.FileCache(max_fds=2)
    for index in range(5):
        (tmp_path / f"f{index}").write_text(f"{index}\n")
        assert _read_through_cache(cache, tmp_path, "/a", f"f{index}") == f"{index}\n"
    assert cache.open_count() == 2


class _DescriptorLimit:
    """A descriptor limit a few above what the process has open; ``exhaust`` then uses all but one."""

    def __init__(self, headroom: int) -> None:
        self._headroom = headroom
        self._held: list[int] = []

    def __enter__(self) -> _DescriptorLimit:
        import resource

        self._soft, self._hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + self._headroom, self._hard))
        return self

    def exhaust(self) -> None:
        """Open descriptors until none is left, then free one (for the cgroup directory)."""
        while True:
            try:
                self._held.append(os.open(os.devnull, os.O_RDONLY))
            except OSError:
                break
        os.close(self._held.pop())

    def __exit__(self, *exc_info: object) -> None:
        import resource

        for fd in self._held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (self._soft, self._hard))


def test_file_cache_recovers_from_descriptor_exhaustion(tmp_path):
    """With the process out of descriptors, the cache frees its own and keeps reading."""
    for index in range(40):
        (tmp_path / f"f{index}").write_text(f"{index}\n")
    (tmp_path / "late").write_text("late\n")
    cache = cgroupfs.FileCache(max_fds=10000)
    try:
        with _DescriptorLimit(headroom=30) as limit:
            values = [_read_through_cache(cache, tmp_path, "/a", f"f{index}") for index in range(40)]
            # Then read a new file with no descriptor to spare: the cache must give its own back.
            limit.exhaust()
            late = _read_through_cache(cache, tmp_path, "/b", "late")
            kept = cache.open_count()
    finally:
        cache.close()
    assert values == [f"{index}\n" for index in range(40)]
    assert late == "late\n"
    assert kept <= 20  # it held up to 30 before and now keeps at most half


def test_file_cache_exhaustion_keeps_no_stray_descriptor(tmp_path):
    """Freeing descriptors while reading a cgroup already cached must not leave one outside the cache."""
    for index in range(40):
        (tmp_path / f"f{index}").write_text(f"{index}\n")
    (tmp_path / "late").write_text("late\n")
    cache = cgroupfs.FileCache(max_fds=10000)
    try:
        with _DescriptorLimit(headroom=30) as limit:
            for index in range(40):
                _read_through_cache(cache, tmp_path, "/a", f"f{index}")
            limit.exhaust()
            # The same cgroup as the cached files: the cache closes them all, then keeps the new one.
            late = _read_through_cache(cache, tmp_path, "/a", "late")
            kept = cache.open_count()
            open_before = len(os.listdir("/proc/self/fd"))
            cache.close()
            open_after = len(os.listdir("/proc/self/fd"))
    finally:
        cache.close()
    assert late == "late\n"
    assert open_before - open_after == kept
    assert cache.open_count() == 0
