"""Pieces the commands share: finding and loading the catalog, and reporting its errors."""

from __future__ import annotations

import os

import click

from obsgen import catalog as catalog_package
from obsgen.catalog.model import Catalog
from obsgen.errors import CatalogError

DEFAULT_CATALOG = "obsgen.yaml"


class CatalogInvalid(click.ClickException):
    """An invalid catalog: click prints the problems and exits with status 2."""

    exit_code = 2

    def show(self, file=None) -> None:  # type: ignore[no-untyped-def]
        click.echo(self.format_message(), err=True)


def resolve_catalog_path(path: str | None) -> str:
    """Return the catalog to read; without one, ``obsgen.yaml`` in the current folder."""
    if path:
        return path
    if not os.path.exists(DEFAULT_CATALOG):
        raise click.UsageError(f"no catalog given and no {DEFAULT_CATALOG} in {os.getcwd()}; "
                               f"pass a catalog path, for example examples/online-boutique/obsgen.yaml")
    click.echo(f"obsgen: reading {DEFAULT_CATALOG} in the current folder", err=True)
    return DEFAULT_CATALOG


def _parse_ext_vars(context: click.Context, parameter: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    ext_vars = {}
    for value in values:
        name, equals, text = value.partition("=")
        if not equals or not name:
            raise click.BadParameter(f"expected NAME=VALUE, got {value!r}")
        ext_vars[name] = text
    return ext_vars


#: ``--ext-str NAME=VALUE`` (repeatable): external variables of a jsonnet catalog, read with std.extVar.
ext_str_option = click.option("--ext-str", "ext_vars", multiple=True, callback=_parse_ext_vars, metavar="NAME=VALUE",
                              help="Set a jsonnet external variable (std.extVar) for a .jsonnet catalog; "
                                   "repeat for several.")


def load_catalog(path: str, ext_vars: dict[str, str] | None = None) -> Catalog:
    """Load and validate a catalog; print every problem and exit 2 when it is invalid."""
    try:
        return catalog_package.load(path, ext_vars)
    except CatalogError as error:
        count = len(error.problems)
        noun = "problem" if count == 1 else "problems"
        raise CatalogInvalid(f"{error}\nobsgen: {path} is invalid ({count} {noun}); nothing was written") from None
