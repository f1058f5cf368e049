"""Errors that obsgen reports to its users.

Library code raises these and never prints; the CLI turns them into messages and exit codes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One located problem in a catalog.

    ``line`` and ``column`` are 1-based; 0 means the position is unknown.
    """

    file: str
    line: int
    column: int
    path: str
    message: str
    got: str | None = None
    fix: str | None = None

    def format(self) -> str:
        """Render as ``FILE:LINE:COL: path.to.key: problem (got VALUE); fix``."""
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        text = f"{where}: {self.path or '<catalog>'}: {self.message}"
        if self.got is not None:
            text += f" (got {self.got})"
        if self.fix:
            text += f"; {self.fix}"
        return text


class CatalogError(Exception):
    """A catalog that cannot be built; carries every problem found in it."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.column, p.path, p.message))
        super().__init__("\n".join(p.format() for p in self.problems))


class OutputError(Exception):
    """The output folder cannot be written as requested."""


class BuildError(Exception):
    """A build that failed for a reason outside the catalog, such as a worker process killed."""
