"""``obsgen validate``: check a catalog and write nothing."""

from __future__ import annotations

import click

from obsgen.cli.common import ext_str_option, load_catalog


@click.command("validate")
@click.argument("catalog", type=click.Path(dir_okay=False))
@ext_str_option
def validate_command(catalog: str, ext_vars: dict[str, str]) -> None:
    """Check CATALOG and report every problem in it; write nothing.

    Exits 0 when the catalog is valid and 2 when it is not.
    """
    model = load_catalog(catalog, ext_vars)
    click.echo(f"{catalog}: valid ({len(model.services)} services, {len(model.teams)} teams)")
