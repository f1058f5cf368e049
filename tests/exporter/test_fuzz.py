"""Fuzzing the exporter's cgroup file parsers and its read path: no exception escapes a scrape.

Parsers must return a value of the documented type or raise CgroupFileError for any text.
Whole scrapes run over a tree whose memory files hold random, truncated, oversized, binary or
malformed contents, and must render exposition text that prometheus_client parses, counting
each unusable file. OBSGEN_FUZZ_EXAMPLES raises the example counts (bounded for CI).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import CollectorRegistry

from obsgen.exporter import cgroupfs
from obsgen.exporter.cgroupfs import CgroupFileError
from obsgen.exporter.collector import STAT_ALL, CollectorOptions, MemoryCollector

from .helpers import MEMORY_STAT_61, PRESSURE, events_text, parse_exposition, write_cgroup, write_root

EXAMPLES = int(os.environ.get("OBSGEN_FUZZ_EXAMPLES", "200"))
FUZZ_SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

VALID = {
    "memory.current": "9437184\n",
    "memory.max": "max\n",
    "memory.stat": MEMORY_STAT_61,
    "memory.events": events_text(3),
    "memory.pressure": PRESSURE.format(some=1500, full=20),
}
PARSERS = {
    "memory.current": cgroupfs.parse_u64,
    "memory.max": cgroupfs.parse_limit,
    "memory.stat": cgroupfs.parse_flat_keyed,
    "memory.events": cgroupfs.parse_flat_keyed,
    "memory.pressure": cgroupfs.parse_pressure,
}


@st.composite
def damaged(draw: st.DrawFn, valid: str) -> str:
    """Draw a damaged version of ``valid``: truncated, spliced with junk, lines repeated or numbers grown."""
    kind = draw(st.sampled_from(["truncate", "splice", "repeat", "grow", "random"]))
    if kind == "truncate":
        return valid[:draw(st.integers(0, len(valid)))]
    if kind == "splice":
        at = draw(st.integers(0, len(valid)))
        return valid[:at] + draw(st.text(max_size=20)) + valid[at:]
    if kind == "repeat":
        lines = valid.splitlines(keepends=True)
        return "".join(lines + draw(st.lists(st.sampled_from(lines), max_size=3)))
    if kind == "grow":
        return valid.replace("0", draw(st.sampled_from(["9" * 25, "-1", "1e9", "0x10", " 0", "０"])), 1)
    return draw(st.text(max_size=200))


def _check_parser(name: str, text: str) -> None:
    try:
        value = PARSERS[name](text, name)
    except CgroupFileError as error:
        assert error.reason == cgroupfs.REASON_PARSE
        assert error.path == name
        return
    if name == "memory.current":
        assert isinstance(value, int) and 0 <= value < 2**64
    elif name == "memory.max":
        assert value is None or 0 <= value < 2**64
    elif name == "memory.pressure":
        assert value.some >= 0
    else:
        assert all(isinstance(v, int) and 0 <= v < 2**64 for v in value.values())


@pytest.mark.parametrize("name", sorted(PARSERS))
@FUZZ_SETTINGS
@given(data=st.data())
def test_parser_random_text(name: str, data: st.DataObject) -> None:
    _check_parser(name, data.draw(st.text(max_size=300)))


@pytest.mark.parametrize("name", sorted(PARSERS))
@FUZZ_SETTINGS
@given(data=st.data())
def test_parser_damaged_file(name: str, data: st.DataObject) -> None:
    _check_parser(name, data.draw(damaged(VALID[name])))


def _scrape(root: Path) -> str:
    registry = CollectorRegistry()
    collector = MemoryCollector(CollectorOptions(root=str(root), pod_log_dir=None, container_log_dir=None,
                                                 memory_stat=STAT_ALL), registry=registry)
    fast = collector.render_text().decode()
    slow = generate_latest(registry).decode()
    collector.close()
    assert parse_exposition(fast)
    assert parse_exposition(slow)
    return fast


@FUZZ_SETTINGS
@given(contents=st.dictionaries(st.sampled_from(sorted(VALID) + ["memory.peak", "memory.high", "memory.swap.current",
                                                                  "memory.events.local", "memory.swap.events"]),
                                st.binary(max_size=300), min_size=1))
def test_scrape_binary_files(contents: dict[str, bytes], tmp_path_factory: pytest.TempPathFactory) -> None:
    root = write_root(tmp_path_factory.mktemp("fuzz") / "root")
    cgroup = write_cgroup(root / "fuzzed.slice")
    for name, body in contents.items():
        (cgroup / name).write_bytes(body)
    _scrape(root)


def _errors(samples: dict) -> dict[tuple[str, str], float]:
    return {(dict(labels)["file"], dict(labels)["reason"]): value for (name, labels), value in samples.items()
            if name == "obsgen_exporter_errors_total"}


def test_scrape_oversized_file(tmp_path: Path) -> None:
    root = write_root(tmp_path / "root")
    cgroup = write_cgroup(root / "big.slice")
    (cgroup / "memory.stat").write_text("anon 1\n" * (cgroupfs.MAX_FILE_BYTES // 7 + 10))
    samples = parse_exposition(_scrape(root))
    assert _errors(samples) == {("memory.stat", "too_large"): 1.0}
    assert samples[("obsgen_memory_current_bytes", frozenset({("cgroup", "/big.slice"),
                                                              ("cgroup_kind", "slice")}))] == 9437184


def test_scrape_hostile_file_types(tmp_path: Path) -> None:
    """A FIFO, a folder and a symlink out of the tree in place of memory files are skipped and counted."""
    outside = tmp_path / "secret"
    outside.write_text("4242424242\n")
    root = write_root(tmp_path / "root")
    cgroup = write_cgroup(root / "odd.slice")
    (cgroup / "memory.current").unlink()
    os.mkfifo(cgroup / "memory.current")
    (cgroup / "memory.stat").unlink()
    (cgroup / "memory.stat").mkdir()
    (cgroup / "memory.max").unlink()
    (cgroup / "memory.max").symlink_to(outside)
    (root / "escape.slice").symlink_to(tmp_path, target_is_directory=True)
    text = _scrape(root)
    assert _errors(parse_exposition(text)) == {("memory.current", "io"): 1.0, ("memory.stat", "io"): 1.0,
                                               ("memory.max", "symlink"): 1.0}
    assert "escape.slice" not in text
    assert "4242424242" not in text
