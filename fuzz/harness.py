"""Start-up shared by the atheris targets: seed corpus, libFuzzer arguments and property checks.

Every target runs as ``python3 -m fuzz.NAME [TARGET ARGS] CORPUS_DIR [libFuzzer flags]``. The
first directory argument is the corpus: seeds are written into it before fuzzing starts, and
libFuzzer adds the inputs that reach new coverage there. Given files instead of a directory,
libFuzzer runs only those inputs, which is how a crash file is reproduced.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import atheris

REPO = Path(__file__).resolve().parents[1]
# Captured cgroup v2 trees that CI checks out beside the repository; seeds use them when present.
SHARED_DIR = Path(os.environ.get("OBSGEN_SHARED_DIR", REPO.parent / "shared"))
SHARED_CGROUP_FIXTURES = SHARED_DIR / "fixtures" / "cgroup2"
LOCAL_CGROUP_FIXTURES = REPO / "tests" / "exporter" / "fixtures"


class PropertyViolation(AssertionError):
    """A target's input broke the contract that the target checks; libFuzzer reports it as a crash."""


def require(condition: bool, message: str) -> None:
    """Raise PropertyViolation with ``message`` unless ``condition`` is true (unlike assert, also under -O)."""
    if not condition:
        raise PropertyViolation(message)


def instrumented_imports(*packages: str) -> atheris.import_hook.HookManager:
    """Return a context manager under which imports of ``packages`` report coverage to libFuzzer.

    It also turns on atheris' ``str`` hook, which reports the prefixes and suffixes passed to
    ``startswith`` and ``endswith`` so that libFuzzer can try them. The RegEx hook stays off:
    in atheris 3.0.0 its pattern proxy drops the ``pos`` argument of ``Pattern.match``, which
    the catalog validation uses, so hooked code would fail where real code does not.
    """
    atheris.enabled_hooks.add("str")
    return atheris.instrument_imports(include=list(packages))


def cgroup_fixture_roots() -> list[Path]:
    """Return the cgroup v2 trees to take seeds from: the repository's own, then the captured ones."""
    roots = sorted(path for path in LOCAL_CGROUP_FIXTURES.iterdir() if path.is_dir())
    if SHARED_CGROUP_FIXTURES.is_dir():
        roots += sorted(path for path in SHARED_CGROUP_FIXTURES.iterdir() if path.is_dir())
    return roots


def write_seeds(corpus: Path, seeds: Iterable[bytes]) -> int:
    """Write each seed into ``corpus`` named by its SHA-1, as libFuzzer names inputs; return the count."""
    corpus.mkdir(parents=True, exist_ok=True)
    names = set()
    for seed in seeds:
        name = hashlib.sha1(seed).hexdigest()
        names.add(name)
        path = corpus / name
        if not path.exists():
            path.write_bytes(seed)
    return len(names)


def fuzz(argv: list[str], test_one_input: Callable[[bytes], None], seeds: Callable[[], Iterable[bytes]]) -> None:
    """Seed the corpus directory named in ``argv`` and run libFuzzer on ``test_one_input``; never returns.

    ``argv`` is ``[program, libFuzzer flags and paths...]``. Exit with status 1 and a usage line
    when no corpus directory or input file is given.
    """
    paths = [arg for arg in argv[1:] if not arg.startswith("-")]
    if not paths:
        sys.exit(f"usage: {argv[0]} CORPUS_DIR|INPUT_FILE... [libFuzzer flags such as -runs=N or -max_total_time=S]")
    if os.path.isdir(paths[0]):
        count = write_seeds(Path(paths[0]), seeds())
        print(f"wrote {count} seeds into {paths[0]}", file=sys.stderr)
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()
