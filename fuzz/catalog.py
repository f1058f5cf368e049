"""Fuzz reading and validating a YAML catalog from arbitrary bytes.

Usage: ``python3 -m fuzz.catalog CORPUS_DIR [libFuzzer flags]``.

The input is written to a file named obsgen.yaml and loaded as ``obsgen build`` loads it: read,
decoded, parsed, validated and mapped to the model. The result must be a Catalog, or a
CatalogError whose problems each name that file with a line and column of at least 1, and whose
message has one ``FILE:LINE:COL: `` line per problem. Any other exception is a crash.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Iterator

from fuzz import harness
from fuzz.harness import require

with harness.instrumented_imports("obsgen"):
    from obsgen.catalog import load
    from obsgen.catalog.model import Catalog
    from obsgen.errors import CatalogError

CATALOG_NAME = "obsgen.yaml"
SEED_DIRS = (harness.REPO / "tests" / "bad_catalogs", harness.REPO / "examples")


def check_error(error: CatalogError, path: str) -> None:
    """Check that every problem of ``error`` is located in ``path`` and shown on a line of its own."""
    require(bool(error.problems), "CatalogError without problems")
    for problem in error.problems:
        require(problem.file == path, f"problem names {problem.file!r}, expected {path!r}: {problem}")
        require(problem.line >= 1 and problem.column >= 1, f"problem has no position: {problem}")
    lines = str(error).split("\n")
    require(len(lines) == len(error.problems),
            f"{len(error.problems)} problems shown on {len(lines)} lines: {str(error)!r}")
    location = re.compile(re.escape(path) + r":[1-9][0-9]*:[1-9][0-9]*: ")
    for line in lines:
        require(location.match(line) is not None, f"message line without FILE:LINE:COL: {line!r}")


def check_catalog(data: bytes) -> None:
    """Write ``data`` as a catalog in a scratch directory, load it and check the outcome."""
    with tempfile.TemporaryDirectory(prefix="obsgen-fuzz-catalog-") as directory:
        path = os.path.join(directory, CATALOG_NAME)
        with open(path, "wb") as handle:
            handle.write(data)
        try:
            catalog = load(path)
        except CatalogError as error:
            check_error(error, path)
            return
    require(isinstance(catalog, Catalog), f"load returned {type(catalog).__name__}, expected Catalog")


def seeds() -> Iterator[bytes]:
    """Yield the repository's YAML catalogs: the rejected cases and the examples."""
    for directory in SEED_DIRS:
        for path in sorted(directory.rglob("*.yaml")):
            yield path.read_bytes()


def main(argv: list[str]) -> None:
    """Fuzz the catalog loader."""
    harness.fuzz(argv, check_catalog, seeds)


if __name__ == "__main__":
    main(sys.argv)
