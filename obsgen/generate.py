"""The build pipeline: from a catalog model to the bytes of every output file.

Rule files are built here directly; every other output format is a generator, a pure function
from the catalog to ``{relative path: bytes}``, appended to ``GENERATORS``. The CLI writes the union.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from obsgen.catalog.model import Catalog
from obsgen.rules import build_rule_files
from obsgen.writers.rules_yaml import render_rule_file

Generator = Callable[[Catalog], dict[str, bytes]]


@dataclass
class Summary:
    """Counts of a build's outputs, for the report the CLI prints."""

    files: int = 0
    rule_groups: int = 0
    alerts_by_service: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


#: Every output format; rule files come first and are built in ``build_outputs`` itself.
GENERATORS: list[Generator] = []


def build_outputs(catalog: Catalog) -> tuple[dict[str, bytes], Summary]:
    """Return every output file of ``catalog`` and a summary of what they hold."""
    built = build_rule_files(catalog)
    files = {rule_file.path: render_rule_file(rule_file.groups, catalog.name) for rule_file in built}
    summary = Summary()
    for rule_file in built:
        summary.rule_groups += len(rule_file.groups)
        for group in rule_file.groups:
            for rule in group["rules"]:  # type: ignore[union-attr]
                if "alert" in rule:
                    service = rule["labels"]["obsgen_service"]
                    summary.alerts_by_service[service] = summary.alerts_by_service.get(service, 0) + 1
    for generator in GENERATORS:
        for path, content in generator(catalog).items():
            if path in files:
                raise RuntimeError(f"two generators produce {path}")
            files[path] = content
    summary.files = len(files)
    return files, summary


def generate(catalog: Catalog) -> dict[str, bytes]:
    """Return every output file of ``catalog``."""
    return build_outputs(catalog)[0]
