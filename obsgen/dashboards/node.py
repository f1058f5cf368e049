"""The node dashboard: node memory use, availability and pressure, and the containers holding it.

Node series come from node-exporter, mapped to node names through kube-state-metrics'
``kube_pod_info``; container series come from the recording-rule contract.
"""

from __future__ import annotations

from obsgen import conventions as names
from obsgen.catalog.model import Catalog
from obsgen.dashboards import presets as p
from obsgen.dashboards import queries as q


def node_view(catalog: Catalog) -> q.NodeView:
    return q.NodeView(catalog.cluster_label, catalog.selectors.node_exporter, catalog.selectors.kube_state_metrics)


def memory_section(nodes: q.NodeView) -> p.Section:
    section = p.Section("")
    used_share = p.steps("green", (0.8, "orange"), (0.95, "red"))
    section.add(p.bargauge("Memory in use per node", [p.query(q.node_used_share(nodes), "{{node}}")], p.SHARE,
                           used_share, "1 - MemAvailable / MemTotal.", 0, 1), 8, 8)
    section.add(p.timeseries("Memory used and available", [
        p.query(q.node_used(nodes), "{{node}} used"),
        p.query(nodes.node_metric("{}", "node_memory_MemAvailable_bytes"), "{{node}} available"),
        p.query(nodes.node_metric("{}", "node_memory_MemTotal_bytes"), "{{node}} total"),
    ], p.BYTES, "Used is MemTotal - MemAvailable: what the kernel cannot free without swapping or "
       "killing."), 16, 8)
    return section


def pressure_section(nodes: q.NodeView) -> p.Section:
    section = p.Section("Memory pressure")
    section.add(p.timeseries("Memory stall time (PSI)", [
        p.query(q.node_rate(nodes, "node_pressure_memory_waiting_seconds_total"), "{{node}} some"),
        p.query(q.node_rate(nodes, "node_pressure_memory_stalled_seconds_total"), "{{node}} full"),
    ], p.SHARE, "Share of time some (or all) tasks waited for memory; needs node-exporter's pressure "
       "collector and a kernel with PSI.", minimum=0), 8, 8)
    section.add(p.timeseries("Major page faults and OOM kills", [
        p.query(q.node_rate(nodes, "node_vmstat_pgmajfault"), "{{node}} major faults"),
        p.query(q.node_rate(nodes, "node_vmstat_oom_kill"), "{{node}} OOM kills"),
    ], p.PER_SECOND, "From /proc/vmstat, per second."), 8, 8)
    section.add(p.timeseries("Swap used", [p.query(q.node_swap_used(nodes), "{{node}}")], p.BYTES,
                             "SwapTotal - SwapFree."), 8, 8)
    return section


def containers_section(catalog: Catalog, nodes: q.NodeView) -> p.Section:
    section = p.Section("Containers on the node")
    view = q.View(catalog.cluster_label, pod=False, service=False)
    top = q.top_containers_on_nodes(view, nodes, catalog.sources())
    section.add(p.table("Top containers by working set", [p.query(top, table=True)], p.BYTES,
                        "The containers holding the most memory on the selected nodes.", sort_by="Value", descending=True), 12, 10)
    section.add(p.timeseries("Working set of the top containers", [p.query(top, "{{node}} {{namespace}}/{{pod}} "
                                                                             "{{container}}")], p.BYTES), 12, 10)
    return section


def variables(catalog: Catalog, nodes: q.NodeView) -> list[object]:
    cluster = catalog.cluster_label
    info = names.SERVICE_INFO
    node_selector, node_label = nodes.node_variable()
    return [
        p.DatasourceVariable(catalog.defaults.datasource),
        p.QueryVariable("cluster", "Cluster", info, cluster),
        p.QueryVariable("node", "Node", node_selector, node_label),
        p.QueryVariable("namespace", "Namespace", f'{info}{{{cluster}=~"$cluster"}}', "namespace"),
    ]


def build(catalog: Catalog, uid: str, description: str) -> p.Dashboard:
    """Return the node dashboard of ``catalog``."""
    nodes = node_view(catalog)
    return p.dashboard(
        title=f"Memory / nodes ({catalog.name})", uid=uid, description=description, tags=["obsgen", "memory"],
        variables=variables(catalog, nodes),
        sections=[memory_section(nodes), pressure_section(nodes), containers_section(catalog, nodes)],
        annotations=[],
    )
