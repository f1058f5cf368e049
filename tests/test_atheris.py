"""Bounded runs of the atheris fuzz targets under fuzz/, and checks that a crash is reported.

Each target runs for a fixed number of inputs with a fixed libFuzzer seed, in a subprocess
because libFuzzer ends the process when it finishes. The long runs and their results are in
docs/reliability.md. atheris is in the test extra, so a missing atheris fails these tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from obsgen.exporter import cgroupfs
from obsgen.exporter.collector import CollectorOptions, MemoryCollector
from tests.exporter.helpers import write_cgroup, write_root

REPO = Path(__file__).resolve().parents[1]
# Inputs per target: a few seconds each on a 2-core x86_64 machine (the scrape target reaches
# about 60 inputs a second, the catalog target about 200, the parser targets thousands).
PARSER_RUNS = 3000
SCRAPE_RUNS = 600
CATALOG_RUNS = 1000
# Enough for libFuzzer to make a negative number for the planted bug below: with libFuzzer seeds
# 1 to 8, seven runs found one within 20,000 inputs. A run stops at the first failure.
PLANTED_RUNS = 100_000
TIMEOUT_S = 300


def run_target(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``python3 -m ARGS`` with this checkout first on the import path and scratch files in ``cwd``."""
    scratch = cwd / "tmp"
    scratch.mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "TMPDIR": str(scratch)}
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT_S)


def fuzz_args(tmp_path: Path, runs: int) -> list[str]:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    return [str(corpus), f"-runs={runs}", "-seed=1", f"-artifact_prefix={tmp_path}/"]


def listed(module: str) -> list[str]:
    with tempfile.TemporaryDirectory() as directory:
        result = run_target([module, "--list"], Path(directory))
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


PARSED_FILES = listed("fuzz.cgroup_files")


def test_targets_cover_collector_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The parser table of the fuzz targets lists exactly the files that a scrape reads."""
    read = set()
    original = cgroupfs.FileCache.read

    def spy(self, dir_fd, cgroup, inode, name, path):
        read.add(name)
        return original(self, dir_fd, cgroup, inode, name, path)

    monkeypatch.setattr(cgroupfs.FileCache, "read", spy)
    root = write_root(tmp_path / "root")
    write_cgroup(root / "app.slice")
    collector = MemoryCollector(CollectorOptions(root=str(root), pod_log_dir=None, container_log_dir=None))
    collector.render_text()
    collector.close()
    assert sorted(PARSED_FILES) == sorted(read)
    assert sorted(listed("fuzz.scrape")) == sorted(read)


@pytest.mark.parametrize("file", PARSED_FILES)
def test_parser_target_bounded(file: str, tmp_path: Path) -> None:
    result = run_target(["fuzz.cgroup_files", file, *fuzz_args(tmp_path, PARSER_RUNS)], tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    assert f"Done {PARSER_RUNS} runs" in result.stderr


def test_scrape_target_bounded(tmp_path: Path) -> None:
    result = run_target(["fuzz.scrape", *fuzz_args(tmp_path, SCRAPE_RUNS)], tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    assert f"Done {SCRAPE_RUNS} runs" in result.stderr
    assert not list((tmp_path / "tmp").glob("obsgen-fuzz-scrape-*"))


def test_catalog_target_bounded(tmp_path: Path) -> None:
    result = run_target(["fuzz.catalog", *fuzz_args(tmp_path, CATALOG_RUNS)], tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    assert f"Done {CATALOG_RUNS} runs" in result.stderr


# A memory.current parser with a planted bug: int() also accepts negative numbers, which no
# seed holds, so the fuzzer has to make one.
PLANTED = '''
import sys
import atheris
from obsgen.exporter.cgroupfs import REASON_PARSE, U64_MAX, CgroupFileError
from fuzz import cgroup_files


@atheris.instrument_func
def parse_with_int(text, path):
    try:
        value = int(text)
    except ValueError:
        raise CgroupFileError(path, REASON_PARSE, "not an integer") from None
    if value > U64_MAX:
        raise CgroupFileError(path, REASON_PARSE, "too large")
    return value


cgroup_files.main(sys.argv, {"memory.current": cgroup_files.FileParser(parse_with_int, cgroup_files.KIND_U64)})
'''


def test_planted_parser_bug_reported(tmp_path: Path) -> None:
    """A parser that breaks the contract makes the target fail and write the input that shows it."""
    (tmp_path / "planted.py").write_text(PLANTED)
    result = run_target(["planted", "memory.current", *fuzz_args(tmp_path, PLANTED_RUNS)], tmp_path)
    # atheris prints the Python traceback on stdout and libFuzzer's report on stderr.
    assert result.returncode != 0
    assert "PropertyViolation: memory.current: -" in result.stdout
    assert "is not an unsigned 64-bit integer" in result.stdout
    assert "ERROR: libFuzzer: fuzz target exited" in result.stderr
    crashes = sorted(tmp_path.glob("crash-*"))
    assert len(crashes) == 1

    # The written input reproduces the failure, and the real parser handles it.
    again = run_target(["planted", "memory.current", str(crashes[0])], tmp_path)
    assert again.returncode != 0
    assert "PropertyViolation: memory.current: -" in again.stdout
    real = run_target(["fuzz.cgroup_files", "memory.current", str(crashes[0])], tmp_path)
    assert real.returncode == 0, real.stderr[-4000:]


def test_target_without_corpus_rejected(tmp_path: Path) -> None:
    result = run_target(["fuzz.scrape"], tmp_path)
    assert result.returncode != 0
    assert "usage:" in result.stderr
