"""Fixtures for tests that boot a real kernel under qemu (see harness.py)."""

from __future__ import annotations

import os

import pytest

from tests.vm import harness


@pytest.fixture(scope="session")
def vm_available() -> None:
    """Skip the test, naming the Debian package to install, when no VM can be booted here.

    With OBSGEN_REQUIRE_VM=1 (for CI, where the test command installs the packages) a missing
    package fails the test instead, so that a broken install cannot pass as skipped tests.
    """
    reason = harness.missing_requirement()
    if reason is None:
        return
    if os.environ.get("OBSGEN_REQUIRE_VM") == "1":
        pytest.fail(f"OBSGEN_REQUIRE_VM=1 but {reason}")
    pytest.skip(reason)
