"""Shared fixtures of the exporter tests."""

from __future__ import annotations

import pytest

from .helpers import SHARED_CGROUP_FIXTURES


@pytest.fixture
def shared_fixtures():
    """The captured cgroup v2 trees beside the repository; skipped when that checkout is absent."""
    if not SHARED_CGROUP_FIXTURES.is_dir():
        pytest.skip(f"captured cgroup v2 fixtures not found at {SHARED_CGROUP_FIXTURES}")
    return SHARED_CGROUP_FIXTURES
