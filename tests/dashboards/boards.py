"""The dashboards under test: those of the example catalog and of the test catalog beside this file."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from obsgen.catalog import load
from obsgen.catalog.model import Catalog
from obsgen.dashboards import dashboard_files

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE_CATALOG = os.path.join(ROOT, "examples", "online-boutique", "obsgen.yaml")
TEST_CATALOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "catalog.yaml")
#: Catalogs whose dashboards run against a real Prometheus.
CATALOGS = {"example": EXAMPLE_CATALOG, "test": TEST_CATALOG}
#: Catalogs whose dashboards are only checked for structure.
STRUCTURE_CATALOGS = {**CATALOGS, "exporter-only": os.path.join(os.path.dirname(TEST_CATALOG),
                                                                "catalog-exporter-only.yaml")}


@lru_cache(maxsize=None)
def catalog(key: str) -> Catalog:
    return load(STRUCTURE_CATALOGS[key])


@lru_cache(maxsize=None)
def files(key: str) -> dict[str, bytes]:
    return dashboard_files(catalog(key))


def board(key: str, path: str) -> dict[str, Any]:
    return json.loads(files(key)[path])


def board_ids() -> list[str]:
    """Return ``catalog:path`` of every dashboard of every catalog, for parametrize."""
    return [f"{key}:{path}" for key in STRUCTURE_CATALOGS for path in sorted(files(key))]


def load_board(board_id: str) -> dict[str, Any]:
    key, path = board_id.split(":", 1)
    return board(key, path)


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return list(dashboard["panels"])


def data_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the panels that show data (every panel but row headers)."""
    return [panel for panel in dashboard["panels"] if panel["type"] != "row"]


def targets(dashboard: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Yield ``(panel, target)`` for every query of every panel."""
    for panel in data_panels(dashboard):
        for target in panel.get("targets", []):
            yield panel, target


def fill(text: str, values: dict[str, str]) -> str:
    """Replace ``$name`` and ``${name}`` by the values, longest names first, as Grafana does."""
    for name in sorted(values, key=len, reverse=True):
        text = text.replace("${" + name + "}", values[name]).replace("$" + name, values[name])
    return text


def query_variables(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [variable for variable in dashboard["templating"]["list"] if variable["type"] == "query"]
