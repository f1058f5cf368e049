"""The build pipeline: from a catalog model to the bytes of every output file.

Rule files and dashboards are built here directly. Packagers then package them for another tool
(Grafana provisioning, Kubernetes objects, a mixin, other rulers), each for one output format, and
read the built values rather than parsing the bytes again. Only the chosen formats are built,
with the rule files and dashboards that their packagers read. ``GENERATORS`` holds extra
generators, pure functions from the catalog to ``{relative path: bytes}``, which always run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field

from obsgen.catalog.model import Catalog
from obsgen.catalog.validation import output_of
from obsgen.dashboards.build import dashboard_files_started
from obsgen.outputs import alertmanager, grafana, kubernetes, mixin, rulers
from obsgen.outputs.common import RULES_FOLDER, Generated, RuleFileData, select
from obsgen.rules import RuleFile, build_rule_files
from obsgen.writers.rules_yaml import render_rule_file

Generator = Callable[[Catalog], dict[str, bytes]]


@dataclass(frozen=True)
class Packager:
    """An output format that packages the built rule files and dashboards for another tool."""

    format: str
    package: Callable[[Catalog, Generated], dict[str, bytes]]
    reads_dashboards: bool


@dataclass
class Summary:
    """Counts of a build's outputs, for the report the CLI prints."""

    files: int = 0
    rule_groups: int = 0
    alerts_by_service: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


#: Extra generators, run on every build; their files are kept when no format owns their folder.
GENERATORS: list[Generator] = []

#: Formats that package the rules and dashboards for Grafana, Kubernetes, Alertmanager and other rulers.
PACKAGERS: list[Packager] = [
    Packager("grafana", grafana.files, reads_dashboards=True),
    Packager("kubernetes", kubernetes.files, reads_dashboards=True),
    Packager("alertmanager", alertmanager.files, reads_dashboards=False),
    Packager("mixin", mixin.files, reads_dashboards=True),
    Packager("thanos", rulers.thanos_files, reads_dashboards=False),
    Packager("mimir", rulers.mimir_files, reads_dashboards=False),
]


def build_outputs(catalog: Catalog, formats: tuple[str, ...] | None = None,
                  jobs: int = 1) -> tuple[dict[str, bytes], Summary]:
    """Return the output files of ``catalog`` in ``formats`` and a summary of what they hold.

    ``formats`` defaults to the catalog's ``output.formats``. The rule files are always built,
    because the summary counts their alerts. ``jobs`` caps the processes that build dashboards.
    Two generators or packagers writing one path is a bug and raises RuntimeError.
    """
    formats = formats or output_of(catalog).formats
    packagers = [packager for packager in PACKAGERS if packager.format in formats]
    with ExitStack() as stack:
        finish_dashboards = None
        if "dashboards" in formats or any(packager.reads_dashboards for packager in packagers):
            # Worker processes build the dashboards while this one builds the rule files.
            finish_dashboards = stack.enter_context(dashboard_files_started(catalog, jobs))
        built = build_rule_files(catalog)
        # Packagers read the rule groups, not the rendered files, so render them only to write them.
        files = ({rule_file.path: render_rule_file(rule_file.groups, catalog.name) for rule_file in built}
                 if "rules" in formats else {})
        if finish_dashboards is not None:
            _add(files, finish_dashboards())
    for generator in GENERATORS:
        _add(files, generator(catalog))
    generated = Generated(dict(files), tuple(RuleFileData(rule_file.path[len(RULES_FOLDER):], rule_file.groups)
                                             for rule_file in built))
    for packager in packagers:
        _add(files, packager.package(catalog, generated))
    files = select(files, formats)
    return files, _summary(built, len(files))


def _summary(built: list[RuleFile], file_count: int) -> Summary:
    summary = Summary(files=file_count)
    for rule_file in built:
        summary.rule_groups += len(rule_file.groups)
        for group in rule_file.groups:
            for rule in group["rules"]:  # type: ignore[union-attr]
                if "alert" in rule:
                    service = rule["labels"]["obsgen_service"]
                    summary.alerts_by_service[service] = summary.alerts_by_service.get(service, 0) + 1
    return summary


def _add(files: dict[str, bytes], new: Mapping[str, bytes]) -> None:
    for path, content in new.items():
        if path in files:
            raise RuntimeError(f"two generators produce {path}")
        files[path] = content


def generate(catalog: Catalog, formats: tuple[str, ...] | None = None) -> dict[str, bytes]:
    """Return the output files of ``catalog`` in ``formats`` (default: the catalog's ``output.formats``)."""
    return build_outputs(catalog, formats)[0]
