"""PromQL of every dashboard panel, apart from the layout.

Panels read the recording-rule contract of ``obsgen.conventions``, the same series the alerts
read, so a panel and the alert beside it agree. The exceptions read raw series that have no
contract counterpart: the runtime panels (the standard client libraries' metric names, listed in
``RUNTIME_METRICS``) and the node panels (node-exporter and kube-state-metrics).

Queries refer to the dashboard variables ``$cluster``, ``$namespace``, ``$service``, ``$pod`` and
``$node`` and to Grafana's ``$__range`` and ``$__rate_interval``. Every variable is a regex
matcher, so "All" (``.*``) and multi-value selections work alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from obsgen import conventions as names
from obsgen import promql
from obsgen.catalog.model import Leak

#: Selector of the membership series: one per container, labelled with its service and team.
RATE_INTERVAL = "$__rate_interval"
RANGE = "$__range"


@dataclass(frozen=True)
class View:
    """Which containers a dashboard's queries show, as set by its variables.

    ``pod`` adds the ``$pod`` filter, which only the service dashboard has. ``service`` keeps
    only containers whose membership series names a service in ``$service``.
    """

    cluster_label: str
    pod: bool = False
    service: bool = True

    @property
    def labels(self) -> tuple[str, ...]:
        return names.container_labels(self.cluster_label)

    def matchers(self) -> list[str]:
        """Return the variable filters for a per-container series."""
        found = [f'{self.cluster_label}=~"$cluster"', 'namespace=~"$namespace"']
        if self.pod:
            found.append('pod=~"$pod"')
        return found


def _sources(sources: tuple[str, ...]) -> str:
    return promql.matcher(names.SOURCE_LABEL, "=~", "|".join(sources))


def series(view: View, name: str, sources: tuple[str, ...]) -> str:
    """Return a contract series filtered by the dashboard variables and the given sources."""
    return promql.selector(name, *view.matchers(), _sources(sources))


def membership(view: View) -> str:
    """Return the membership series filtered by the variables."""
    matchers = view.matchers()
    if view.service:
        matchers.append(promql.matcher(names.SERVICE_LABEL, "=~", "$service"))
    return promql.selector(names.SERVICE_INFO, *matchers)


def owned(view: View, expr: str) -> str:
    """Keep the containers of ``expr`` that belong to a service selected in ``$service``."""
    if not view.service:
        return expr
    return f"{expr}\nand {promql.on(view.labels)}\n{membership(view)}"


def per_container(view: View, name: str, sources: tuple[str, ...]) -> str:
    """Return one series per container, the highest of the listed sources, of the selected services."""
    return owned(view, f"max {promql.by(view.labels)} ({series(view, name, sources)})")


def with_owner(view: View, expr: str) -> str:
    """Add the ``obsgen_service`` and ``team`` labels of each container of ``expr``.

    ``topk`` keeps one membership series per container, so a container that two services'
    selectors claim cannot make the join fail.
    """
    labels = promql.by(view.labels)
    owners = f"topk {labels} (1, {membership(view)})"
    return (f"{expr}\n* {promql.on(view.labels)} group_left ({names.SERVICE_LABEL}, {names.TEAM_LABEL})\n"
            f"{owners}")


# Limits, usage and the leak trend.

def kernel_memory(view: View, sources: tuple[str, ...]) -> str:
    """Return memory charged to the container that is neither RSS nor page cache (kernel, sockets...)."""
    usage, rss, cache = (per_container(view, name, sources) for name in (names.USAGE, names.RSS, names.CACHE))
    return f"clamp_min(\n({usage})\n- ({rss})\n- ({cache}), 0)"


def effective_limit(view: View, leak: Leak, source: str) -> str:
    """Return the limit the leak alert projects towards: the limit, or a share of the node's memory."""
    limit = series(view, names.LIMIT, (source,))
    node = series(view, names.NODE_MEMORY, (source,))
    return f"({limit} or {node} * {promql.number(leak.unlimited_node_share)})"


#: Leak panels show containers that reach their limit within this many leak horizons: early
#: enough to see a leak coming, while a flat floor's rounding noise (a slope near 0, so a time
#: to limit of centuries) stays out.
SUSPECT_HORIZONS = 4


def time_to_limit(view: View, leak: Leak, source: str, window_s: int) -> str:
    """Return the seconds until the memory floor reaches the limit at the trend fitted over ``window_s``.

    The same arithmetic as the leak alert's value. Only containers that reach the limit within
    ``SUSPECT_HORIZONS`` leak horizons have a series.
    """
    floor = series(view, names.floor(leak.floor_window_s), (source,))
    slope = series(view, names.floor_slope(leak.floor_window_s, window_s), (source,))
    bound = leak.horizon_s * SUSPECT_HORIZONS
    return owned(view, f"({effective_limit(view, leak, source)} - {floor}) / {slope} > 0 < {bound}")


def floor_growth_per_hour(view: View, leak: Leak, source: str, window_s: int) -> str:
    """Return the growth of the memory floor in bytes per hour, fitted over ``window_s``."""
    slope = series(view, names.floor_slope(leak.floor_window_s, window_s), (source,))
    return owned(view, f"{slope} * 3600")


def projected_floor(view: View, leak: Leak, source: str) -> str:
    """Return where the memory floor will be after the leak horizon if the slow trend holds."""
    floor = series(view, names.floor(leak.floor_window_s), (source,))
    slope = series(view, names.floor_slope(leak.floor_window_s, leak.window_s), (source,))
    return owned(view, f"{floor} + {slope} * {leak.horizon_s}")


def memory_floor(view: View, leak: Leak, source: str) -> str:
    return owned(view, series(view, names.floor(leak.floor_window_s), (source,)))


def limit_for_projection(view: View, leak: Leak, source: str) -> str:
    return owned(view, effective_limit(view, leak, source))


def oom_kills(view: View, window_s: int, sources: tuple[str, ...]) -> str:
    """Return each container's OOM kills over the last ``window_s`` (present only after a kill)."""
    return per_container(view, names.oom_kills(window_s), sources)


def restarts_in_range(view: View) -> str:
    """Return the container restarts within the dashboard's time range (kubernetes source)."""
    restarts = series(view, names.RESTARTS, ("kubernetes",))
    return owned(view, f"max {promql.by(view.labels)} (increase({restarts}[{RANGE}]))")


def restarts_rate(view: View) -> str:
    restarts = series(view, names.RESTARTS, ("kubernetes",))
    return owned(view, f"max {promql.by(view.labels)} (increase({restarts}[{RATE_INTERVAL}])) > 0")


def total(expr: str, by: tuple[str, ...] = ()) -> str:
    """Return the sum of ``expr``, optionally per label."""
    grouping = f" {promql.by(by)}" if by else ""
    return f"sum{grouping} (\n{expr}\n)"


def idle_request(view: View, sources: tuple[str, ...]) -> str:
    """Return each container's requested memory that its working set leaves unused (never negative)."""
    request = series(view, names.REQUEST, ("kubernetes",))
    used = f"max {promql.by(view.labels)} ({series(view, names.WORKING_SET, sources)})"
    return owned(view, f"clamp_min(\n{request}\n- {promql.on(view.labels)}\n{used}, 0)")


def leak_suspects(view: View, leak: Leak, sources: tuple[str, ...], count: int = 20) -> str:
    """Return the ``count`` containers closest to their limit at the slow trend, with their owner."""
    per_source = [f"({time_to_limit(View(view.cluster_label, view.pod, False), leak, source, leak.window_s)})"
                  for source in sources]
    soonest = f"min {promql.by(view.labels)} (\n" + "\nor\n".join(per_source) + "\n)"
    return f"bottomk({count},\n{with_owner(view, soonest)}\n)"


def top_consumers(view: View, sources: tuple[str, ...], count: int = 15) -> str:
    """Return the ``count`` containers with the largest working set, with their owner."""
    used = f"max {promql.by(view.labels)} ({series(view, names.WORKING_SET, sources)})"
    return f"topk({count},\n{with_owner(view, used)}\n)"


def by_team(view: View, sources: tuple[str, ...]) -> str:
    """Return the working set summed per team."""
    used = f"max {promql.by(view.labels)} ({series(view, names.WORKING_SET, sources)})"
    return total(with_owner(view, used), (names.TEAM_LABEL,))


# Runtime metrics, as the standard client libraries name them.

@dataclass(frozen=True)
class RuntimeQuery:
    """One series of a runtime panel: alternative metric selectors and a legend.

    ``metrics`` lists selectors for the same value under the names of different client libraries;
    the query reads whichever the application exports (joined by ``or``).
    """

    metrics: tuple[str, ...]
    legend: str
    rate: bool = False
    by: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuntimePanel:
    title: str
    unit: str
    queries: tuple[RuntimeQuery, ...]


_HEAP = 'area="heap"'

#: Runtime panels per catalog ``runtime`` hint. Metric names are those of the Prometheus Java
#: client (simpleclient_hotspot ``jvm_memory_bytes_*`` and client_java 1.x ``jvm_memory_*_bytes``),
#: Micrometer (``jvm_gc_pause_seconds``), client_golang's Go collector, client_python's process and
#: GC collectors, and prom-client's default Node.js metrics.
RUNTIME_PANELS: dict[str, tuple[RuntimePanel, ...]] = {
    "jvm": (
        RuntimePanel("JVM heap used and max", "bytes", (
            RuntimeQuery((f"jvm_memory_bytes_used{{{_HEAP}}}", f"jvm_memory_used_bytes{{{_HEAP}}}"),
                         "{{pod}} heap used"),
            RuntimeQuery((f"jvm_memory_bytes_max{{{_HEAP}}}", f"jvm_memory_max_bytes{{{_HEAP}}}"),
                         "{{pod}} heap max"),
        )),
        RuntimePanel("JVM share of time in garbage collection", "percentunit", (
            RuntimeQuery(("jvm_gc_collection_seconds_sum", "jvm_gc_pause_seconds_sum"), "{{pod}} GC", rate=True),
        )),
    ),
    "go": (
        RuntimePanel("Go heap in use and next GC target", "bytes", (
            RuntimeQuery(("go_memstats_heap_inuse_bytes",), "{{pod}} heap in use"),
            RuntimeQuery(("go_memstats_next_gc_bytes",), "{{pod}} next GC at"),
        )),
        RuntimePanel("Go share of time in GC pauses", "percentunit", (
            RuntimeQuery(("go_gc_duration_seconds_sum",), "{{pod}} GC pauses", rate=True),
        )),
    ),
    "python": (
        RuntimePanel("Python process resident memory", "bytes", (
            RuntimeQuery(("process_resident_memory_bytes",), "{{pod}} resident"),
        )),
        RuntimePanel("Python garbage collections per second", "ops", (
            RuntimeQuery(("python_gc_collections_total",), "{{pod}} generation {{generation}}", rate=True,
                         by=("generation",)),
        )),
    ),
    "node": (
        RuntimePanel("Node.js heap used and total", "bytes", (
            RuntimeQuery(("nodejs_heap_size_used_bytes",), "{{pod}} heap used"),
            RuntimeQuery(("nodejs_heap_size_total_bytes",), "{{pod}} heap total"),
        )),
        RuntimePanel("Node.js process resident memory", "bytes", (
            RuntimeQuery(("process_resident_memory_bytes",), "{{pod}} resident"),
        )),
    ),
}


def _with_filters(selector: str, filters: list[str]) -> str:
    name, _, rest = selector.partition("{")
    matchers = filters + ([rest.rstrip("}")] if rest else [])
    return promql.selector(name, *matchers)


def runtime(view: View, runtime_query: RuntimeQuery) -> str:
    """Return a runtime series per pod of the selected services.

    Applications are scraped through their own Service or Pod monitor, whose ``container`` label
    names the container of the scraped port. The join is therefore on the pod alone.
    """
    pod_labels = (view.cluster_label, "namespace", "pod") + runtime_query.by
    alternatives = []
    for metric in runtime_query.metrics:
        selector = _with_filters(metric, view.matchers())
        value = f"rate({selector}[{RATE_INTERVAL}])" if runtime_query.rate else selector
        alternatives.append(f"sum {promql.by(pod_labels)} ({value})")
    expr = "\nor\n".join(alternatives)
    if not view.service:
        return expr
    return f"(\n{expr}\n)\nand {promql.on(pod_labels[:3])}\n{membership(view)}"


# Nodes: node-exporter series joined to their node name through kube-state-metrics.

@dataclass(frozen=True)
class NodeView:
    """Selectors of the node dashboard's sources."""

    cluster_label: str
    node_exporter: str
    kube_state_metrics: str

    def pods_on_nodes(self) -> str:
        """Return one series per pod on the nodes in ``$node``, labelled with the node name."""
        cluster = self.cluster_label
        pod = f"{cluster}, namespace, pod"
        info = f'kube_pod_info{{{self.kube_state_metrics}, {cluster}=~"$cluster", node=~"$node"}}'
        return f"topk by ({pod}) (1, max by ({pod}, node) ({info}))"

    def node_metric(self, expr_of_selector: str, metric: str) -> str:
        """Return a node-exporter metric per node, named by the node-exporter pod's node.

        node-exporter's series carry the namespace and pod of the node-exporter pod as scrape
        target labels. kube_pod_info maps that pod to its node, which works whatever the
        ``instance`` label contains (an address or, with a relabelling, the node name).
        """
        selector = f'{metric}{{{self.node_exporter}, {self.cluster_label}=~"$cluster"}}'
        inner = expr_of_selector.format(selector)
        return (f"max by ({self.cluster_label}, node) (\n{inner}\n"
                f"* on ({self.cluster_label}, namespace, pod) group_left (node)\n{self.pods_on_nodes()}\n)")

    def node_variable(self) -> tuple[str, str]:
        return f'kube_node_info{{{self.kube_state_metrics}, {self.cluster_label}=~"$cluster"}}', "node"


def node_used(nodes: NodeView) -> str:
    total_bytes = nodes.node_metric("{}", "node_memory_MemTotal_bytes")
    available = nodes.node_metric("{}", "node_memory_MemAvailable_bytes")
    return f"{total_bytes}\n-\n{available}"


def node_used_share(nodes: NodeView) -> str:
    total_bytes = nodes.node_metric("{}", "node_memory_MemTotal_bytes")
    available = nodes.node_metric("{}", "node_memory_MemAvailable_bytes")
    return f"1 - (\n{available}\n/\n{total_bytes}\n)"


def node_swap_used(nodes: NodeView) -> str:
    total_swap = nodes.node_metric("{}", "node_memory_SwapTotal_bytes")
    free_swap = nodes.node_metric("{}", "node_memory_SwapFree_bytes")
    return f"{total_swap}\n-\n{free_swap}"


def node_rate(nodes: NodeView, metric: str) -> str:
    return nodes.node_metric(f"rate({{}}[{RATE_INTERVAL}])", metric)


def top_containers_on_nodes(view: View, nodes: NodeView, sources: tuple[str, ...], count: int = 15) -> str:
    """Return the containers holding the most memory on the nodes in ``$node``, with the node name."""
    used = f"max {promql.by(view.labels)} ({series(view, names.WORKING_SET, sources)})"
    cluster = view.cluster_label
    return (f"topk({count},\n{used}\n* on ({cluster}, namespace, pod) group_left (node)\n"
            f"{nodes.pods_on_nodes()}\n)")
