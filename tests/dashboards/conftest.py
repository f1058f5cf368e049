"""Fixtures shared by the dashboard tests: one real Prometheus per catalog, loaded once per session."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from obsgen.rules import build_rule_files
from obsgen.writers.rules_yaml import render_rule_file

from tests.dashboards.boards import CATALOGS, catalog
from tests.dashboards.simulation import simulated_cluster
from tests.support import prometheus
from tests.support.cluster import openmetrics


@pytest.fixture(scope="session")
def data_end() -> int:
    return int(time.time()) // 60 * 60


@pytest.fixture(scope="session")
def servers(data_end: int) -> Iterator[dict[str, prometheus.Prometheus]]:
    """Start one Prometheus per catalog, holding the simulated cluster and the catalog's recorded series."""
    started: dict[str, prometheus.Prometheus] = {}
    with tempfile.TemporaryDirectory(prefix="obsgen-dashboards-") as workdir, ExitStack() as stack:
        for key in CATALOGS:
            folder = os.path.join(workdir, key)
            os.makedirs(folder)
            cluster = simulated_cluster(key, data_end)
            rules = [render_rule_file(rule_file.groups, catalog(key).name).decode()
                     for rule_file in build_rule_files(catalog(key))]
            started[key] = stack.enter_context(
                prometheus.loaded_prometheus(folder, openmetrics(cluster), rules, cluster.start, cluster.end))
        yield started
