"""``obsgen build``: generate rules and dashboards from a catalog."""

from __future__ import annotations

import os

import click

from obsgen.catalog.model import FLEET_SERVICE
from obsgen.catalog.spec import OUTPUT_FORMATS
from obsgen.catalog.validation import output_of
from obsgen.cli.common import ext_str_option, load_catalog, resolve_catalog_path
from obsgen.errors import BuildError, OutputError
from obsgen.generate import build_outputs
from obsgen.outputs.common import FORMAT_FOLDERS
from obsgen.outputs.warnings import output_warnings
from obsgen.writers.output import compare, write_tree


@click.command("build")
@click.argument("catalog", required=False, type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", default=".", show_default=True, type=click.Path(file_okay=False),
              help="Folder that receives alerts/ and the other outputs.")
@click.option("--check", is_flag=True,
              help="Write nothing; exit 1 and list the files that differ from what the catalog generates.")
@click.option("--format", "formats", multiple=True, type=click.Choice(OUTPUT_FORMATS), metavar="FORMAT",
              help=f"Output format to write ({', '.join(OUTPUT_FORMATS)}); repeat for several. "
                   f"Default: output.formats of the catalog.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, metavar="N",
              help="Processes that build dashboards in parallel, at most the CPUs this process may use "
                   "(also the default). Each process gets at least 50 services.")
@ext_str_option
def build_command(catalog: str | None, out_dir: str, check: bool, formats: tuple[str, ...],
                  jobs: int | None, ext_vars: dict[str, str]) -> None:
    """Generate Prometheus rules (and other outputs) from CATALOG (default: ./obsgen.yaml).

    CATALOG is YAML, or jsonnet when it ends in .jsonnet or .libsonnet.
    """
    path = resolve_catalog_path(catalog)
    model = load_catalog(path, ext_vars)
    chosen = tuple(name for name in OUTPUT_FORMATS if name in formats) or output_of(model).formats
    try:
        cpus = _usable_cpus()
        files, summary = build_outputs(model, chosen, min(jobs or cpus, cpus))
    except BuildError as error:
        raise click.ClickException(str(error)) from None
    for warning in output_warnings(model, chosen):
        click.echo(f"obsgen: warning: {warning}", err=True)

    # With --format, only the chosen formats' folders are touched; the other outputs stay as they are.
    scope = {FORMAT_FOLDERS[name] for name in chosen} if formats else None
    if check:
        differences = compare(out_dir, files, scope)
        for difference in differences:
            click.echo(f"{difference.reason}: {difference.path}")
        if differences:
            format_options = "".join(f" --format {name}" for name in chosen) if formats else ""
            click.echo(f"obsgen: {len(differences)} file(s) in {out_dir} differ from {path}; "
                       f"run `obsgen build {path} --out {out_dir}{format_options}`", err=True)
            raise SystemExit(1)
        click.echo(f"{out_dir}: up to date with {path} ({len(files)} files)")
        return

    try:
        removed = write_tree(out_dir, files, scope)
    except (OSError, OutputError) as error:
        raise click.ClickException(f"cannot write to {out_dir}: {error}") from None
    written = f"wrote {summary.files} {'file' if summary.files == 1 else 'files'} to {out_dir}"
    if "rules" in chosen:
        total = sum(summary.alerts_by_service.values())
        click.echo(f"{written}: {summary.rule_groups} rule groups, {total} alerts")
        for line in alert_lines(summary.alerts_by_service):
            click.echo(f"  {line}")
    else:
        click.echo(written)
    for path_removed in removed:
        click.echo(f"  removed {path_removed} (no longer generated)")


def _usable_cpus() -> int:
    # sched_getaffinity honours taskset and container CPU sets; macOS lacks it.
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


#: Up to this many services, the summary lists each one; above it, services are grouped by count.
MAX_LISTED_SERVICES = 20


def alert_lines(alerts_by_service: dict[str, int]) -> list[str]:
    """Return the summary lines of alerts per service, grouped by alert count for large catalogs.

    The fleet-wide entry, which covers the containers no service claims, gets a line of its own.
    """
    services = {name: count for name, count in alerts_by_service.items() if name != FLEET_SERVICE}
    lines = []
    if len(services) <= MAX_LISTED_SERVICES:
        lines += [f"{service}: {count} alerts" for service, count in sorted(services.items())]
    else:
        by_count: dict[int, list[str]] = {}
        for service, count in sorted(services.items()):
            by_count.setdefault(count, []).append(service)
        for count, names in sorted(by_count.items()):
            shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            noun = "service" if len(names) == 1 else "services"
            lines.append(f"{count} alerts each: {len(names)} {noun} ({shown})")
    if FLEET_SERVICE in alerts_by_service:
        lines.append(f"{FLEET_SERVICE} (containers no service claims): {alerts_by_service[FLEET_SERVICE]} alerts")
    return lines
