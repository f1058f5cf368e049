"""The example catalog's committed output (dashboards/ and alerts/ at the repository root) is current.

Refresh after an intended change with ``OBSGEN_UPDATE_GOLDEN=1 python -m pytest tests/dashboards``.
"""

from __future__ import annotations

import os

from click.testing import CliRunner

from obsgen.cli import cli

from tests.dashboards.boards import EXAMPLE_CATALOG, ROOT, files


def test_example_output_matches_build_check() -> None:
    runner = CliRunner()
    if os.environ.get("OBSGEN_UPDATE_GOLDEN") == "1":
        written = runner.invoke(cli, ["build", EXAMPLE_CATALOG, "--out", ROOT])
        assert written.exit_code == 0, written.output
    result = runner.invoke(cli, ["build", EXAMPLE_CATALOG, "--out", ROOT, "--check"])
    assert result.exit_code == 0, result.output


def test_example_dashboards_committed() -> None:
    """Each dashboard of the example is on disk byte for byte, so a missing one names itself."""
    for path, content in sorted(files("example").items()):
        with open(os.path.join(ROOT, path), "rb") as handle:
            assert handle.read() == content, f"{path} differs; refresh with OBSGEN_UPDATE_GOLDEN=1"
