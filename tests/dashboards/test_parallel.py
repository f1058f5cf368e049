"""Dashboards built by worker processes: the same bytes, errors raised, no worker left behind."""

from __future__ import annotations

import multiprocessing
import os
import signal

import pytest

from obsgen.catalog import load
from obsgen.dashboards import build, dashboard_files, service
from obsgen.errors import BuildError
from obsgen.generate import build_outputs


@pytest.fixture(scope="module")
def many_services(tmp_path_factory):
    lines = ["apiVersion: obsgen/v1", "teams: [{name: web, receiver: web-pager}]", "services:"]
    lines += [f"  - {{name: svc-{index:03d}, team: web, selector: {{namespace: web, workload: svc-{index:03d}}}}}"
              for index in range(3 * build.MIN_SERVICES_PER_WORKER)]
    path = tmp_path_factory.mktemp("catalog") / "many.yaml"
    path.write_text("\n".join(lines) + "\n")
    return load(str(path))


def test_workers_give_same_bytes(many_services):
    serial = dashboard_files(many_services, jobs=1)
    parallel = dashboard_files(many_services, jobs=3)
    assert list(parallel) == list(serial)
    assert parallel == serial
    assert multiprocessing.active_children() == []


def test_worker_error_raised(many_services, monkeypatch):
    real_build = service.build

    def failing_build(catalog, entry, *args):
        if entry.name == "svc-120":
            raise RuntimeError("dashboard of svc-120 failed")
        return real_build(catalog, entry, *args)

    # Workers are forked after this, so they run the failing build too.
    monkeypatch.setattr(service, "build", failing_build)
    with pytest.raises(RuntimeError, match="svc-120"):
        dashboard_files(many_services, jobs=2)
    assert multiprocessing.active_children() == []


def test_killed_worker_fails_build(many_services, monkeypatch):
    real_build = service.build

    def killed_build(catalog, entry, *args):
        if entry.name == "svc-120":
            os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer would
        return real_build(catalog, entry, *args)

    monkeypatch.setattr(service, "build", killed_build)
    with pytest.raises(BuildError, match="exited unexpectedly"):
        dashboard_files(many_services, jobs=2)
    assert multiprocessing.active_children() == []


def test_rule_error_stops_workers(many_services, monkeypatch):
    def failing_rules(catalog):
        raise RuntimeError("rule files failed")

    monkeypatch.setattr("obsgen.generate.build_rule_files", failing_rules)
    with pytest.raises(RuntimeError, match="rule files failed"):
        build_outputs(many_services, ("rules", "dashboards"), jobs=2)
    assert multiprocessing.active_children() == []
