"""The cluster the dashboard queries run against: two pods per catalog service and one unclaimed.

Per service, one pod's memory leaks (the first service's leaking pod has no limit, so the leak
projection falls back to the node's memory) and one pod was OOM-killed three minutes before the
end of the data. A coredns container in kube-system belongs to no service (the fleet entry).
"""

from __future__ import annotations

import yaml

from tests.dashboards.boards import CATALOGS, catalog
from tests.support.cluster import MIB, Cluster, Container, Node, Shape

DURATION_S = 4 * 3600
CLUSTER = "kind-obsgen"
NODES = (Node("worker-a", "172.18.0.2"), Node("worker-b", "172.18.0.3"))
UNLIMITED_LEAK_TO_NODE_SHARE_S = 30 * 3600
_DEFAULT_LIMIT = 256 * MIB
_DEFAULT_REQUEST = 128 * MIB


def services(key: str) -> list[dict]:
    with open(CATALOGS[key], encoding="utf-8") as handle:
        return yaml.safe_load(handle)["services"]


def containers(key: str) -> tuple[Container, ...]:
    """Return two pods per service of the catalog (leaking, OOM-killed) and one unclaimed container."""
    found = []
    model = catalog(key)
    for number, raw in enumerate(services(key)):
        service = next(entry for entry in model.services if entry.name == raw["name"])
        selector = raw["selector"]
        limit = service.memory_limit or _DEFAULT_LIMIT
        common = dict(namespace=selector["namespace"], workload=selector["workload"],
                      container=selector["container"], runtime=service.runtime,
                      exporter="exporter" in service.settings.sources,
                      request=service.memory_request or _DEFAULT_REQUEST)
        # The first workload's leaking pod has no limit, so the leak projection aims at half the
        # node's memory. It grows fast enough to get there in about a day.
        if number == 0:
            leaking_limit, growth = None, NODES[0].memory * 0.5 / UNLIMITED_LEAK_TO_NODE_SHARE_S
        else:
            leaking_limit, growth = limit, limit * 0.4 / DURATION_S
        found.append(Container(**common, index=0, node=NODES[0].name, limit=leaking_limit,
                               shape=Shape(base=int(limit * 0.3), growth_per_s=growth, sawtooth=int(limit * 0.05))))
        found.append(Container(**common, index=1, node=NODES[number % 2].name, limit=limit,
                               shape=Shape(base=int(limit * 0.4), sawtooth=int(limit * 0.1),
                                           oom_kill_before_end_s=180)))
    found.append(Container(namespace="kube-system", workload="coredns", container="coredns", node=NODES[1].name,
                           limit=170 * MIB, request=70 * MIB, shape=Shape(base=40 * MIB, sawtooth=5 * MIB)))
    return tuple(found)


def simulated_cluster(key: str, end: int) -> Cluster:
    return Cluster(CLUSTER, NODES, containers(key), start=end - DURATION_S, end=end)
