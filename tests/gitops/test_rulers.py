"""Rule files for Prometheus, Thanos Ruler and Mimir: checked by promtool, and equal group for group."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import yaml

from obsgen.outputs.common import Generated, rule_files
from obsgen.outputs.rulers import mimir_files

PROMTOOL = "/usr/bin/promtool"


def promtool_check(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, "check", "rules", *map(str, paths)], capture_output=True, text=True, timeout=120)


def prometheus_groups(files: dict[str, bytes]) -> list[dict]:
    return [group for rule_file in rule_files(files) for group in rule_file.groups]


def test_promtool_accepts_rule_files(example_tree: Path):
    paths = sorted((example_tree / "alerts").rglob("*.yaml"))
    assert len(paths) >= 3
    result = promtool_check(paths)
    assert result.returncode == 0, result.stdout + result.stderr


def test_thanos_groups_add_partial_response(example_files: dict[str, bytes], tmp_path: Path):
    expected = {rule_file.name: rule_file.groups for rule_file in rule_files(example_files)}
    thanos = {path[len("thanos/"):]: yaml.safe_load(content)["groups"]
              for path, content in example_files.items() if path.startswith("thanos/")}
    assert sorted(thanos) == sorted(expected)

    stripped_paths = []
    for name, groups in thanos.items():
        for group in groups:
            assert group["partial_response_strategy"] == "abort"
        stripped = [{key: value for key, value in group.items() if key != "partial_response_strategy"}
                    for group in groups]
        assert stripped == expected[name]
        path = tmp_path / name.replace("/", "-")
        path.write_text(yaml.safe_dump({"groups": stripped}))
        stripped_paths.append(path)
    assert promtool_check(stripped_paths).returncode == 0


def test_promtool_rejects_thanos_key(example_tree: Path):
    # Documents why thanos/ is a separate output: Prometheus does not accept the Thanos group key.
    result = promtool_check([example_tree / "thanos" / "obsgen-recording.rules.yaml"])
    assert result.returncode != 0
    assert "partial_response_strategy" in result.stdout + result.stderr


def test_mimir_file_holds_every_group(example_files: dict[str, bytes], tmp_path: Path):
    document = yaml.safe_load(example_files["mimir/obsgen.rules.yaml"])
    assert document["namespace"] == "obsgen-online-boutique"
    groups = document["groups"]
    assert groups == prometheus_groups(example_files)
    names = [group["name"] for group in groups]
    assert len(names) == len(set(names)), "group names must be unique within a Mimir namespace"
    path = tmp_path / "mimir-groups.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}))
    assert promtool_check([path]).returncode == 0


def test_mimir_source_tenants(example, example_files):
    output = replace(example.output, mimir_source_tenants=("team-a", "team-b"), mimir_namespace="memory")
    files = mimir_files(replace(example, output=output), Generated.parse(example_files))
    document = yaml.safe_load(files["mimir/obsgen.rules.yaml"])
    assert document["namespace"] == "memory"
    for group in document["groups"]:
        assert group["source_tenants"] == ["team-a", "team-b"]
        assert list(group)[-1] == "rules"
