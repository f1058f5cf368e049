"""Panels compute the right numbers on the simulated cluster, not only some series.

Expected values come from the simulation itself (``tests/support/cluster.py``). Queries run at
the last evaluation of the backfilled rules, which promtool places up to one step before the
end of the data. Each level of rules has its own evaluation offset, as groups have in a running
Prometheus. A recorded series therefore lags its inputs by up to one step per level, and a
value must match the simulation at one of the last few raw sample times.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.dashboards.boards import board, catalog, fill
from tests.dashboards.simulation import CLUSTER, NODES, containers, simulated_cluster
from tests.support import prometheus
from tests.support.cluster import GIB, reading

pytestmark = pytest.mark.skipif(prometheus.binaries_missing() is not None,
                                reason=prometheus.binaries_missing() or "")

ALL = {"cluster": CLUSTER, "namespace": ".*", "service": ".*", "pod": ".*", "node": NODES[0].name,
       "__rate_interval": "4m", "__range": "1h"}


#: Raw sample times a recorded value may come from: one per level of recording rules.
LAGGING_SAMPLES = 3


@dataclass(frozen=True)
class Instant:
    """When to query (the last rule evaluation) and the raw sample times its values may reflect."""

    at: float
    sampled: tuple[int, ...]


def instant(server: prometheus.Prometheus, key: str, data_end: int) -> Instant:
    stamps = server.query("timestamp(namespace_pod_container:obsgen_memory_working_set_bytes)", at=data_end)
    at = max(float(series["value"][1]) for series in stamps)
    cluster = simulated_cluster(key, data_end)
    latest = cluster.start + int(at - cluster.start) // cluster.step_s * cluster.step_s
    return Instant(at, tuple(latest - step * cluster.step_s for step in range(LAGGING_SAMPLES)))


def matches_one(value: float, expected: list[float]) -> bool:
    return any(value == pytest.approx(candidate, rel=1e-9) for candidate in expected)


def panel_query(key: str, path: str, title: str, ref_id: str = "A") -> str:
    dashboard = board(key, path)
    panel = next(panel for panel in dashboard["panels"] if panel["title"] == title)
    return next(target["expr"] for target in panel["targets"] if target["refId"] == ref_id)


def run(servers: dict[str, prometheus.Prometheus], key: str, expr: str, data_end: int,
        **values: str) -> list[dict[str, Any]]:
    """Run ``expr`` with the variables filled in at the last rule evaluation."""
    at = instant(servers[key], key, data_end).at
    return servers[key].query(fill(expr, {**ALL, **values}), at=at)


def sampled(servers: dict[str, prometheus.Prometheus], key: str, data_end: int) -> tuple[int, ...]:
    return instant(servers[key], key, data_end).sampled


def test_top_consumers_one_row_per_container(servers, data_end) -> None:
    """The pod-level and pause-container cAdvisor series and the second source add no rows."""
    expr = panel_query("test", "dashboards/obsgen-fleet.json", "Top memory consumers")
    rows = run(servers, "test", expr, data_end)
    keys = [(row["metric"]["namespace"], row["metric"]["pod"], row["metric"]["container"]) for row in rows]
    assert len(keys) == len(set(keys))
    assert all(container not in ("", "POD") for _namespace, _pod, container in keys)
    assert all(row["metric"].get("obsgen_service") and row["metric"].get("team") for row in rows)


def test_top_consumers_values_are_working_sets(servers, data_end) -> None:
    expr = panel_query("example", "dashboards/obsgen-fleet.json", "Top memory consumers")
    rows = run(servers, "example", expr, data_end)
    cluster = simulated_cluster("example", data_end)
    times = sampled(servers, "example", data_end)
    by_pod = {container.pod: container for container in cluster.containers}
    assert rows
    for row in rows:
        container = by_pod[row["metric"]["pod"]]
        expected = [reading(container, cluster, when).working_set for when in times]
        assert matches_one(float(row["value"][1]), expected), (row, expected)


@pytest.mark.parametrize("service", ["frontend", "adservice", "redis-cart"])
def test_oom_kill_stat_counts_one_kill(servers, data_end, service: str) -> None:
    expr = panel_query("example", f"dashboards/services/{service}.json", "OOM kills, last 10m")
    result = run(servers, "example", expr, data_end, service=service)
    # increase() extrapolates to the window's edges, so one kill reads as slightly more than 1.
    assert [round(float(series["value"][1])) for series in result] == [1]


def test_oom_kill_stat_reads_exporter_only_service(servers, data_end) -> None:
    expr = panel_query("test", "dashboards/services/recommender.json", "OOM kills, last 10m")
    result = run(servers, "test", expr, data_end, service="recommender")
    assert [round(float(series["value"][1])) for series in result] == [1]


@pytest.mark.parametrize("service", ["adservice", "cartservice"])
def test_highest_limit_share_matches_simulation(servers, data_end, service: str) -> None:
    expr = panel_query("example", f"dashboards/services/{service}.json", "Highest share of limit in use (RSS)")
    result = run(servers, "example", expr, data_end, service=service)
    cluster = simulated_cluster("example", data_end)
    limited = [container for container in cluster.containers if container.workload == service and container.limit]
    expected = [max(reading(container, cluster, when).rss / (container.limit or 1) for container in limited)
                for when in sampled(servers, "example", data_end)]
    assert len(result) == 1
    assert matches_one(float(result[0]["value"][1]), expected), (result, expected)


def test_leak_suspects_are_the_growing_pods(servers, data_end) -> None:
    expr = panel_query("example", "dashboards/obsgen-fleet.json",
                       "Leak suspects: time to limit at the 6h trend")
    rows = run(servers, "example", expr, data_end)
    suspects = {row["metric"]["pod"] for row in rows}
    cluster = simulated_cluster("example", data_end)
    # Every growing pod reaches its limit (or half its node) within a day or two; flat pods never do.
    growing = {container.pod for container in cluster.containers if container.shape.growth_per_s > 0}
    assert suspects == growing
    assert all(float(row["value"][1]) > 0 for row in rows)


def test_unlimited_leaking_pod_projects_to_node_share(servers, data_end) -> None:
    """Without a limit, the projection aims at the node's memory times unlimited_node_share."""
    cluster = simulated_cluster("example", data_end)
    unlimited = next(container for container in cluster.containers if container.limit is None)
    expr = panel_query("example", f"dashboards/services/{unlimited.workload}.json",
                       "Memory floor and leak projection", "C")
    result = run(servers, "example", expr, data_end, service=unlimited.workload, pod=unlimited.pod)
    share = catalog("example").services[0].settings.leak.unlimited_node_share
    assert [float(series["value"][1]) for series in result] == [cluster.node(unlimited.node).memory * share]


def test_node_memory_used_matches_simulation(servers, data_end) -> None:
    expr = panel_query("example", "dashboards/obsgen-node.json", "Memory used and available")
    result = run(servers, "example", expr, data_end)
    cluster = simulated_cluster("example", data_end)
    node = NODES[0]
    expected = [sum(reading(container, cluster, when).usage for container in cluster.containers
                    if container.node == node.name) + GIB for when in sampled(servers, "example", data_end)]
    assert [series["metric"]["node"] for series in result] == [node.name]
    assert matches_one(float(result[0]["value"][1]), expected), (result, expected)


def test_top_containers_on_node_stay_on_node(servers, data_end) -> None:
    expr = panel_query("example", "dashboards/obsgen-node.json", "Top containers by working set")
    rows = run(servers, "example", expr, data_end)
    on_node = {container.pod for container in containers("example") if container.node == NODES[0].name}
    assert rows
    assert {row["metric"]["node"] for row in rows} == {NODES[0].name}
    assert {row["metric"]["pod"] for row in rows} <= on_node


def test_idle_request_never_negative(servers, data_end) -> None:
    expr = panel_query("example", "dashboards/obsgen-fleet.json", "Requested but unused")
    result = run(servers, "example", expr, data_end)
    cluster = simulated_cluster("example", data_end)
    expected = [sum(max((container.request or 0) - reading(container, cluster, when).working_set, 0)
                    for container in cluster.containers if container.request)
                for when in sampled(servers, "example", data_end)]
    assert matches_one(float(result[0]["value"][1]), expected), (result, expected)
