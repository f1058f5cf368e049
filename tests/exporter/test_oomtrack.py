"""OOM kill accounting: kills of removed containers, restarts, and monotonic counters."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import CollectorRegistry

from obsgen.exporter.collector import CollectorOptions, MemoryCollector
from obsgen.exporter.names import KubernetesNames
from obsgen.exporter.oomtrack import OomKey, OomTracker

from .helpers import add_container_log, add_pod_log_dir, find, parse_exposition, set_oom_kill, write_cgroup, write_root

UID = "3f813363-ba94-46ff-b763-6c928e4e20af"
POD = f"kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID.replace('-', '_')}.slice"
ID_A = "a" * 64
ID_B = "b" * 64
OOM = "obsgen_container_oom_kills_total"


class FakeClock:
    """Monotonic clock the test moves by hand, in seconds."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Node:
    """A cgroup tree with one pod plus kubelet log directories, scraped by a real collector."""

    def __init__(self, tmp_path: Path, names: bool = True, delay: float = 0.0) -> None:
        self.root = write_root(tmp_path / "cgroup")
        self.pod = write_cgroup(self.root / POD)
        self.logs = tmp_path / "containers"
        self.pods = tmp_path / "pods"
        self.logs.mkdir()
        add_pod_log_dir(self.pods, "shop", "cart-1", UID)
        self.names = names
        self.pod_kills = 0
        self.clock = FakeClock()
        self.registry = CollectorRegistry()
        self.collector = MemoryCollector(
            CollectorOptions(root=str(self.root), pod_log_dir=str(self.pods), container_log_dir=str(self.logs),
                             oom_new_series_delay=delay),
            registry=self.registry, clock=self.clock)
        self.history: dict[tuple, list[float]] = {}

    def cgroup(self, container_id: str) -> str:
        return f"/{POD}/cri-containerd-{container_id}.scope"

    def start(self, container_id: str, name: str) -> Path:
        if self.names:
            add_container_log(self.logs, "cart-1", "shop", name, container_id)
        return write_cgroup(self.root / self.cgroup(container_id).lstrip("/"))

    def kill(self, container_id: str, kills: int = 1) -> None:
        directory = self.root / self.cgroup(container_id).lstrip("/")
        current = int(dict(line.split() for line in (directory / "memory.events").read_text().splitlines())["oom_kill"])
        set_oom_kill(directory, current + kills)
        self.pod_kills += kills
        set_oom_kill(self.pod, self.pod_kills)

    def remove(self, container_id: str) -> None:
        shutil.rmtree(self.root / self.cgroup(container_id).lstrip("/"))

    def scrape(self, advance: float = 15.0) -> dict:
        self.clock.now += advance
        samples = parse_exposition(generate_latest(self.registry).decode())
        for (name, labels), value in samples.items():
            if name == OOM:
                self.history.setdefault(labels, []).append(value)
        return samples

    def kills(self, samples: dict, container: str) -> list[float]:
        return find(samples, OOM, pod_uid=UID, container=container)


def assert_never_decreasing(history: dict) -> None:
    for labels, values in history.items():
        assert values == sorted(values), f"counter went backwards for {dict(labels)}: {values}"


def test_repeated_kills_each_count(tmp_path):
    node = Node(tmp_path)
    node.start(ID_A, "app")
    assert node.kills(node.scrape(), "app") == [0]
    for expected in (1, 2, 3):
        node.kill(ID_A)
        assert node.kills(node.scrape(), "app") == [expected]
    assert node.kills(node.scrape(), "") == [0]
    assert_never_decreasing(node.history)


def test_removed_container_counts_through_pod(tmp_path):
    node = Node(tmp_path)
    node.start(ID_A, "app")
    node.scrape()
    node.kill(ID_A)
    node.remove(ID_A)
    node.scrape()
    samples = node.scrape()
    # Without a watcher the container's own file is gone: the pod's hierarchical counter
    # still has the kill, and the only container of the pod that vanished gets it.
    assert node.kills(samples, "app") == [1]
    assert node.kills(samples, "") == [0]
    assert find(samples, OOM, namespace="shop", pod="cart-1", container="app") == [1]
    assert_never_decreasing(node.history)


def test_kill_unnamed_when_two_containers_vanish(tmp_path):
    node = Node(tmp_path)
    node.start(ID_A, "app")
    node.start(ID_B, "sidecar")
    node.scrape()
    node.kill(ID_A)
    node.remove(ID_A)
    node.remove(ID_B)
    node.scrape()
    samples = node.scrape()
    # Either container may have been killed: the pod keeps the kill without a name.
    assert node.kills(samples, "") == [1]
    assert node.kills(samples, "app") == [0]
    assert node.kills(samples, "sidecar") == [0]
    assert_never_decreasing(node.history)


def test_unreadable_container_kill_not_counted_twice(tmp_path):
    node = Node(tmp_path)
    directory = node.start(ID_A, "app")
    node.scrape()
    node.kill(ID_A)
    events = (directory / "memory.events").read_text()
    (directory / "memory.events").write_text("garbage\n")
    node.scrape()
    samples = node.scrape()
    assert node.kills(samples, "app") == [1]
    (directory / "memory.events").write_text(events)
    node.scrape()
    samples = node.scrape()
    assert node.kills(samples, "app") == [1]
    assert node.kills(samples, "") == [0]
    assert_never_decreasing(node.history)


def test_restart_keeps_counting_under_same_name(tmp_path):
    node = Node(tmp_path)
    node.start(ID_A, "app")
    node.scrape()
    node.kill(ID_A)
    node.scrape()
    node.remove(ID_A)
    node.start(ID_B, "app")
    node.scrape()
    node.kill(ID_B, kills=2)
    samples = node.scrape()
    assert node.kills(samples, "app") == [3]
    samples = node.scrape()
    assert node.kills(samples, "") == [0]
    assert_never_decreasing(node.history)


def test_kills_before_start_are_history_not_increase(tmp_path):
    node = Node(tmp_path, delay=60)
    node.start(ID_A, "app")
    node.kill(ID_A, kills=2)
    assert node.kills(node.scrape(), "app") == [2]


def test_new_pod_series_starts_at_zero_first(tmp_path):
    node = Node(tmp_path, delay=60)
    node.scrape()
    node.start(ID_A, "app")
    node.kill(ID_A)
    # Exposed at 0 first so that increase() detects the kill once it is added.
    assert node.kills(node.scrape(advance=15), "app") == [0]
    assert node.kills(node.scrape(advance=30), "app") == [0]
    assert node.kills(node.scrape(advance=30), "app") == [1]


def test_pod_disappears_counter_kept_for_grace(tmp_path):
    node = Node(tmp_path)
    node.start(ID_A, "app")
    node.scrape()
    node.kill(ID_A)
    node.scrape()
    shutil.rmtree(node.pod)
    assert node.kills(node.scrape(advance=60), "app") == [1]
    assert node.kills(node.scrape(advance=300), "app") == []


def _wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.01)
    pytest.fail("condition not met within 5 s")


@pytest.fixture
def watched_node(tmp_path):
    from obsgen.exporter.notify import OomWatcher

    node = Node(tmp_path)
    watcher = OomWatcher(str(node.root), node.collector.tracker, node.collector.record_error, clock=node.clock)
    node.collector.watcher = watcher
    watcher.start()
    yield node
    watcher.stop()


def test_watcher_names_kill_of_removed_container(watched_node):
    node = watched_node
    node.start(ID_A, "app")
    node.scrape()
    node.kill(ID_A)
    _wait_for(lambda: node.collector.tracker.container_oom_kills(node.cgroup(ID_A)) == 1)
    node.remove(ID_A)
    samples = node.scrape()
    assert node.kills(samples, "app") == [1]
    samples = node.scrape()
    assert node.kills(samples, "app") == [1]
    assert node.kills(samples, "") == [0]
    assert_never_decreasing(node.history)


def test_watcher_sees_container_born_between_scrapes(watched_node):
    node = watched_node
    node.scrape()
    # Build the cgroup under a hidden name and rename it, so that its files
    # exist when the watcher gets the event, as they do on cgroupfs after mkdir.
    hidden = write_cgroup(node.pod / ".building")
    add_container_log(node.logs, "cart-1", "shop", "worker", ID_B)
    hidden.rename(node.root / node.cgroup(ID_B).lstrip("/"))
    _wait_for(lambda: node.collector.tracker.container_oom_kills(node.cgroup(ID_B)) == 0)
    node.kill(ID_B)
    _wait_for(lambda: node.collector.tracker.container_oom_kills(node.cgroup(ID_B)) == 1)
    node.remove(ID_B)
    node.scrape()
    samples = node.scrape()
    assert node.kills(samples, "worker") == [1]
    assert node.kills(samples, "") == [0]


def test_watcher_drops_watches_of_removed_cgroups(watched_node):
    node = watched_node
    node.start(ID_A, "app")
    node.start(ID_B, "sidecar")
    node.scrape()
    # A pod directory watch plus two files for each container.
    assert node.collector.watcher.watch_count() == 5
    node.remove(ID_B)
    node.scrape()
    assert node.collector.watcher.watch_count() == 3


# Model-based check of the tracker alone: random kills, removals, watcher
# reads, kills that land between the pod read and the container reads, and
# watcher reads that land after a scrape which already missed the container.
OPS = st.lists(st.tuples(st.sampled_from(["start", "kill", "remove", "notify", "scrape", "kill_mid_scrape",
                                          "kill_remove_late_notify"]),
                         st.integers(0, 5)), max_size=60)


@settings(max_examples=300, deadline=None)
@given(OPS)
def test_tracker_conserves_kills_and_never_decreases(ops):
    tracker = OomTracker(grace_seconds=1e9, new_series_delay=0)
    names = KubernetesNames()
    containers: dict[str, int] = {}  # live container cgroup -> oom_kill
    pod_kills = 0
    started = 0
    now = 0.0
    history: dict[OomKey, list[int]] = {}
    # The watcher only watches containers a scrape has seen or that were created
    # in a pod it already watches, i.e. after the first scrape.
    watchable: set[str] = set()

    def scrape(kill_between: str | None = None) -> None:
        nonlocal pod_kills, now
        now += 1
        watchable.update(containers)
        tracker.observe_pod(UID, pod_kills, now)
        if kill_between is not None:
            containers[kill_between] += 1
            pod_kills += 1
        for cgroup, value in sorted(containers.items()):
            tracker.observe_container(cgroup, UID, cgroup[-64:], value, now)
        tracker.finish_scrape(names, now)
        for key, counter in tracker.counters():
            history.setdefault(key, []).append(counter.value)

    for op, index in ops:
        live = sorted(containers)
        target = live[index % len(live)] if live else None
        if op == "start":
            started += 1
            containers[f"/pod/c{started:064d}"] = 0
            if now > 0:
                watchable.add(f"/pod/c{started:064d}")
        elif op == "kill" and target:
            containers[target] += 1
            pod_kills += 1
        elif op == "remove" and target:
            del containers[target]
        elif op == "notify" and target in watchable:
            tracker.observe_container(target, UID, target[-64:], containers[target], now)
        elif op == "scrape":
            scrape()
        elif op == "kill_mid_scrape" and target:
            scrape(kill_between=target)
        elif op == "kill_remove_late_notify" and target in watchable:
            pod_kills += 1
            final = containers.pop(target) + 1
            scrape()
            tracker.observe_container(target, UID, target[-64:], final, now)
    scrape()
    scrape()

    for key, values in history.items():
        assert values == sorted(values), f"{key} went backwards: {values}"
    total = sum(counter.value for _key, counter in tracker.counters())
    assert total == pod_kills
