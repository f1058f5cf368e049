"""The fleet-wide entry takes the catalog's defaults, and its own overrides on top of them."""

from __future__ import annotations

from pathlib import Path

from obsgen.catalog import load

CATALOG = """\
apiVersion: obsgen/v1
defaults:
  labels: {env: prod}
  leak: {max_drop: 0.03, horizon: 16h}
teams:
  - {name: platform, receiver: platform-pager}
fleet:
  team: platform
  overrides:
    leak: {horizon: 8h}
"""


def test_fleet_settings_inherit_catalog_defaults(tmp_path: Path) -> None:
    path = tmp_path / "obsgen.yaml"
    path.write_text(CATALOG)
    fleet = load(str(path)).fleet.settings

    assert fleet.labels == (("env", "prod"),)
    assert fleet.leak.max_drop == 0.03
    assert fleet.leak.horizon_s == 8 * 3600
