"""The build pipeline: from a catalog model to the bytes of every output file.

Each generator is a pure function from the catalog to ``{relative path: bytes}``; the CLI writes
the union. Later output formats add a generator here and need no change in the CLI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from obsgen.catalog.model import Catalog
from obsgen.dashboards import dashboard_files
from obsgen.rules import build_rule_files
from obsgen.writers.rules_yaml import render_rule_file

Generator = Callable[[Catalog], dict[str, bytes]]


@dataclass
class Summary:
    """What a build produced, for the one-screen report the CLI prints."""

    files: int = 0
    rule_groups: int = 0
    alerts_by_service: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def rule_files(catalog: Catalog) -> dict[str, bytes]:
    return {rule_file.path: render_rule_file(rule_file.groups, catalog.name)
            for rule_file in build_rule_files(catalog)}


GENERATORS: list[Generator] = [rule_files, dashboard_files]


def generate(catalog: Catalog) -> dict[str, bytes]:
    """Return every output file of ``catalog``; two generators writing one path is a bug."""
    files: dict[str, bytes] = {}
    for generator in GENERATORS:
        for path, content in generator(catalog).items():
            if path in files:
                raise RuntimeError(f"two generators produce {path}")
            files[path] = content
    return files


def summarize(catalog: Catalog, files: dict[str, bytes]) -> Summary:
    """Count files, rule groups and alerts per service of a build."""
    summary = Summary(files=len(files))
    for rule_file in build_rule_files(catalog):
        summary.rule_groups += len(rule_file.groups)
        for group in rule_file.groups:
            for rule in group["rules"]:  # type: ignore[union-attr]
                if "alert" in rule:
                    service = rule["labels"]["obsgen_service"]
                    summary.alerts_by_service[service] = summary.alerts_by_service.get(service, 0) + 1
    return summary
