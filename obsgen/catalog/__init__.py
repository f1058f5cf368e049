"""The service catalog: its versioned spec, its internal model, and how one becomes the other."""

from __future__ import annotations

from obsgen.catalog.loader import read_catalog
from obsgen.catalog.model import Catalog
from obsgen.catalog.validation import to_model


def load(path: str, ext_vars: dict[str, str] | None = None) -> Catalog:
    """Read, validate and map the catalog at ``path``; raise CatalogError listing every problem."""
    return to_model(read_catalog(path, ext_vars))


__all__ = ["Catalog", "load"]
