"""The simulated exporter series carry the label names the real obsgen exporter writes.

The dashboard queries run against the simulation, so a simulation that labels series
differently from the exporter would let queries pass here and match nothing in production.
"""

from __future__ import annotations

from pathlib import Path

from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from obsgen.exporter.collector import CollectorOptions, MemoryCollector
from tests.exporter.helpers import add_container_log, add_pod_log_dir, parse_exposition, write_cgroup, write_root
from tests.support.cluster import MIB, Cluster, Container, Node, Shape, openmetrics

#: Labels that Prometheus adds at scrape time (target labels) or the remote-write setup adds.
TARGET_LABELS = {"cluster", "job", "instance"}


def _real_label_names(tmp_path: Path) -> dict[str, set[frozenset[str]]]:
    """Return, per sample name, the label-name sets the real exporter writes for a Kubernetes container."""
    root = write_root(tmp_path / "cgroup")
    uid = "c2b9546e-0f02-40f3-adb7-f1d5cbf15150"
    container_id = "ab" * 32
    pod = root / "kubepods.slice" / "kubepods-burstable.slice" / f"kubepods-burstable-pod{uid.replace('-', '_')}.slice"
    for parent in (root / "kubepods.slice", root / "kubepods.slice" / "kubepods-burstable.slice", pod):
        write_cgroup(parent)
    write_cgroup(pod / f"cri-containerd-{container_id}.scope", limit="268435456", high="241591910", peak=10 * MIB,
                 oom_kill=1)
    add_pod_log_dir(tmp_path / "pods", "shop", "cart-7d9f", uid)
    add_container_log(tmp_path / "containers", "cart-7d9f", "shop", "server", container_id)
    registry = CollectorRegistry()
    MemoryCollector(CollectorOptions(root=str(root), pod_log_dir=str(tmp_path / "pods"),
                                     container_log_dir=str(tmp_path / "containers")), registry=registry)
    found: dict[str, set[frozenset[str]]] = {}
    for (name, labels), _value in parse_exposition(generate_latest(registry).decode()).items():
        if dict(labels).get("container") == "server":
            found.setdefault(name, set()).add(frozenset(key for key, _ in labels))
    return found


def _simulated_label_names() -> dict[str, set[frozenset[str]]]:
    container = Container(namespace="shop", workload="cart", container="server", node="worker-a", exporter=True,
                          limit=256 * MIB, shape=Shape(base=64 * MIB))
    cluster = Cluster("test", (Node("worker-a", "172.18.0.2"),), (container,), start=1_700_000_000,
                      end=1_700_000_000)
    found: dict[str, set[frozenset[str]]] = {}
    for family in text_string_to_metric_families(openmetrics(cluster)):
        for sample in family.samples:
            if sample.name.startswith("obsgen_"):
                found.setdefault(sample.name, set()).add(frozenset(sample.labels) - TARGET_LABELS)
    return found


def test_simulated_exporter_metrics_exist(tmp_path: Path) -> None:
    real = _real_label_names(tmp_path)
    for name in _simulated_label_names():
        assert name in real, f"the exporter writes no {name}"


def test_simulated_exporter_label_names_match(tmp_path: Path) -> None:
    real = _real_label_names(tmp_path)
    for name, label_sets in _simulated_label_names().items():
        for labels in label_sets:
            assert labels in real.get(name, set()), f"{name}: simulated {sorted(labels)}, real {real.get(name)}"
