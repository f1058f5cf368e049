"""Shared pytest fixtures: paths of the repository and of the real binaries tests run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import settings

# CI draws the same examples on every run, so a red build always reproduces; developers' runs
# stay random and keep exploring.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "online-boutique" / "obsgen.yaml"
#: Material shared beside the repository in CI and on developers' machines (fixtures, corpora).
SHARED = Path(os.environ.get("OBSGEN_SHARED", REPO.parent / "shared"))


def require_binary(name: str) -> str:
    """Return the path of ``name`` or skip the test, naming the Debian package to install."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not found; run scripts/test.sh, which installs it")
    return path


@pytest.fixture
def promtool() -> str:
    return require_binary("promtool")
