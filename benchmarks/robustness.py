"""Full-size runs of the robustness test families, printing the figures for docs/reliability.md.

CI runs each family in a bounded form (the tests under tests/). This script runs the same code
with larger counts and prints what it tried and how it ended:

    python benchmarks/robustness.py [--examples 1000] [--kills 100] [--only properties]

It needs promtool on PATH and hypothesis installed, like the tests.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests"), str(REPO)]

from support_tree import OBSGEN  # noqa: E402
from test_atomic_output import TWO_FOLDERS, Scenario, _kill_at_every_step  # noqa: E402
from test_bad_catalogs import CASE_FILES, _build_into_copy, _check_rejected, read_expectation  # noqa: E402


def bad_catalogs(work: Path) -> None:
    """Run every corpus case and count the clean rejections."""
    previous = work / "previous"
    subprocess.run([*OBSGEN, "build", str(REPO / "examples" / "online-boutique" / "obsgen.yaml"), "--out",
                    str(previous)], check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    (previous / "alerts" / "mine.rules.yaml").write_text("groups: []\n")
    started = time.monotonic()
    failures = []
    for index, case in enumerate(CASE_FILES):
        expectation = read_expectation(case)
        try:
            _check_rejected(case, expectation, _build_into_copy(case, expectation, previous, work / f"case-{index}"))
        except AssertionError as error:
            failures.append(f"{case.name}: {str(error).splitlines()[0]}")
    elapsed = time.monotonic() - started
    print(f"bad catalogs: {len(CASE_FILES)} tried, {len(CASE_FILES) - len(failures)} rejected cleanly "
          f"(exit 2, located message, no traceback, output untouched) in {elapsed:.1f} s")
    for failure in failures:
        print(f"  FAILED {failure}")


def kill_points(work: Path, kills: int) -> None:
    """Kill builds at every write step, then at random times, and count the states left behind."""
    for label, command, folders in (("one owned folder", OBSGEN, [None]),
                                    ("two owned folders", [sys.executable, "-c", TWO_FOLDERS],
                                     ["alerts", "extra-format"])):
        scenario = Scenario(work / label.replace(" ", "-"), command)
        started = time.monotonic()
        seen = _kill_at_every_step(scenario, work / f"steps-{label.replace(' ', '-')}", folders)
        print(f"kill at every step ({label}): {seen['steps']} steps, {seen.get('old', 0)} folder states old, "
              f"{seen.get('new', 0)} new, 0 mixed within a folder, {seen.get('across', 0)} kills left folders "
              f"old and new side by side; every rebuild repaired ({time.monotonic() - started:.1f} s)")

    scenario = Scenario(work / "random", OBSGEN)
    out = scenario.copy(work / "timing")
    started = time.monotonic()
    scenario.build_new(out).check_returncode()
    build_s = time.monotonic() - started
    states: dict[str, int] = {}
    generator = random.Random(7)
    for run in range(kills):
        out = scenario.copy(work / f"kill-{run}")
        process = scenario.start_new(out)
        time.sleep(generator.uniform(0, build_s * 1.2))
        process.send_signal(signal.SIGKILL)
        process.wait()
        state = scenario.state_of(out)
        states[state] = states.get(state, 0) + 1
    print(f"SIGKILL at random times: {kills} kills over 0-{build_s * 1.2:.2f} s (one build takes {build_s:.2f} s): "
          f"{states.get('old', 0)} old, {states.get('new', 0)} new, {states.get('mixed', 0)} mixed")


def properties(examples: int) -> None:
    """Run the hypothesis tests with ``examples`` catalogs per property and print the outcome."""
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "--hypothesis-show-statistics", str(REPO / "tests" / "test_properties.py")],
                            capture_output=True, text=True, cwd=REPO,
                            env={**os.environ, "OBSGEN_HYPOTHESIS_EXAMPLES": str(examples)})
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr
    print(f"hypothesis: {examples} catalogs per property (promtool check rules, reordering, two hash seeds): "
          f"{summary} ({time.monotonic() - started:.1f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000, help="hypothesis examples per property")
    parser.add_argument("--kills", type=int, default=100, help="builds killed with SIGKILL at random times")
    parser.add_argument("--only", choices=["bad", "kill", "properties"], help="run one family only")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="obsgen-robustness-") as work:
        if args.only in (None, "bad"):
            bad_catalogs(Path(work) / "bad")
        if args.only in (None, "kill"):
            kill_points(Path(work) / "kill", args.kills)
    if args.only in (None, "properties"):
        properties(args.examples)


if __name__ == "__main__":
    main()
