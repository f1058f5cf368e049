"""The Kubernetes source: cAdvisor as exposed by the kubelet, plus kube-state-metrics.

Traps in the raw series that these rules remove:
- cAdvisor exposes a pod-level series (``container=""``) and the pause container
  (``container="POD"``) beside each container, which would double any plain sum;
- a restarted container gets a new cAdvisor series (new container ID) while the old one lingers
  until it goes stale, so every rule takes the max per (namespace, pod, container);
- a container without a limit reports 0, +Inf or, on cgroup v1, 9223372036854771712; the limit
  series leaves it out so that no ratio or alert is computed against it.
"""

from __future__ import annotations

from obsgen import conventions as names
from obsgen import promql
from obsgen.catalog.model import SOURCE_KUBERNETES, Catalog

SOURCE = SOURCE_KUBERNETES
REAL_CONTAINERS = 'container!="", container!="POD"'
#: Limits at or above this are "unlimited" markers (cgroup v1 reports about 9.2e18), not real limits.
UNLIMITED_MARKER_BYTES = 1e18


def recording_rules(catalog: Catalog, oom_windows: tuple[int, ...]) -> list[dict[str, object]]:
    """Return the rules that fill the contract from cAdvisor and kube-state-metrics."""
    labels = names.container_labels(catalog.cluster_label)
    group = promql.by(labels)
    cadvisor = catalog.selectors.cadvisor
    ksm = catalog.selectors.kube_state_metrics

    def per_container(metric: str, matchers: str) -> str:
        return f"max {group} ({metric}{{{matchers}}})"

    def gauge(record: str, metric: str) -> dict[str, object]:
        return _rule(record, per_container(metric, f"{cadvisor}, {REAL_CONTAINERS}"))

    ksm_memory = f'{ksm}, resource="memory"'
    ksm_limit = per_container("kube_pod_container_resource_limits", ksm_memory)
    cadvisor_limit = per_container("container_spec_memory_limit_bytes", f"{cadvisor}, {REAL_CONTAINERS}")
    limit = f"{ksm_limit} > 0\nor\n{cadvisor_limit} > 0 < {UNLIMITED_MARKER_BYTES:.0e}"
    request = f"{per_container('kube_pod_container_resource_requests', ksm_memory)} > 0"
    cluster = catalog.cluster_label
    # kube_pod_info carries the node; topk keeps one row per pod if a pod was rescheduled and
    # both rows still linger, which would otherwise make the join fail on duplicates.
    node_memory = (
        f"max {group} (\n"
        f"  group {group} (container_memory_working_set_bytes{{{cadvisor}, {REAL_CONTAINERS}}})\n"
        f"  * on ({cluster}, namespace, pod) group_left (node)\n"
        f"  topk by ({cluster}, namespace, pod) (1, max by ({cluster}, namespace, pod, node) "
        f"(kube_pod_info{{{ksm}, node!=\"\"}}))\n"
        f"  * on ({cluster}, node) group_left ()\n"
        f"  max by ({cluster}, node) (kube_node_status_capacity{{{ksm}, resource=\"memory\"}})\n"
        f")"
    )
    rules = [
        gauge(names.WORKING_SET, "container_memory_working_set_bytes"),
        gauge(names.RSS, "container_memory_rss"),
        gauge(names.CACHE, "container_memory_cache"),
        gauge(names.USAGE, "container_memory_usage_bytes"),
        _rule(names.LIMIT, limit),
        _rule(names.REQUEST, request),
        _rule(names.RESTARTS, per_container("kube_pod_container_status_restarts_total", ksm)),
        _rule(names.NODE_MEMORY, node_memory),
    ]
    rules += [_rule(names.oom_kills(window), oom_kills(catalog, window)) for window in oom_windows]
    return rules


def oom_kills(catalog: Catalog, window_s: int) -> str:
    """Return the expression counting a container's OOM kills over ``window_s``.

    A kill shows as a restart while kube-state-metrics reports OOMKilled as the last termination
    reason. cAdvisor's own OOM counter is added because it also sees kills that did not restart
    the container, but it is not relied on: it lives on the dying container's series, which
    disappears with it, so it often misses the kill.
    """
    labels = names.container_labels(catalog.cluster_label)
    group, match = promql.by(labels), promql.on(labels)
    ksm, cadvisor = catalog.selectors.kube_state_metrics, catalog.selectors.cadvisor
    window = promql.duration(window_s)
    return (
        f"(\n"
        f"  max {group} (increase(kube_pod_container_status_restarts_total{{{ksm}}}[{window}])) > 0\n"
        f"  and {match}\n"
        f"  max {group} (kube_pod_container_status_last_terminated_reason{{{ksm}, reason=\"OOMKilled\"}}) == 1\n"
        f")\n"
        f"or\n"
        f"max {group} (increase(container_oom_events_total{{{cadvisor}, {REAL_CONTAINERS}}}[{window}])) > 0"
    )


def _rule(record: str, expr: str) -> dict[str, object]:
    return {"record": record, "expr": expr, "labels": {names.SOURCE_LABEL: SOURCE}}
