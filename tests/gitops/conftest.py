"""Fixtures of the GitOps output tests: the example catalog built in every format."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import EXAMPLE, build_with_dashboards, write_files

from obsgen import catalog as catalog_package
from obsgen.catalog.model import Catalog
from obsgen.generate import generate


@pytest.fixture(scope="session")
def example() -> Catalog:
    return catalog_package.load(str(EXAMPLE))


@pytest.fixture(scope="session")
def example_files(example: Catalog) -> dict[str, bytes]:
    """Every output of the example catalog, with dashboards (sample ones when none are generated)."""
    return build_with_dashboards(example)


@pytest.fixture(scope="session")
def example_tree(example_files: dict[str, bytes], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_files(tmp_path_factory.mktemp("example"), example_files)


@pytest.fixture(scope="session")
def built(example: Catalog) -> dict[str, bytes]:
    """What `obsgen build` writes for the example, exactly."""
    return generate(example)
