"""Fixtures of the end-to-end test: it boots the same VM as the real-kernel exporter tests."""

from tests.vm.conftest import vm_available  # noqa: F401 (a fixture, used by name)
