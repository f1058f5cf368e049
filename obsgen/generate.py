"""The build pipeline: from a catalog model to the bytes of every output file.

Each generator is a pure function from the catalog to ``{relative path: bytes}``; the CLI writes
the union. Later output formats add a generator here and need no change in the CLI. Packagers
run after them: each also reads the files the generators produced (rules, dashboards) and
packages them for another tool. The chosen formats then decide which files are written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from obsgen.catalog.model import Catalog
from obsgen.catalog.validation import output_of
from obsgen.outputs import alertmanager, grafana, kubernetes, mixin, rulers
from obsgen.outputs.common import select
from obsgen.rules import build_rule_files
from obsgen.writers.rules_yaml import render_rule_file

Generator = Callable[[Catalog], dict[str, bytes]]
Packager = Callable[[Catalog, Mapping[str, bytes]], dict[str, bytes]]


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


GENERATORS: list[Generator] = [rule_files]

PACKAGERS: list[Packager] = [grafana.files, kubernetes.files, alertmanager.files, mixin.files,
                             rulers.thanos_files, rulers.mimir_files]


def generate(catalog: Catalog, formats: tuple[str, ...] | None = None) -> dict[str, bytes]:
    """Return the output files of ``catalog`` in ``formats`` (default: the catalog's ``output.formats``).

    Two generators or packagers writing one path is a bug and raises RuntimeError.
    """
    files: dict[str, bytes] = {}
    for generator in GENERATORS:
        _add(files, generator(catalog))
    base = dict(files)
    for packager in PACKAGERS:
        _add(files, packager(catalog, base))
    return select(files, formats or output_of(catalog).formats)


def _add(files: dict[str, bytes], new: Mapping[str, bytes]) -> None:
    for path, content in new.items():
        if path in files:
            raise RuntimeError(f"two generators produce {path}")
        files[path] = content


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
