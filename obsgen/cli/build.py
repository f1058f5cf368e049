"""``obsgen build``: generate rules and dashboards from a catalog."""

from __future__ import annotations

import click

from obsgen.catalog.spec import OUTPUT_FORMATS
from obsgen.catalog.validation import output_of
from obsgen.cli.common import ext_str_option, load_catalog, resolve_catalog_path
from obsgen.errors import OutputError
from obsgen.generate import build_outputs
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
@ext_str_option
def build_command(catalog: str | None, out_dir: str, check: bool, formats: tuple[str, ...],
                  ext_vars: dict[str, str]) -> None:
    """Generate Prometheus rules (and other outputs) from CATALOG (default: ./obsgen.yaml).

    CATALOG is YAML, or jsonnet when it ends in .jsonnet or .libsonnet.
    """
    path = resolve_catalog_path(catalog)
    model = load_catalog(path, ext_vars)
    chosen = tuple(name for name in OUTPUT_FORMATS if name in formats) or output_of(model).formats
    files, summary = build_outputs(model, chosen)
    for warning in output_warnings(model, chosen):
        click.echo(f"obsgen: warning: {warning}", err=True)

    if check:
        differences = compare(out_dir, files)
        for difference in differences:
            click.echo(f"{difference.reason}: {difference.path}")
        if differences:
            click.echo(f"obsgen: {len(differences)} file(s) in {out_dir} differ from {path}; "
                       f"run `obsgen build {path} --out {out_dir}`", err=True)
            raise SystemExit(1)
        click.echo(f"{out_dir}: up to date with {path} ({len(files)} files)")
        return

    try:
        removed = write_tree(out_dir, files)
    except (OSError, OutputError) as error:
        raise click.ClickException(f"cannot write to {out_dir}: {error}") from None
    click.echo(f"wrote {summary.files} files to {out_dir}: {summary.rule_groups} rule groups")
    for service, count in sorted(summary.alerts_by_service.items()):
        click.echo(f"  {service}: {count} alerts")
    for path_removed in removed:
        click.echo(f"  removed {path_removed} (no longer generated)")
