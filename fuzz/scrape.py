"""Fuzz whole exporter scrapes of a cgroup tree whose names and memory files come from the input.

Usage: ``python3 -m fuzz.scrape CORPUS_DIR [libFuzzer flags]``, or ``--list`` to print the files
that inputs fill.

An input is split at each 0xFF byte into segments (0xFF is never ASCII, so no file the collector
accepts needs it):

0. the cgroup's path below the root, split into directories at "/";
1. the name of one entry in the kubelet pod log directory;
2. the name of one entry in the kubelet container log directory;
3. onwards: the contents of the files in SCRAPED_FILES, in order; a file without a segment is
   absent.

Every scrape must succeed through both of the collector's outputs (``render_text`` and
``collect`` through a registry). Both must be UTF-8 text that prometheus_client's parser reads,
with the same series. Each file that the collector cannot use must be counted in
obsgen_exporter_errors_total.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from fuzz import harness
from fuzz.harness import require

with harness.instrumented_imports("obsgen"):
    from obsgen.exporter import cgroupfs
    from obsgen.exporter.cgroupfs import CgroupFileError
    from obsgen.exporter.collector import STAT_ALL, CollectorOptions, MemoryCollector

from fuzz.cgroup_files import FILES

from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

# The collector logs each unusable file once; thousands of inputs a second would bury libFuzzer's output.
logging.getLogger("obsgen.exporter").setLevel(logging.ERROR)

SEPARATOR = b"\xff"
SCRAPED_FILES = ("memory.current", "memory.stat", "memory.events", "memory.pressure", "memory.max", "memory.high",
                 "memory.peak", "memory.swap.current", "memory.events.local", "memory.swap.events", "memory.low",
                 "memory.min", "memory.swap.max")
# Linux rejects longer directory entry names with ENAMETOOLONG.
MAX_NAME_BYTES = 255
MAX_DEPTH = 6
DEFAULT_CGROUP = b"fuzz.slice"
# Series whose values differ between two scrapes of the same tree.
PER_SCRAPE_SERIES = ("obsgen_exporter_scrape_duration_seconds", "obsgen_exporter_errors_total")
ERRORS = "obsgen_exporter_errors_total"


def path_components(raw: bytes) -> list[bytes]:
    """Split ``raw`` into directory names that Linux accepts; an empty result becomes DEFAULT_CGROUP."""
    names = [name[:MAX_NAME_BYTES] for name in raw.replace(b"\0", b"").split(b"/")]
    names = [name for name in names if name not in (b"", b".", b"..")][:MAX_DEPTH]
    return names or [DEFAULT_CGROUP]


def entry_name(raw: bytes) -> bytes | None:
    """Return the first directory name in ``raw``, or None when it contains none."""
    names = [name for name in raw.replace(b"\0", b"").split(b"/") if name not in (b"", b".", b"..")]
    return names[0][:MAX_NAME_BYTES] if names else None


class Tree:
    """A scratch directory holding a cgroup root and the two kubelet log directories.

    It is removed on exit from the ``with`` block, so none is left behind when libFuzzer ends the
    process, which it does without returning to Python.
    """

    def __enter__(self) -> Tree:
        self.base = Path(tempfile.mkdtemp(prefix="obsgen-fuzz-scrape-"))
        self.root = self.base / "cgroup"
        self.pod_logs = self.base / "pods"
        self.container_logs = self.base / "containers"
        for directory in (self.root, self.pod_logs, self.container_logs):
            directory.mkdir()
        return self

    def __exit__(self, *exc_info: object) -> None:
        shutil.rmtree(self.base, ignore_errors=True)

    def build(self, data: bytes) -> tuple[bytes, dict[str, bytes]]:
        """Lay out the tree that ``data`` describes; return the cgroup's path and its files."""
        segments = data.split(SEPARATOR)
        components = path_components(segments[0])
        cgroup = os.path.join(bytes(self.root), *components)
        os.makedirs(cgroup)
        pod_entry = entry_name(segments[1]) if len(segments) > 1 else None
        if pod_entry is not None:
            os.mkdir(os.path.join(bytes(self.pod_logs), pod_entry))
        container_entry = entry_name(segments[2]) if len(segments) > 2 else None
        if container_entry is not None:
            with open(os.path.join(bytes(self.container_logs), container_entry), "wb"):
                pass
        files = dict(zip(SCRAPED_FILES, segments[3:]))
        for name, body in files.items():
            with open(os.path.join(cgroup, name.encode()), "wb") as handle:
                handle.write(body)
        return b"/" + b"/".join(components), files


def _series(text: str) -> tuple[set[tuple[str, frozenset[tuple[str, str]], float]], set[tuple[str, str]]]:
    """Parse exposition text; return its stable series and the (file, reason) pairs of its error counter."""
    series = set()
    errors = set()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == ERRORS:
                errors.add((sample.labels["file"], sample.labels["reason"]))
            if sample.name not in PER_SCRAPE_SERIES:
                # render_text writes integers exactly and prometheus_client's parser returns them as
                # int, while collect() goes through float. Prometheus stores float64 either way.
                series.add((sample.name, frozenset(sample.labels.items()), float(sample.value)))
    return series, errors


def _usable(name: str, body: bytes) -> bool:
    """Return whether the collector's parser accepts ``body`` as file ``name``."""
    try:
        FILES[name].parse(body.decode("ascii"), name)
    except (UnicodeDecodeError, CgroupFileError):
        return False
    return True


def _decode(output: bytes, source: str) -> str:
    try:
        return output.decode("utf-8")
    except UnicodeDecodeError as error:
        raise harness.PropertyViolation(f"{source} output is not UTF-8: {error}") from error


def check_scrape(data: bytes) -> None:
    """Scrape the tree built from ``data`` through both outputs and check them."""
    with Tree() as tree:
        cgroup, files = tree.build(data)
        fast, slow = _scrape_twice(tree)
    _check_outputs(cgroup, files, fast, slow)


def _scrape_twice(tree: Tree) -> tuple[str, str]:
    registry = CollectorRegistry()
    options = CollectorOptions(root=str(tree.root), pod_log_dir=str(tree.pod_logs),
                               container_log_dir=str(tree.container_logs), memory_stat=STAT_ALL)
    collector = MemoryCollector(options, registry=registry)
    try:
        fast = _decode(collector.render_text(), "render_text")
        slow = _decode(generate_latest(registry), "generate_latest")
    finally:
        collector.close()
    return fast, slow


def _check_outputs(cgroup: bytes, files: dict[str, bytes], fast: str, slow: str) -> None:
    fast_series, fast_errors = _series(fast)
    slow_series, slow_errors = _series(slow)
    require(fast_series == slow_series,
            f"cgroup {cgroup!r}: render_text and collect differ: only in render_text "
            f"{sorted(fast_series - slow_series)}, only in collect {sorted(slow_series - fast_series)}")
    require(fast_errors == slow_errors, f"error counters differ: {sorted(fast_errors)} and {sorted(slow_errors)}")
    if "memory.current" not in files:
        # Without memory.current the directory has no memory controller and no file is read.
        return
    for name, body in files.items():
        if not _usable(name, body):
            require((name, cgroupfs.REASON_PARSE) in fast_errors,
                    f"cgroup {cgroup!r}: unusable {name} {body[:80]!r} is not counted: {sorted(fast_errors)}")
    if _usable("memory.current", files["memory.current"]):
        current = cgroupfs.parse_u64(files["memory.current"].decode("ascii"), "memory.current")
        values = {value for name, _labels, value in fast_series if name == "obsgen_memory_current_bytes"}
        require(float(current) in values, f"cgroup {cgroup!r}: memory.current {current} not exported: {values}")


def _fixture_cgroups(root: Path) -> Iterator[Path]:
    for current in sorted(root.rglob("memory.current")):
        if current.parent != root:
            yield current.parent


def seed_input(cgroup: bytes, files: dict[str, bytes], pod_entry: bytes = b"", container_entry: bytes = b"") -> bytes:
    """Encode one scrape input in the segment format of this module."""
    bodies = []
    for name in SCRAPED_FILES:
        if name not in files:
            break
        bodies.append(files[name])
    return SEPARATOR.join([cgroup, pod_entry, container_entry, *bodies])


def seeds() -> Iterator[bytes]:
    """Yield one input per cgroup of the fixture trees, and one whose pod and container have names."""
    for root in harness.cgroup_fixture_roots():
        for directory in _fixture_cgroups(root):
            files = {name: (directory / name).read_bytes() for name in SCRAPED_FILES if (directory / name).is_file()}
            yield seed_input(str(directory.relative_to(root)).encode(), files)
    uid = "0b2e6a0c-41f5-4c52-9a4e-6f0d3c1b9e7a"
    container_id = "3f" * 32
    cgroup = (f"kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid.replace('-', '_')}.slice/"
              f"cri-containerd-{container_id}.scope")
    files = {"memory.current": b"4096\n", "memory.events": b"low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n"}
    yield seed_input(cgroup.encode(), files, f"shop_cart-7d9f_{uid}".encode(),
                     f"cart-7d9f_shop_server-{container_id}.log".encode())


def main(argv: list[str]) -> None:
    """Fuzz whole scrapes, or print SCRAPED_FILES given ``--list``."""
    if len(argv) > 1 and argv[1] == "--list":
        print("\n".join(SCRAPED_FILES))
        return
    harness.fuzz(argv, check_scrape, seeds)


if __name__ == "__main__":
    main(sys.argv)
