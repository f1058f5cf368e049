"""The build pipeline: from a catalog model to the bytes of every output file.

Rule files are built here directly; every other output format is a generator, a pure function
from the catalog to ``{relative path: bytes}``, appended to ``GENERATORS``. Packagers run after
them: each also reads the files built so far (rules, dashboards) and packages them for another
tool. The chosen formats then decide which files the CLI writes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from obsgen.catalog.model import Catalog
from obsgen.catalog.validation import output_of
from obsgen.dashboards import dashboard_files
from obsgen.outputs import alertmanager, grafana, kubernetes, mixin, rulers
from obsgen.outputs.common import select
from obsgen.rules import build_rule_files
from obsgen.writers.rules_yaml import render_rule_file

Generator = Callable[[Catalog], dict[str, bytes]]
Packager = Callable[[Catalog, Mapping[str, bytes]], dict[str, bytes]]


@dataclass
class Summary:
    """Counts of a build's outputs, for the report the CLI prints."""

    files: int = 0
    rule_groups: int = 0
    alerts_by_service: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


#: Every output format; rule files come first and are built in ``build_outputs`` itself.
GENERATORS: list[Generator] = [dashboard_files]

#: Formats that package the rules and dashboards for Grafana, Kubernetes, Alertmanager and other rulers.
PACKAGERS: list[Packager] = [grafana.files, kubernetes.files, alertmanager.files, mixin.files,
                             rulers.thanos_files, rulers.mimir_files]


def build_outputs(catalog: Catalog, formats: tuple[str, ...] | None = None) -> tuple[dict[str, bytes], Summary]:
    """Return the output files of ``catalog`` in ``formats`` and a summary of what they hold.

    ``formats`` defaults to the catalog's ``output.formats``. Two generators or packagers
    writing one path is a bug and raises RuntimeError.
    """
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
        _add(files, generator(catalog))
    base = dict(files)
    for packager in PACKAGERS:
        _add(files, packager(catalog, base))
    files = select(files, formats or output_of(catalog).formats)
    summary.files = len(files)
    return files, summary


def _add(files: dict[str, bytes], new: Mapping[str, bytes]) -> None:
    for path, content in new.items():
        if path in files:
            raise RuntimeError(f"two generators produce {path}")
        files[path] = content


def generate(catalog: Catalog, formats: tuple[str, ...] | None = None) -> dict[str, bytes]:
    """Return the output files of ``catalog`` in ``formats`` (default: the catalog's ``output.formats``)."""
    return build_outputs(catalog, formats)[0]
