"""The Alertmanager configuration: accepted by amtool, routed per team, and free of secrets."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from .helpers import example_variant, run_obsgen

AMTOOL = "/usr/bin/amtool"
#: Alertmanager fields that hold a secret in the configuration itself; obsgen uses the *_file forms.
SECRET_FIELDS = {"api_url", "routing_key", "service_key", "auth_password", "auth_secret", "credentials",
                 "bearer_token", "password", "api_key", "token"}


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AMTOOL, *args], capture_output=True, text=True, timeout=60)


def route_receiver(config: Path, *labels: str) -> str:
    result = amtool("config", "routes", "test", f"--config.file={config}", *labels)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def keys(value: object) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {key for item in value.values() for key in keys(item)}
    if isinstance(value, list):
        return {key for item in value for key in keys(item)}
    return set()


@pytest.fixture(scope="module")
def config_path(example_tree: Path) -> Path:
    return example_tree / "alertmanager" / "alertmanager.yml"


def test_amtool_accepts_config(config_path: Path):
    result = amtool("check-config", str(config_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 receivers" in result.stdout


@pytest.mark.parametrize("severity", ["warning", "critical"])
def test_each_team_routes_to_its_receiver(example, config_path: Path, severity: str):
    for team in example.teams:
        receiver = route_receiver(config_path, "alertname=ContainerOOMKilled", f"team={team.name}",
                                  f"severity={severity}", "namespace=default", "pod=p-1")
        assert receiver == team.receiver, team.name


def test_unknown_team_goes_to_fleet_receiver(example, config_path: Path):
    fleet_receiver = example.team(example.fleet.team).receiver
    assert route_receiver(config_path, "alertname=ContainerOOMKilled", "team=unowned") == fleet_receiver


def test_critical_repeats_sooner(config_path: Path):
    route = yaml.safe_load(config_path.read_text())["route"]
    assert route["group_by"] == ["alertname", "namespace", "pod"]
    assert route["repeat_interval"] == "4h"
    for child in route["routes"]:
        critical = child.get("routes", [child])[0]
        assert critical["matchers"] == ['severity="critical"']
        assert critical["repeat_interval"] == "1h"


def test_inhibits_warning_during_critical(config_path: Path):
    rules = yaml.safe_load(config_path.read_text())["inhibit_rules"]
    assert rules == [{
        "source_matchers": ['alertname="ContainerMemoryNearLimit"', 'severity="critical"'],
        "target_matchers": ['alertname="ContainerMemoryNearLimit"', 'severity="warning"'],
        "equal": ["cluster", "namespace", "pod", "container"],
    }]


def test_config_holds_no_secrets(config_path: Path):
    document = yaml.safe_load(config_path.read_text())
    found = keys(document)
    assert not found & SECRET_FIELDS
    assert {"api_url_file", "routing_key_file", "auth_password_file"} <= found


def test_catalog_rejects_inline_secret(tmp_path: Path):
    catalog = example_variant(tmp_path, "api_url_file: /etc/alertmanager/secrets/storefront-slack-url",
                              "api_url: https://hooks.slack.com/services/T0/B0/secret")
    result = run_obsgen("build", str(catalog), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "output.alertmanager.receivers[0].slack.api_url: unknown key" in result.stderr
    assert "did you mean 'api_url_file'?" in result.stderr
    assert not (tmp_path / "out").exists()


def test_unconfigured_receiver_warns(tmp_path: Path):
    catalog = example_variant(tmp_path, "      - name: platform-pager\n", "")
    result = run_obsgen("build", str(catalog), "--out", str(tmp_path / "out"), "--format", "alertmanager")
    assert result.returncode == 0, result.stderr
    assert "receiver platform-pager is not listed under output.alertmanager.receivers" in result.stderr
    config = yaml.safe_load((tmp_path / "out" / "alertmanager" / "alertmanager.yml").read_text())
    assert {"name": "platform-pager"} in config["receivers"]


def test_misspelt_receiver_warning_suggests_name(tmp_path: Path):
    catalog = example_variant(tmp_path, "    receiver: platform-pager\n", "    receiver: platfrom-pager\n")
    result = run_obsgen("build", str(catalog), "--out", str(tmp_path / "out"), "--format", "alertmanager")
    assert result.returncode == 0, result.stderr
    assert "receiver platfrom-pager is not listed under output.alertmanager.receivers (did you mean platform-pager?)" \
        in result.stderr
