"""A simulated Kubernetes cluster's memory metrics, written as OpenMetrics for backfilling.

Series carry the label sets that kube-prometheus-stack gives them. The sources are the kubelet's
cAdvisor (``job="kubelet", metrics_path="/metrics/cadvisor"``), with the pod-level
``container=""`` and pause ``container="POD"`` series beside each container. Then come
kube-state-metrics (scraped with ``honorLabels``), node-exporter (with the target labels of its
own pod), the obsgen exporter and the applications' runtime metrics. Every series also gets the cluster label, as an external label
or a remote-write setup adds it.

Memory of each container follows a :class:`Shape`: a base, a linear growth, a GC sawtooth and an
optional OOM kill (after which the container restarts at its base).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

MIB = 1024 * 1024
GIB = 1024 * MIB
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Shape:
    """Resident memory over time, in bytes: ``base + growth * t + sawtooth``.

    ``oom_kill_before_end_s`` kills the container that many seconds before the end of the data:
    restarts and OOM counters increase then and memory starts again from ``base``.
    """

    base: int
    growth_per_s: float = 0.0
    sawtooth: int = 0
    sawtooth_period_s: int = 600
    oom_kill_before_end_s: int | None = None


@dataclass(frozen=True)
class Container:
    """One container of one pod; ``index`` distinguishes pods of the same workload."""

    namespace: str
    workload: str
    container: str
    node: str
    shape: Shape
    index: int = 0
    limit: int | None = None
    request: int | None = None
    runtime: str | None = None
    exporter: bool = False

    @property
    def pod(self) -> str:
        """Return a Deployment pod name: ``<workload>-<template hash>-<suffix>``."""
        digest = hashlib.sha256(f"{self.namespace}/{self.workload}/{self.index}".encode()).digest()
        letters = "".join(_ALPHABET[byte % len(_ALPHABET)] for byte in digest)
        return f"{self.workload}-{letters[:10]}-{letters[10:15]}"

    @property
    def uid(self) -> str:
        digest = hashlib.sha256(self.pod.encode()).hexdigest()
        return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


@dataclass(frozen=True)
class Node:
    name: str
    address: str
    memory: int = 16 * GIB


@dataclass
class Families:
    """Samples per metric family, then per series: ``{name: (type, {labels: [(t, v)]})}``."""

    types: dict[str, str] = field(default_factory=dict)
    samples: dict[str, dict[Labels, list[tuple[float, float]]]] = field(default_factory=lambda: defaultdict(dict))

    def add(self, name: str, kind: str, labels: dict[str, str], t: float, value: float) -> None:
        self.types.setdefault(name, kind)
        key = tuple(sorted(labels.items()))
        self.samples[name].setdefault(key, []).append((t, value))

    def render(self) -> str:
        """Return OpenMetrics text: families in name order, each series' samples in time order."""
        lines = []
        for name in sorted(self.types):
            lines.append(f"# TYPE {name} {self.types[name]}")
            for labels, points in sorted(self.samples[name].items()):
                text = ",".join(f'{key}="{value}"' for key, value in labels)
                lines.extend(f"{name}{{{text}}} {_number(value)} {t:.0f}" for t, value in points)
        lines.append("# EOF")
        return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclass(frozen=True)
class Cluster:
    """A cluster to simulate: its name, nodes and containers, and the time span of the data."""

    name: str
    nodes: tuple[Node, ...]
    containers: tuple[Container, ...]
    start: int
    end: int
    step_s: int = 60
    cluster_label: str = "cluster"

    def times(self) -> Iterator[int]:
        return iter(range(self.start, self.end + 1, self.step_s))

    def node(self, name: str) -> Node:
        return next(node for node in self.nodes if node.name == name)


@dataclass(frozen=True)
class Reading:
    """A container's memory at one instant, in bytes, and its counters so far."""

    rss: int
    cache: int
    kernel: int
    restarts: int
    oom_kills: int

    @property
    def usage(self) -> int:
        return self.rss + self.cache + self.kernel

    @property
    def working_set(self) -> int:
        # Half the page cache is active (not reclaimable without refaults), as a running service has.
        return self.rss + self.cache // 2 + self.kernel


def reading(container: Container, cluster: Cluster, t: int) -> Reading:
    """Return the memory of ``container`` at Unix time ``t``."""
    shape = container.shape
    killed_at = cluster.end - shape.oom_kill_before_end_s if shape.oom_kill_before_end_s is not None else None
    killed = killed_at is not None and t >= killed_at
    since = t - (killed_at if killed and killed_at is not None else cluster.start)
    phase = (since % shape.sawtooth_period_s) / shape.sawtooth_period_s
    rss = int(shape.base + shape.growth_per_s * since + shape.sawtooth * phase)
    return Reading(rss=rss, cache=shape.base // 4, kernel=4 * MIB, restarts=int(killed), oom_kills=int(killed))


def openmetrics(cluster: Cluster) -> str:
    """Return every series of ``cluster`` as OpenMetrics with timestamps."""
    families = Families()
    for t in cluster.times():
        for container in cluster.containers:
            now = reading(container, cluster, t)
            _cadvisor(families, cluster, container, now, t)
            _kube_state_metrics(families, cluster, container, now, t)
            if container.exporter:
                _exporter(families, cluster, container, now, t)
            if container.runtime:
                _runtime(families, cluster, container, now, t)
        for node in cluster.nodes:
            _node(families, cluster, node, t)
    return families.render()


def _cadvisor(families: Families, cluster: Cluster, container: Container, now: Reading, t: int) -> None:
    node = cluster.node(container.node)
    target = {cluster.cluster_label: cluster.name, "endpoint": "https-metrics", "instance": f"{node.address}:10250",
              "job": "kubelet", "metrics_path": "/metrics/cadvisor", "node": node.name,
              "service": "kube-prometheus-stack-kubelet"}
    cgroup = _cgroup(container)
    own = {**target, "namespace": container.namespace, "pod": container.pod, "container": container.container,
           "id": f"{cgroup}/cri-containerd-{container.uid.replace('-', '')}.scope",
           "image": f"registry.example/{container.workload}:1.0", "name": container.uid.replace("-", "")}
    pod_level = {**target, "namespace": container.namespace, "pod": container.pod, "container": "", "id": cgroup}
    pause = {**own, "container": "POD", "image": "registry.k8s.io/pause:3.9", "id": f"{cgroup}/pause"}
    for labels, scale in ((own, 1.0), (pod_level, 1.02)):
        families.add("container_memory_working_set_bytes", "gauge", labels, t, int(now.working_set * scale))
        families.add("container_memory_usage_bytes", "gauge", labels, t, int(now.usage * scale))
        families.add("container_memory_rss", "gauge", labels, t, int(now.rss * scale))
        families.add("container_memory_cache", "gauge", labels, t, int(now.cache * scale))
    families.add("container_memory_working_set_bytes", "gauge", pause, t, 300 * 1024)
    families.add("container_spec_memory_limit_bytes", "gauge", own, t, container.limit or 0)
    families.add("container_oom_events_total", "unknown", own, t, 0)


def _cgroup(container: Container) -> str:
    """Return the pod cgroup of ``container`` as the kubelet's systemd cgroup driver names it."""
    return f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{container.uid.replace('-', '_')}.slice"


def _kube_state_metrics(families: Families, cluster: Cluster, container: Container, now: Reading, t: int) -> None:
    # honorLabels: the metric's namespace, pod and container win over the target's.
    ids = {**_kube_state_metrics_target(cluster), "namespace": container.namespace, "pod": container.pod, "uid": container.uid}
    own = {**ids, "container": container.container}
    memory = {**own, "node": container.node, "resource": "memory", "unit": "byte"}
    if container.limit:
        families.add("kube_pod_container_resource_limits", "gauge", memory, t, container.limit)
    if container.request:
        families.add("kube_pod_container_resource_requests", "gauge", memory, t, container.request)
    families.add("kube_pod_container_status_restarts_total", "unknown", own, t, now.restarts)
    if now.oom_kills:
        families.add("kube_pod_container_status_last_terminated_reason", "gauge", {**own, "reason": "OOMKilled"}, t, 1)
    node = cluster.node(container.node)
    families.add("kube_pod_info", "gauge", {
        **ids, "container": "kube-state-metrics", "node": node.name, "host_ip": node.address,
        "pod_ip": f"10.244.{cluster.nodes.index(node)}.{10 + cluster.containers.index(container)}",
        "created_by_kind": "ReplicaSet", "created_by_name": container.pod.rsplit("-", 1)[0],
        "priority_class": "", "host_network": "false"}, t, 1)


def _exporter(families: Families, cluster: Cluster, container: Container, now: Reading, t: int) -> None:
    """Add the obsgen exporter's series of one container, labelled as the exporter labels them."""
    # The exporter's PodMonitor uses honorLabels, so the container's namespace and pod win.
    node = cluster.node(container.node)
    target = {cluster.cluster_label: cluster.name, "job": "obsgen-exporter", "instance": f"{node.address}:9101"}
    owner = {"namespace": container.namespace, "pod": container.pod, "pod_uid": container.uid,
             "container": container.container}
    container_id = container.uid.replace("-", "") * 2
    labels = {**target, **owner, "cgroup": f"{_cgroup(container)}/cri-containerd-{container_id}.scope",
              "cgroup_kind": "container", "container_id": container_id, "container_runtime": "containerd",
              "qos_class": "burstable"}
    elapsed = t - cluster.start
    families.add("obsgen_memory_working_set_bytes", "gauge", labels, t, now.working_set)
    families.add("obsgen_memory_current_bytes", "gauge", labels, t, now.usage)
    families.add("obsgen_memory_stat_bytes", "gauge", {**labels, "item": "anon"}, t, now.rss)
    families.add("obsgen_memory_stat_bytes", "gauge", {**labels, "item": "file"}, t, now.cache)
    families.add("obsgen_memory_stat_bytes", "gauge", {**labels, "item": "kernel"}, t, now.kernel)
    if container.limit:
        families.add("obsgen_memory_max_bytes", "gauge", labels, t, container.limit)
        families.add("obsgen_memory_high_bytes", "gauge", labels, t, int(container.limit * 0.9))
    families.add("obsgen_memory_swap_current_bytes", "gauge", labels, t, 2 * MIB)
    families.add("obsgen_memory_peak_bytes", "gauge", labels, t, now.usage + 8 * MIB)
    families.add("obsgen_memory_events_total", "unknown", {**labels, "event": "high"}, t, elapsed // 30)
    families.add("obsgen_memory_events_total", "unknown", {**labels, "event": "oom_kill"}, t, now.oom_kills)
    # On the PSI family "kind" is the PSI line (some or full).
    families.add("obsgen_memory_pressure_seconds_total", "unknown", {**labels, "kind": "some"}, t, elapsed * 0.02)
    families.add("obsgen_memory_pressure_seconds_total", "unknown", {**labels, "kind": "full"}, t, elapsed * 0.005)
    families.add("obsgen_memory_stat_events_total", "unknown", {**labels, "item": "pgmajfault"}, t, elapsed * 3)
    families.add("obsgen_container_oom_kills_total", "unknown", {**target, **owner}, t, now.oom_kills)


def _runtime(families: Families, cluster: Cluster, container: Container, now: Reading, t: int) -> None:
    node = cluster.node(container.node)
    labels = {cluster.cluster_label: cluster.name, "namespace": container.namespace, "pod": container.pod,
              "container": container.container, "endpoint": "metrics", "job": container.workload,
              "service": container.workload, "instance": f"{node.address}:8080"}
    elapsed = t - cluster.start
    limit = container.limit or GIB
    if container.runtime == "jvm":
        families.add("jvm_memory_bytes_used", "gauge", {**labels, "area": "heap"}, t, int(now.rss * 0.6))
        families.add("jvm_memory_bytes_max", "gauge", {**labels, "area": "heap"}, t, int(limit * 0.7))
        families.add("jvm_gc_collection_seconds_sum", "unknown", {**labels, "gc": "G1 Young Generation"}, t,
                     elapsed * 0.01)
    elif container.runtime == "go":
        families.add("go_memstats_heap_inuse_bytes", "gauge", labels, t, int(now.rss * 0.7))
        families.add("go_memstats_next_gc_bytes", "gauge", labels, t, int(now.rss * 0.9))
        families.add("go_gc_duration_seconds_sum", "unknown", labels, t, elapsed * 0.001)
    elif container.runtime == "python":
        families.add("process_resident_memory_bytes", "gauge", labels, t, now.rss)
        for generation in ("0", "1", "2"):
            families.add("python_gc_collections_total", "unknown", {**labels, "generation": generation}, t,
                         elapsed // (10 ** int(generation)))
    elif container.runtime == "node":
        families.add("nodejs_heap_size_used_bytes", "gauge", labels, t, int(now.rss * 0.5))
        families.add("nodejs_heap_size_total_bytes", "gauge", labels, t, int(now.rss * 0.6))
        families.add("process_resident_memory_bytes", "gauge", labels, t, now.rss)


def _node(families: Families, cluster: Cluster, node: Node, t: int) -> None:
    suffix = hashlib.sha256(node.name.encode()).hexdigest()[:5]
    pod = f"kube-prometheus-stack-prometheus-node-exporter-{suffix}"
    _node_exporter(families, cluster, node, pod, t)
    _kube_state_node(families, cluster, node, pod, suffix, t)


def _node_exporter(families: Families, cluster: Cluster, node: Node, pod: str, t: int) -> None:
    target = {cluster.cluster_label: cluster.name, "job": "node-exporter", "namespace": "monitoring", "pod": pod,
              "container": "node-exporter", "instance": f"{node.address}:9100", "endpoint": "http-metrics",
              "service": "kube-prometheus-stack-prometheus-node-exporter"}
    on_node = [reading(container, cluster, t) for container in cluster.containers if container.node == node.name]
    elapsed = t - cluster.start

    families.add("node_memory_MemTotal_bytes", "gauge", target, t, node.memory)
    families.add("node_memory_MemAvailable_bytes", "gauge", target, t,
                 node.memory - sum(now.usage for now in on_node) - GIB)
    families.add("node_memory_SwapTotal_bytes", "gauge", target, t, 2 * GIB)
    families.add("node_memory_SwapFree_bytes", "gauge", target, t, 2 * GIB - 64 * MIB)
    families.add("node_pressure_memory_waiting_seconds_total", "unknown", target, t, elapsed * 0.01)
    families.add("node_pressure_memory_stalled_seconds_total", "unknown", target, t, elapsed * 0.002)
    families.add("node_vmstat_pgmajfault", "unknown", target, t, elapsed * 5)
    families.add("node_vmstat_oom_kill", "unknown", target, t, sum(now.oom_kills for now in on_node))


def _kube_state_node(families: Families, cluster: Cluster, node: Node, pod: str, uid: str, t: int) -> None:
    """Add the node's kube-state-metrics series and the kube_pod_info of its node-exporter pod."""
    target = _kube_state_metrics_target(cluster)
    families.add("kube_pod_info", "gauge", {**target, "namespace": "monitoring", "pod": pod, "uid": uid,
                                            "container": "kube-state-metrics", "node": node.name,
                                            "host_ip": node.address, "pod_ip": node.address,
                                            "created_by_kind": "DaemonSet", "priority_class": "",
                                            "created_by_name": "kube-prometheus-stack-prometheus-node-exporter",
                                            "host_network": "true"}, t, 1)

    # Node series have no namespace of their own, so the target's stay (honorLabels).
    scraped_by = {**target, "namespace": "monitoring", "pod": "kube-prometheus-stack-kube-state-metrics-7c9d8-x2x4p",
                  "container": "kube-state-metrics"}
    families.add("kube_node_info", "gauge", {**scraped_by, "node": node.name, "internal_ip": node.address,
                                             "container_runtime_version": "containerd://1.7.13",
                                             "kernel_version": "6.1.0-18-amd64"}, t, 1)
    families.add("kube_node_status_capacity", "gauge", {**scraped_by, "node": node.name, "resource": "memory",
                                                        "unit": "byte"}, t, node.memory)


def _kube_state_metrics_target(cluster: Cluster) -> dict[str, str]:
    return {cluster.cluster_label: cluster.name, "endpoint": "http", "instance": "10.244.0.7:8080",
            "job": "kube-state-metrics", "service": "kube-prometheus-stack-kube-state-metrics"}
