"""Build rules from a catalog and run them through the real ``promtool``.

Tests describe input series and expected alerts as plain data; this module writes the catalog,
the generated rule files and a promtool test file, runs ``promtool test rules`` and returns its
output, so that a failing test shows promtool's own explanation.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from obsgen.catalog import load
from obsgen.generate import generate
from obsgen.writers.output import write_tree


def build_rules(catalog_text: str, folder: Path) -> list[Path]:
    """Write ``catalog_text`` to ``folder``, build it there and return the rule files."""
    catalog_path = folder / "obsgen.yaml"
    catalog_path.write_text(catalog_text)
    out = folder / "out"
    write_tree(str(out), generate(load(str(catalog_path))))
    return sorted(out.glob("alerts/**/*.rules.yaml"))


def run_promtool_tests(rule_files: list[Path], tests: list[dict], folder: Path,
                       evaluation_interval: str = "1m") -> subprocess.CompletedProcess[str]:
    """Run ``promtool test rules`` on ``tests`` (promtool's test-case dicts) against ``rule_files``."""
    test_file = folder / "rules.test.yaml"
    test_file.write_text(yaml.safe_dump({
        "rule_files": [str(path) for path in rule_files],
        "evaluation_interval": evaluation_interval,
        "tests": tests,
    }, sort_keys=False))
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing; scripts/test.sh installs it"
    return subprocess.run([promtool, "test", "rules", str(test_file)], capture_output=True, text=True,
                          timeout=300)


def check_rules(rule_files: list[Path]) -> subprocess.CompletedProcess[str]:
    """Run ``promtool check rules`` on ``rule_files``."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing; scripts/test.sh installs it"
    return subprocess.run([promtool, "check", "rules", *map(str, rule_files)], capture_output=True, text=True,
                          timeout=300)
