"""``obsgen build --check`` accepts the example's committed output, dashboards included.

``tests/test_example_outputs.py`` refreshes the committed files (``OBSGEN_UPDATE_GOLDEN=1``);
this test runs the command that users and CI pipelines run.
"""

from __future__ import annotations

from click.testing import CliRunner

from obsgen.cli import cli
from obsgen.generate import generate
from tests.dashboards.boards import EXAMPLE_CATALOG, ROOT, catalog, files


def test_build_check_accepts_committed_dashboards() -> None:
    result = CliRunner().invoke(cli, ["build", EXAMPLE_CATALOG, "--out", ROOT, "--check"])
    assert result.exit_code == 0, result.output
    generated = generate(catalog("example"))
    assert set(files("example")) <= set(generated)
    assert f"({len(generated)} files)" in result.output
