"""Grafana provisioning: every path it names exists where the compose stack mounts it, and every
datasource uid the dashboards reference is provisioned."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

import pytest
import yaml

from .helpers import REPO

COMPOSE = REPO / "compose" / "docker-compose.yml"


def grafana_mounts(root: Path) -> dict[PurePosixPath, Path]:
    """Return the compose Grafana service's bind mounts as {container path: host path under root}."""
    service = yaml.safe_load(COMPOSE.read_text())["services"]["grafana"]
    mounts = {}
    for volume in service["volumes"]:
        source, target = volume.split(":")[:2]
        relative = (COMPOSE.parent / source).resolve().relative_to(REPO)
        mounts[PurePosixPath(target)] = root / relative
    return mounts


def host_path(mounts: dict[PurePosixPath, Path], container_path: str) -> Path:
    path = PurePosixPath(container_path)
    for target, source in mounts.items():
        if path == target or target in path.parents:
            return source.joinpath(*path.relative_to(target).parts)
    raise AssertionError(f"{container_path} is not mounted into the Grafana container")


def dashboard_datasource_uids(value: object) -> set[str]:
    """Return every datasource uid a dashboard JSON references."""
    found = set()
    if isinstance(value, dict):
        datasource = value.get("datasource")
        if isinstance(datasource, dict) and isinstance(datasource.get("uid"), str):
            found.add(datasource["uid"])
        for item in value.values():
            found |= dashboard_datasource_uids(item)
    elif isinstance(value, list):
        for item in value:
            found |= dashboard_datasource_uids(item)
    return found


@pytest.fixture(scope="module")
def mounts(example_tree: Path) -> dict[PurePosixPath, Path]:
    return grafana_mounts(example_tree)


def test_provisioning_files_are_mounted(mounts):
    provisioning = host_path(mounts, "/etc/grafana/provisioning")
    assert (provisioning / "datasources" / "obsgen.yaml").is_file()
    assert (provisioning / "dashboards" / "obsgen.yaml").is_file()


def test_provider_path_holds_team_folders(example, mounts):
    provisioning = host_path(mounts, "/etc/grafana/provisioning")
    providers = yaml.safe_load((provisioning / "dashboards" / "obsgen.yaml").read_text())["providers"]
    assert len(providers) == 1
    options = providers[0]["options"]
    assert options["foldersFromFilesStructure"] is True
    folder = host_path(mounts, options["path"])
    assert folder.is_dir(), f"the provider reads {options['path']}, which maps to missing {folder}"

    dashboards = sorted(folder.rglob("*.json"))
    assert len(dashboards) == len(example.services) + 2
    folders = {path.parent.name for path in dashboards}
    assert folders == {team.name for team in example.teams} | {"obsgen"}
    for service in example.services:
        assert (folder / service.team / f"services-{service.name}.json").is_file(), service.name


def test_dashboards_reference_provisioned_datasource(example, mounts):
    provisioning = host_path(mounts, "/etc/grafana/provisioning")
    datasources = yaml.safe_load((provisioning / "datasources" / "obsgen.yaml").read_text())["datasources"]
    provisioned = {datasource["uid"] for datasource in datasources}
    assert provisioned == {example.defaults.datasource}
    folder = host_path(mounts, "/var/lib/grafana/dashboards/obsgen")
    for path in folder.rglob("*.json"):
        uids = dashboard_datasource_uids(json.loads(path.read_text()))
        # Template variables such as ${datasource} are resolved by Grafana, not provisioned.
        fixed = {uid for uid in uids if not uid.startswith("$")}
        assert fixed <= provisioned, path


def test_committed_provisioning_is_mounted():
    # The committed output at the repository root is what the compose stack really mounts.
    mounts = grafana_mounts(REPO)
    assert (host_path(mounts, "/etc/grafana/provisioning") / "dashboards" / "obsgen.yaml").is_file()
    assert (host_path(mounts, "/etc/grafana/provisioning") / "datasources" / "obsgen.yaml").is_file()
