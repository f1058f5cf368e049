"""Property-based tests: every valid catalog builds rules that promtool loads, the same bytes
every time and in every process, whatever the order of its services and teams.

Example counts are bounded for CI; OBSGEN_HYPOTHESIS_EXAMPLES changes them (benchmarks/robustness.py
runs a larger version).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog_strategies import catalogs
from obsgen.catalog.loader import load_yaml
from obsgen.catalog.validation import to_model
from obsgen.generate import generate
from support_tree import obsgen_env

PROMTOOL = shutil.which("promtool")
EXAMPLES = int(os.environ.get("OBSGEN_HYPOTHESIS_EXAMPLES", "100"))
PROPERTY_SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def build_text(text: str) -> dict[str, bytes]:
    """Load, validate and generate a catalog given as YAML text; fail on any catalog problem."""
    return generate(to_model(load_yaml(text, "generated.yaml")))


def dump(catalog: dict[str, Any]) -> str:
    return yaml.safe_dump(catalog, allow_unicode=True, sort_keys=False)


def collect_catalogs() -> list[str]:
    """Run hypothesis and return the YAML text of every valid catalog it drew.

    Each example is one catalog, so hypothesis can draw it within its data budget; the checks
    that need a child process (promtool, other hash seeds) then run once over all of them.
    """
    texts: list[str] = []

    @PROPERTY_SETTINGS
    @given(catalog=catalogs())
    def draw(catalog: dict[str, Any]) -> None:
        text = dump(catalog)
        build_text(text)  # every drawn catalog must be valid
        texts.append(text)

    draw()
    return texts


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")
def test_generated_rules_load_in_promtool(tmp_path: Path) -> None:
    texts = collect_catalogs()
    assert len(texts) >= EXAMPLES
    paths = []
    for index, text in enumerate(texts):
        (tmp_path / f"catalog-{index}.yaml").write_text(text, encoding="utf-8")
        for relative, content in build_text(text).items():
            path = tmp_path / str(index) / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            # Only Prometheus rule files go to promtool; dashboards and other formats are checked elsewhere.
            if relative.startswith("alerts/") and relative.endswith(".rules.yaml"):
                paths.append(str(path))
    result = subprocess.run([PROMTOOL, "check", "rules", *paths], capture_output=True, text=True)
    # On failure, the catalog-N.yaml beside the failing N/ folder reproduces it.
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


@PROPERTY_SETTINGS
@given(catalog=catalogs(), data=st.data())
def test_build_ignores_order(catalog: dict[str, Any], data: st.DataObject) -> None:
    expected = build_text(dump(catalog))
    shuffled = dict(catalog)
    shuffled["services"] = data.draw(st.permutations(catalog["services"]), label="services")
    shuffled["teams"] = data.draw(st.permutations(catalog["teams"]), label="teams")
    keys = data.draw(st.permutations(list(shuffled)), label="keys")
    reordered = {key: shuffled[key] for key in keys}
    assert build_text(dump(reordered)) == expected


# Builds each catalog file named on the command line and prints the SHA-256 of every output file.
_DIGESTS = """
import hashlib, json, sys
from obsgen.catalog import load
from obsgen.generate import generate
print(json.dumps([{path: hashlib.sha256(content).hexdigest() for path, content in generate(load(name)).items()}
                  for name in sys.argv[1:]]))
"""


def _digests_in_process(files: list[Path], hash_seed: str) -> list[dict[str, str]]:
    result = subprocess.run([sys.executable, "-c", _DIGESTS, *map(str, files)], capture_output=True, text=True,
                            env=obsgen_env({"PYTHONHASHSEED": hash_seed}), timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_build_same_bytes_in_every_process(tmp_path: Path) -> None:
    files = []
    for index, text in enumerate(collect_catalogs()):
        path = tmp_path / f"catalog-{index}.yaml"
        path.write_text(text, encoding="utf-8")
        files.append(path)
    in_this_process = [{path: hashlib.sha256(content).hexdigest()
                        for path, content in build_text(file.read_text(encoding="utf-8")).items()} for file in files]
    assert _digests_in_process(files, "1") == in_this_process
    assert _digests_in_process(files, "2") == in_this_process
