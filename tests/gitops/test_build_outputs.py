"""obsgen build with output formats: the committed example output, jsonnet catalogs, and the output section."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from .helpers import EXAMPLE, REPO, example_variant, run_obsgen

from obsgen.catalog.spec import OUTPUT_FORMATS
from obsgen.outputs.common import FORMAT_FOLDERS, select

JSONNET_EXAMPLE = EXAMPLE.with_suffix(".jsonnet")


def test_committed_output_has_every_format():
    for name, folder in FORMAT_FOLDERS.items():
        if name == "dashboards":
            continue  # written by the dashboards output, when present
        assert (REPO / folder).is_dir(), folder


def test_jsonnet_catalog_builds_same_output():
    result = run_obsgen("build", str(JSONNET_EXAMPLE.relative_to(REPO)), "--ext-str", "namespace=default",
                        "--out", ".", "--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_jsonnet_ext_str_changes_catalog(tmp_path: Path):
    result = run_obsgen("build", str(JSONNET_EXAMPLE), "--ext-str", "namespace=shop", "--out", str(tmp_path),
                        "--format", "rules")
    assert result.returncode == 0, result.stderr
    recording = yaml.safe_load((tmp_path / "alerts" / "obsgen-recording.rules.yaml").read_text())
    expressions = "\n".join(rule["expr"] for group in recording["groups"] for rule in group["rules"])
    assert 'namespace=~"shop"' in expressions
    assert 'namespace=~"default"' not in expressions


def test_jsonnet_missing_ext_str_is_reported(tmp_path: Path):
    result = run_obsgen("build", str(JSONNET_EXAMPLE), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "undefined external variable: namespace" in result.stderr
    assert "pass it with --ext-str namespace=VALUE" in result.stderr
    assert not (tmp_path / "out").exists()


def test_ext_str_needs_name_and_value(tmp_path: Path):
    result = run_obsgen("build", str(JSONNET_EXAMPLE), "--ext-str", "namespace", "--out", str(tmp_path))
    assert result.returncode == 2
    assert "expected NAME=VALUE" in result.stderr


def test_format_option_overrides_catalog(tmp_path: Path):
    result = run_obsgen("build", str(EXAMPLE), "--out", str(tmp_path), "--format", "thanos", "--format", "mimir")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [".obsgen-manifest", "mimir", "thanos"]


def test_select_keeps_unowned_folders():
    files = {"alerts/a.yaml": b"", "thanos/a.yaml": b"", "docs/x.md": b""}
    assert select(files, ("thanos",)) == {"thanos/a.yaml": b"", "docs/x.md": b""}


def test_every_format_has_a_folder():
    assert set(FORMAT_FOLDERS) == set(OUTPUT_FORMATS)


@pytest.mark.parametrize("old, new, expected", [
    ("formats: [rules, dashboards, grafana,", "formats: [helm, dashboards, grafana,",
     "output.formats[0]: unknown value (got 'helm')"),
    ("rule_labels: {release: kube-prometheus-stack}", "rule_labels: {release: kube prometheus}",
     "invalid Kubernetes label value"),
    ("namespace: monitoring", "namespace: Monitoring", "output.kubernetes.namespace: invalid name"),
    ("auth_password_file: /etc/alertmanager/secrets/smtp-password", "auth_password_file: secrets/smtp",
     "expected an absolute file path"),
])
def test_output_section_errors(tmp_path: Path, old: str, new: str, expected: str):
    catalog = example_variant(tmp_path, old, new)
    result = run_obsgen("validate", str(catalog))
    assert result.returncode == 2
    assert expected in result.stderr
    assert f"{catalog}:" in result.stderr


def test_default_receiver_must_exist(tmp_path: Path):
    catalog = example_variant(tmp_path, "  alertmanager:\n    receivers:",
                              "  alertmanager:\n    default_receiver: nobody\n    receivers:")
    result = run_obsgen("validate", str(catalog))
    assert result.returncode == 2
    assert "output.alertmanager.default_receiver: unknown receiver (got 'nobody')" in result.stderr


def test_build_warns_about_unprovisioned_datasource(tmp_path: Path):
    catalog = example_variant(tmp_path, "    overrides:\n      # A JVM sizes",
                              "    overrides:\n      datasource: other-prometheus\n      # A JVM sizes")
    result = run_obsgen("build", str(catalog), "--out", str(tmp_path / "out"), "--format", "grafana")
    assert result.returncode == 0, result.stderr
    assert "reference the datasource uid other-prometheus" in result.stderr
