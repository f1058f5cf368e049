"""The compose stack: docker-compose accepts it, and its Prometheus configuration finds the rules."""

from __future__ import annotations

import subprocess

import yaml

from .helpers import REPO

COMPOSE = REPO / "compose" / "docker-compose.yml"
PROMETHEUS_CONFIG = REPO / "compose" / "prometheus" / "prometheus.yml"
SERVICES = {"prometheus", "alertmanager", "grafana", "cadvisor", "node-exporter", "obsgen-exporter",
            "leaky-app", "oom-loop"}


def compose_config() -> dict:
    result = subprocess.run(["docker-compose", "-f", str(COMPOSE), "config"], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_docker_compose_accepts_stack():
    services = compose_config()["services"]
    assert set(services) == SERVICES


def test_demo_workloads_have_small_limits():
    services = compose_config()["services"]
    for name in ("leaky-app", "oom-loop"):
        limit = services[name]["mem_limit"]
        assert services[name]["memswap_limit"] == limit, "without swap the kernel kills instead of swapping"
        assert services[name]["restart"] == "always"


def test_ports_bind_loopback_only():
    for name, service in compose_config()["services"].items():
        for port in service.get("ports", []):
            host_ip = port.get("host_ip") if isinstance(port, dict) else str(port).split(":")[0]
            assert host_ip == "127.0.0.1", name


def test_exporter_built_from_repo_dockerfile():
    build = compose_config()["services"]["obsgen-exporter"]["build"]
    assert build["context"] == str(REPO)
    assert build["dockerfile"] == "exporters/Dockerfile"
    assert (REPO / build["dockerfile"]).is_file()


def test_promtool_accepts_prometheus_config():
    # promtool also loads every rule file the config names, so this checks the relative paths too.
    result = subprocess.run(["/usr/bin/promtool", "check", "config", str(PROMETHEUS_CONFIG)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    rule_files = len(list((REPO / "alerts").rglob("*.rules.yaml")))
    assert f"SUCCESS: {rule_files} rule files found" in result.stdout
