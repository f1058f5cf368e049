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


def load_catalog(path: str, ext_vars: dict[str, str] | None = None) -> Catalog:
    """Load and validate a catalog; print every problem and exit 2 when it is invalid."""
    try:
        return catalog_package.load(path, ext_vars)
    except CatalogError as error:
        count = len(error.problems)
        noun = "problem" if count == 1 else "problems"
        raise CatalogInvalid(f"{error}\nobsgen: {path} is invalid ({count} {noun}); nothing was written") from None
