"""Helpers of the GitOps output tests: paths, the obsgen CLI, free ports and sample dashboards."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from obsgen.catalog.model import Catalog
from obsgen.catalog.spec import OUTPUT_FORMATS
from obsgen.generate import PACKAGERS, generate
from obsgen.outputs.common import Generated, select
from tests.conftest import EXAMPLE, REPO


def run_obsgen(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """Run the obsgen CLI of this checkout in a child process."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-c", "from obsgen.cli import main; main()", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def example_variant(folder: Path, old: str, new: str) -> Path:
    """Write the example catalog with ``old`` replaced by ``new`` into ``folder`` and return its path."""
    text = EXAMPLE.read_text()
    assert old in text, f"the example catalog no longer contains {old!r}"
    catalog = folder / "obsgen.yaml"
    catalog.write_text(text.replace(old, new))
    return catalog


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def sample_dashboard(uid: str, title: str, datasource_uid: str) -> bytes:
    """Return a small Grafana dashboard with one Prometheus panel, as the dashboards output writes them."""
    panel = {"id": 1, "type": "timeseries", "title": "Working set",
             "datasource": {"type": "prometheus", "uid": datasource_uid},
             "targets": [{"refId": "A", "expr": "namespace_pod_container:obsgen_memory_working_set_bytes",
                          "datasource": {"type": "prometheus", "uid": datasource_uid}}]}
    dashboard = {"uid": uid, "title": title, "schemaVersion": 39, "panels": [panel]}
    return (json.dumps(dashboard, indent=2, sort_keys=True) + "\n").encode("utf-8")


def build_with_dashboards(model: Catalog, formats: tuple[str, ...] = OUTPUT_FORMATS) -> dict[str, bytes]:
    """Build ``model``, adding sample dashboards at the dashboards output's paths when it wrote none.

    The packaging formats read dashboards from the generated files. The samples let their tests
    cover ConfigMaps, folders and the mixin's dashboards even when no dashboards generator exists.
    """
    base = generate(model, ("rules", "dashboards"))
    if not any(path.startswith("dashboards/") for path in base):
        uid = model.defaults.datasource
        base["dashboards/obsgen-fleet.json"] = sample_dashboard("obsgen-fleet", "Fleet memory", uid)
        base["dashboards/obsgen-node.json"] = sample_dashboard("obsgen-node", "Node memory", uid)
        for service in model.services:
            base[f"dashboards/services/{service.name}.json"] = sample_dashboard(
                f"obsgen-{service.name}", f"{service.name} memory", service.settings.datasource)
    files = dict(base)
    generated = Generated.parse(base)
    for packager in PACKAGERS:
        files.update(packager.package(model, generated))
    return select(files, formats)


def write_files(root: Path, files: Mapping[str, bytes]) -> Path:
    """Write ``files`` under ``root`` and return it."""
    for path, content in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return root
