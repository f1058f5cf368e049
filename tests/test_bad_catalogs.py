"""Every catalog under tests/bad_catalogs, and a few generated here, is rejected cleanly.

Each case file states the error it must produce on its first line (``# expect: PATH: TEXT``,
``//`` for jsonnet) or in a sidecar ``NAME.expect`` file. A line ending in ``#<`` (``//<``) marks
where the error must point. The test runs a real ``obsgen build`` into a folder that contains an
earlier build and the user's own files, and checks: exit status 2, no traceback, a message
``FILE:LINE:COL: PATH: ...TEXT...``, and the folder unchanged down to inodes and mtimes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from support_tree import REPO, run_obsgen, snapshot

CASES = Path(__file__).resolve().parent / "bad_catalogs"
EXAMPLE = REPO / "examples" / "online-boutique" / "obsgen.yaml"


@dataclass(frozen=True)
class Expectation:
    key_path: str
    text: str
    line: int | None
    env: dict[str, str]


def read_expectation(case: Path) -> Expectation:
    """Read the expected error of a case file (see the module docstring)."""
    sidecar = case.with_name(case.name + ".expect")
    raw = case.read_bytes()
    if sidecar.exists():
        expected = sidecar.read_text(encoding="utf-8").strip()
        lines: list[str] = []
    else:
        lines = raw.decode("utf-8", "replace").split("\n")
        match = re.match(r"(?:#|//) expect: (.*)$", lines[0])
        assert match, f"{case.name}: the first line must be '# expect: PATH: TEXT'"
        expected = match.group(1)
    key_path, _, text = expected.partition(": ")
    marked = [number for number, line in enumerate(lines, 1) if line.rstrip().endswith(("#<", "//<"))]
    env = dict(re.findall(r"^// env: (\w+)=(\S+)$", "\n".join(lines[:3]), re.M))
    return Expectation(key_path, text, marked[0] if marked else None, env)


@pytest.fixture(scope="session")
def previous_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An output folder holding a build of the example plus files the user wrote."""
    out = tmp_path_factory.mktemp("previous") / "out"
    result = run_obsgen("build", str(EXAMPLE), "--out", str(out))
    assert result.returncode == 0, result.stderr
    (out / "alerts" / "team-extra.rules.yaml").write_text("groups: []\n")
    (out / "alerts" / "services" / "hand-written.rules.yaml").write_text("groups: []\n")
    (out / "README.md").write_text("the user's notes\n")
    return out


@dataclass(frozen=True)
class Outcome:
    result: subprocess.CompletedProcess[str]
    unchanged: bool


def _build_into_copy(catalog: Path, expectation: Expectation, previous: Path, out: Path) -> Outcome:
    """Copy the previous build to ``out``, run ``obsgen build CATALOG --out OUT`` and compare."""
    shutil.copytree(previous, out, symlinks=True)
    before = snapshot(out, identity=True)
    result = run_obsgen("build", str(catalog), "--out", str(out), env=expectation.env)
    return Outcome(result, snapshot(out, identity=True) == before)


def _check_rejected(catalog: Path, expectation: Expectation, outcome: Outcome) -> None:
    result = outcome.result
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    located = re.compile(rf"^{re.escape(str(catalog))}:(\d+):(\d+): {re.escape(expectation.key_path)}: .*"
                         rf"{re.escape(expectation.text)}", re.M)
    match = located.search(result.stderr)
    assert match, f"expected '{expectation.key_path}: ...{expectation.text}' in:\n{result.stderr}"
    line, column = int(match.group(1)), int(match.group(2))
    assert line >= 1
    assert column >= 1
    if expectation.line is not None:
        assert line == expectation.line, result.stderr
    assert outcome.unchanged, "the output folder changed"


CASE_FILES = sorted(path for path in CASES.iterdir() if path.suffix in (".yaml", ".jsonnet"))


def test_corpus_size() -> None:
    assert len(CASE_FILES) >= 100


@pytest.fixture(scope="session")
def corpus_outcomes(previous_build: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[Path, Outcome]:
    """Run every corpus case once, several at a time: each is a separate obsgen process."""
    work = tmp_path_factory.mktemp("corpus")

    def run(indexed: tuple[int, Path]) -> tuple[Path, Outcome]:
        index, case = indexed
        return case, _build_into_copy(case, read_expectation(case), previous_build, work / str(index))

    with ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 1)) as pool:
        return dict(pool.map(run, enumerate(CASE_FILES)))


@pytest.mark.parametrize("case", CASE_FILES, ids=lambda path: path.name)
def test_bad_catalog(case: Path, corpus_outcomes: dict[Path, Outcome]) -> None:
    _check_rejected(case, read_expectation(case), corpus_outcomes[case])


def _valid_services(count: int) -> str:
    lines = ["apiVersion: obsgen/v1", "teams:", "  - {name: web, receiver: web-pager}", "services:"]
    for index in range(count):
        lines.append(f"  - {{name: svc-{index}, team: web, selector: {{namespace: shop, workload: svc-{index}}}}}")
    return "\n".join(lines) + "\n"


def test_catalog_over_size_limit(previous_build: Path, tmp_path: Path) -> None:
    catalog = tmp_path / "huge.yaml"
    with catalog.open("w") as handle:
        handle.write(_valid_services(0))
        handle.write("# padding\n" * 900_000)  # about 9.9 MB, over the 8 MiB limit
    expectation = Expectation("<catalog>", "over the limit of", 1, {})
    _check_rejected(catalog, expectation, _build_into_copy(catalog, expectation, previous_build, tmp_path / "out"))


def test_large_catalog_error_at_end(previous_build: Path, tmp_path: Path) -> None:
    catalog = tmp_path / "large.yaml"
    count = 3000
    catalog.write_text(_valid_services(count) + "  - {name: Bad/Name, team: web, selector: {namespace: x}}\n")
    expectation = Expectation(f"services[{count}].name", "invalid name", count + 5, {})
    _check_rejected(catalog, expectation, _build_into_copy(catalog, expectation, previous_build, tmp_path / "out"))


def test_deep_nesting(previous_build: Path, tmp_path: Path) -> None:
    catalog = tmp_path / "deep.yaml"
    catalog.write_text("apiVersion: obsgen/v1\nteams: " + "[" * 20_000 + "]" * 20_000 + "\n")
    expectation = Expectation("<catalog>", "nested deeper than", 2, {})
    _check_rejected(catalog, expectation, _build_into_copy(catalog, expectation, previous_build, tmp_path / "out"))


def test_many_problems_all_reported(previous_build: Path, tmp_path: Path) -> None:
    catalog = tmp_path / "many.yaml"
    bad = [f"  - {{name: Bad{index}, team: web, selector: {{namespace: x}}}}" for index in range(50)]
    catalog.write_text(_valid_services(0) + "\n".join(bad) + "\n")
    outcome = _build_into_copy(catalog, Expectation("", "", None, {}), previous_build, tmp_path / "out")
    result = outcome.result
    assert result.returncode == 2
    assert outcome.unchanged
    for index in range(50):
        assert f"{catalog}:{index + 5}:" in result.stderr
        assert f"services[{index}].name: invalid name (got 'Bad{index}')" in result.stderr
    assert "is invalid (50 problems); nothing was written" in result.stderr
