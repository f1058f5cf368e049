"""Kubernetes manifests: valid objects for the API server, the PrometheusRule CRD and the Grafana sidecar."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from tests.conftest import EXAMPLE, SHARED

from .helpers import example_variant, run_obsgen

from obsgen.outputs.common import rule_files

CRD = SHARED / "schemas" / "prometheus-operator" / "prometheusrules.crd.yaml"
KUBERNETES_VERSION = kubernetes_validate.latest_version()
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


def manifests(files: dict[str, bytes], kind: str) -> dict[str, dict]:
    found = {}
    for path, content in files.items():
        if path.startswith("kubernetes/") and path != "kubernetes/kustomization.yaml":
            document = yaml.safe_load(content)
            if document["kind"] == kind:
                found[path] = document
    return found


def python_patterns(schema: object) -> object:
    """Return ``schema`` with Go regular expressions made valid in Python.

    The CRD writes patterns such as ``^(?i)(abort|warn)?$``; Go accepts a flag group anywhere,
    Python only at the start, so the flag group moves to the front (same meaning).
    """
    if isinstance(schema, dict):
        result = {key: python_patterns(value) for key, value in schema.items()}
        pattern = schema.get("pattern")
        if isinstance(pattern, str) and pattern.startswith("^(?i)"):
            result["pattern"] = "(?i)^" + pattern[len("^(?i)"):]
        return result
    if isinstance(schema, list):
        return [python_patterns(item) for item in schema]
    return schema


@pytest.fixture(scope="module")
def prometheus_rule_schema() -> jsonschema.Draft7Validator:
    if not CRD.exists():
        pytest.skip(f"the prometheus-operator CRD is not at {CRD} (it sits beside the clone in CI)")
    crd = yaml.safe_load(CRD.read_text())
    versions = {version["name"]: version for version in crd["spec"]["versions"]}
    # Kubernetes structural schemas are OpenAPI v3 schemas, which a draft 7 validator reads.
    return jsonschema.Draft7Validator(python_patterns(versions["v1"]["schema"]["openAPIV3Schema"]))


def test_prometheus_rules_match_crd_schema(example_files, prometheus_rule_schema):
    rules = manifests(example_files, "PrometheusRule")
    assert len(rules) == len(rule_files(example_files))
    for path, document in rules.items():
        prometheus_rule_schema.validate(document)
        assert DNS_SUBDOMAIN.match(document["metadata"]["name"]), path


def test_crd_schema_rejects_bad_rule(example_files, prometheus_rule_schema):
    # The schema check must be able to fail: a rule with neither record nor alert name and a bad duration.
    document = next(iter(manifests(example_files, "PrometheusRule").values()))
    document = json.loads(json.dumps(document))
    document["spec"]["groups"][0]["rules"][0]["for"] = "five minutes"
    with pytest.raises(jsonschema.ValidationError):
        prometheus_rule_schema.validate(document)


def test_prometheus_rules_carry_groups_and_labels(example, example_files):
    rules = manifests(example_files, "PrometheusRule")
    groups = [group for document in sorted(rules.values(), key=lambda d: d["metadata"]["name"])
              for group in document["spec"]["groups"]]
    expected = [group for rule_file in rule_files(example_files) for group in rule_file.groups]
    assert sorted(g["name"] for g in groups) == sorted(g["name"] for g in expected)
    for document in rules.values():
        assert document["metadata"]["namespace"] == "monitoring"
        assert document["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_configmaps_pass_kubernetes_validate(example_files):
    configmaps = manifests(example_files, "ConfigMap")
    assert configmaps
    for path, document in configmaps.items():
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        assert DNS_SUBDOMAIN.match(document["metadata"]["name"]), path


def test_configmaps_hold_dashboards_for_sidecar(example, example_files):
    teams = {service.name: service.team for service in example.services}
    dashboards = {path: content for path, content in example_files.items()
                  if path.startswith("dashboards/") and path.endswith(".json")}
    configmaps = manifests(example_files, "ConfigMap")
    assert len(configmaps) == len(dashboards)
    by_key = {path.removeprefix("dashboards/").replace("/", "-"): path for path in dashboards}
    for document in configmaps.values():
        metadata = document["metadata"]
        assert metadata["labels"]["grafana_dashboard"] == "1"
        (key, text), = document["data"].items()
        path = by_key[key]
        assert text.encode("utf-8") == dashboards[path]
        if path.startswith("dashboards/services/"):
            expected_folder = teams[path.removeprefix("dashboards/services/").removesuffix(".json")]
        else:
            expected_folder = "obsgen"
        assert metadata["annotations"]["grafana_folder"] == expected_folder


def test_kustomization_lists_every_manifest(example_files):
    kustomization = yaml.safe_load(example_files["kubernetes/kustomization.yaml"])
    listed = {"kubernetes/" + path for path in kustomization["resources"]}
    present = {path for path in example_files if path.startswith("kubernetes/")} - {"kubernetes/kustomization.yaml"}
    assert listed == present


def test_build_warns_without_rule_labels(tmp_path: Path):
    catalog = example_variant(tmp_path, "    rule_labels: {release: kube-prometheus-stack}\n", "")
    result = run_obsgen("build", str(catalog), "--out", str(tmp_path / "out"), "--format", "kubernetes")
    assert result.returncode == 0, result.stderr
    assert "warning: output.kubernetes.rule_labels is empty" in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["kubernetes"]


def test_build_quiet_with_rule_labels(tmp_path: Path):
    result = run_obsgen("build", str(EXAMPLE), "--out", str(tmp_path), "--format", "kubernetes")
    assert result.returncode == 0, result.stderr
    assert "rule_labels" not in result.stderr
