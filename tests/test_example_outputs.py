"""The committed outputs of the example catalog are what obsgen builds from it (golden files).

Refresh them after an intended change with ``OBSGEN_UPDATE_GOLDEN=1`` and review the diff.
"""

from __future__ import annotations

import os

from obsgen.catalog import load
from obsgen.generate import generate
from obsgen.writers.output import compare, write_tree
from tests.conftest import EXAMPLE, REPO, require_binary
from tests.support.promtool import check_rules


def test_committed_outputs_match_the_example():
    files = generate(load(str(EXAMPLE)))
    if os.environ.get("OBSGEN_UPDATE_GOLDEN") == "1":
        write_tree(str(REPO), files)
    differences = compare(str(REPO), files)
    assert differences == [], "run OBSGEN_UPDATE_GOLDEN=1 scripts/test.sh tests/test_example_outputs.py"


def test_example_rules_pass_promtool_check():
    require_binary("promtool")
    rule_files = sorted(REPO.glob("alerts/**/*.rules.yaml"))
    assert len(rule_files) == 14
    result = check_rules(rule_files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_catalog_reference_is_current():
    from obsgen.catalog.reference import render

    path = REPO / "docs" / "catalog.md"
    if os.environ.get("OBSGEN_UPDATE_GOLDEN") == "1":
        path.write_text(render())
    assert path.read_text() == render(), "run OBSGEN_UPDATE_GOLDEN=1 scripts/test.sh tests/test_example_outputs.py"
