"""Deployment files: Kubernetes manifests, PodMonitor, container image recipe and systemd unit."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import prometheus_client
import pytest
import yaml

from obsgen.exporter import cli

from .helpers import LOCAL_FIXTURES, REPO, SHARED_DIR

EXPORTERS = REPO / "exporters"
KUBERNETES = EXPORTERS / "kubernetes"
PODMONITOR_CRD = SHARED_DIR / "schemas" / "prometheus-operator" / "podmonitors.crd.yaml"


def load(name: str) -> dict:
    return yaml.safe_load((KUBERNETES / name).read_text())


@pytest.mark.parametrize("name", ["namespace.yaml", "daemonset.yaml", "service.yaml"])
def test_manifest_valid_for_kubernetes(name):
    import kubernetes_validate
    from kubernetes_validate.utils import latest_version

    kubernetes_validate.validate(load(name), latest_version(), strict=True)


def test_kustomization_lists_every_manifest():
    listed = set(load("kustomization.yaml")["resources"])
    present = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


def test_podmonitor_valid_against_operator_crd():
    import jsonschema

    if not PODMONITOR_CRD.exists():
        pytest.skip(f"prometheus-operator CRD not found at {PODMONITOR_CRD}")
    crd = yaml.safe_load(PODMONITOR_CRD.read_text())
    schema = next(v["schema"]["openAPIV3Schema"] for v in crd["spec"]["versions"] if v["name"] == "v1")
    podmonitor = load("podmonitor.yaml")
    jsonschema.validate(podmonitor, schema)
    endpoint = podmonitor["spec"]["podMetricsEndpoints"][0]
    assert endpoint["honorLabels"] is True
    assert endpoint["path"] == "/metrics"


def test_podmonitor_selects_daemonset_pods():
    daemonset = load("daemonset.yaml")
    podmonitor = load("podmonitor.yaml")
    pod_labels = daemonset["spec"]["template"]["metadata"]["labels"]
    assert podmonitor["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    ports = {p["name"] for p in daemonset["spec"]["template"]["spec"]["containers"][0]["ports"]}
    assert podmonitor["spec"]["podMetricsEndpoints"][0]["port"] in ports
    assert podmonitor["spec"]["namespaceSelector"]["matchNames"] == [daemonset["metadata"]["namespace"]]


def test_daemonset_is_read_only_and_unprivileged():
    spec = load("daemonset.yaml")["spec"]["template"]["spec"]
    container = spec["containers"][0]
    security = container["securityContext"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert spec["tolerations"] == [{"operator": "Exists"}]
    host_paths = {v["name"]: v["hostPath"]["path"] for v in spec["volumes"]}
    assert host_paths["cgroup"] == "/sys/fs/cgroup"
    assert all(mount["readOnly"] for mount in container["volumeMounts"])
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["limits"]["memory"]
    assert container["resources"]["requests"]["memory"]


def test_daemonset_environment_names_real_flags():
    env = {e["name"]: e["value"] for e in load("daemonset.yaml")["spec"]["template"]["spec"]["containers"][0]["env"]}
    parser = cli.build_parser()
    known = {cli._env_name(a.option_strings[0]) for a in parser._actions if a.option_strings and a.dest != "help"}
    assert set(env) <= known
    mounts = {m["mountPath"] for m in load("daemonset.yaml")["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}
    assert env["OBSGEN_EXPORTER_CGROUP_ROOT"] in mounts
    assert env["OBSGEN_EXPORTER_POD_LOG_DIR"] in mounts
    assert env["OBSGEN_EXPORTER_CONTAINER_LOG_DIR"] in mounts


def test_dockerfile_copies_only_the_exporter():
    text = (EXPORTERS / "Dockerfile").read_text()
    copies = [line.split()[1:] for line in text.splitlines() if line.startswith("COPY") and "--from" not in line]
    assert copies == [["obsgen/__init__.py", "/opt/obsgen/obsgen/__init__.py"],
                      ["obsgen/exporter/", "/opt/obsgen/obsgen/exporter/"]]
    assert len(re.findall(r"^FROM ", text, re.M)) == 2
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and not user[-1].startswith(("0", "root"))


def test_image_layout_runs_with_only_prometheus_client(tmp_path):
    """Run --once from a copy of what the image holds, with site-packages disabled."""
    site = tmp_path / "site"
    (site / "obsgen").mkdir(parents=True)
    shutil.copy(REPO / "obsgen" / "__init__.py", site / "obsgen" / "__init__.py")
    shutil.copytree(REPO / "obsgen" / "exporter", site / "obsgen" / "exporter")
    shutil.copytree(Path(prometheus_client.__file__).parent, site / "prometheus_client")
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['obsgen-exporter', '--once', '--cgroup-root', sys.argv[1]]\n"
        "try:\n"
        "    runpy.run_module('obsgen.exporter.cli', run_name='__main__')\n"
        "except SystemExit as done:\n"
        "    assert done.code == 0, done.code\n"
        "allowed = set(sys.stdlib_module_names) | {'obsgen', 'prometheus_client', '__main__'}\n"
        "extra = sorted({name.split('.')[0] for name in sys.modules} - allowed)\n"
        "print('EXTRA', extra, file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-S", "-c", probe, str(LOCAL_FIXTURES / "old-kernel")],
                            env={"PYTHONPATH": str(site)}, capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "obsgen_memory_current_bytes" in result.stdout
    assert "EXTRA []" in result.stderr


def test_obsgen_package_init_stays_trivial():
    source = (REPO / "obsgen" / "__init__.py").read_text()
    assert "import" not in source


def test_systemd_unit_verifies_and_is_hardened(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed")
    unit = (EXPORTERS / "systemd" / "obsgen-exporter.service").read_text()
    # verify needs an existing executable.
    unit = unit.replace("ExecStart=/usr/local/bin/obsgen-exporter", f"ExecStart={sys.executable}")
    path = tmp_path / "obsgen-exporter.service"
    path.write_text(unit)
    verify = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True, check=False)
    assert verify.returncode == 0, verify.stderr
    assert verify.stderr.strip() == "", verify.stderr
    security = subprocess.run([analyze, "security", "--offline=yes", str(path)], capture_output=True, text=True,
                              check=False)
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", security.stdout + security.stderr)
    assert match, security.stdout + security.stderr
    assert float(match.group(1)) <= 2.0
