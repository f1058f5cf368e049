"""OOM kill accounting per Kubernetes container, across container restarts.

A runtime removes an OOM-killed container's cgroup within a second, usually
before the next scrape, so the container's own ``memory.events`` is gone when
the exporter looks. This module keeps one counter per (pod UID, container
name) and feeds it from three sources:

1. The ``oom_kill`` value of every container cgroup seen by a scrape. The
   increase since the previous value of the same cgroup is added to the
   counter of its container name. A new container cgroup starts from 0.
2. Reads made by the file-change watcher (see ``notify.py``) when a
   container's ``memory.events`` or ``cgroup.events`` changes, which is
   usually before the runtime removes the cgroup. They go through the same
   path as 1.
3. The hierarchical ``oom_kill`` of the pod cgroup, which outlives its
   containers. Whatever it counts beyond the kills attributed to containers
   goes to the one container of the pod that vanished in the window those
   kills happened in, when exactly one did, and otherwise to the pod's
   ``container=""`` counter. A scrape reads the pod
   before its containers, so this residual never includes a kill still to be
   attributed in the same scrape. A kill enters the residual only one scrape
   after the pod's counter showed it, so a watcher read that lands just after
   a scrape does not count it twice. This assumes a watcher read takes less
   than a scrape interval.

Counters only go up. They are kept while their pod cgroup exists and for a
grace period after it disappears.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import NamedTuple

from .names import KubernetesNames


class OomKey(NamedTuple):
    """Identity of one OOM kill counter; ``container`` is "" when unknown."""

    pod_uid: str
    container: str


@dataclass
class OomCounter:
    """One exposed counter; ``deferred`` kills are added at ``ready_at``, after the series was exposed at 0."""

    namespace: str
    pod: str
    value: int = 0
    deferred: int = 0
    ready_at: float = 0.0
    last_seen: float = 0.0


@dataclass
class _ContainerState:
    pod_uid: str
    container_id: str
    oom_kill: int
    key: OomKey | None = None
    pending: int = 0
    last_seen: float = 0.0
    # Number of the last scrape that read the cgroup; for a cgroup only the watcher read, the
    # number of scrapes finished when it did. Scrapes are numbered from 1.
    alive_at_scrape: int = 0
    # Number of the first scrape after alive_at_scrape that did not read it: the cgroup was gone.
    vanished_at_scrape: int | None = None
    # Kills the pod residual gave this container; a later read of the same kills does not add them again.
    assumed_kills: int = 0


@dataclass
class _PodState:
    hierarchical: int = 0
    attributed: int = 0
    unknown: int = 0
    previous_hierarchical: int | None = None
    observed_this_scrape: bool = False
    last_seen: float = 0.0


class OomTracker:
    """OOM kill counters per (pod UID, container name); thread-safe.

    ``grace_seconds`` is how long state of vanished pods and containers is
    kept. ``new_series_delay`` is how long a counter created after the first
    scrape is exposed at 0 before kills counted at its creation are added.
    A series that appears already above 0 shows no increase to
    ``increase()``, so without the delay Prometheus would miss that kill.
    """

    def __init__(self, grace_seconds: float = 300.0, new_series_delay: float = 60.0) -> None:
        self._lock = threading.Lock()
        self._grace = grace_seconds
        self._new_series_delay = new_series_delay
        self._containers: dict[str, _ContainerState] = {}
        self._pods: dict[str, _PodState] = {}
        self._counters: dict[OomKey, OomCounter] = {}
        self._scrapes = 0
        self._latest = float("-inf")

    def observe_pod(self, pod_uid: str, hierarchical_oom_kill: int, now: float) -> None:
        """Record the pod cgroup's hierarchical ``oom_kill``; call before its containers."""
        with self._lock:
            pod = self._pods.setdefault(pod_uid, _PodState())
            pod.hierarchical = max(pod.hierarchical, hierarchical_oom_kill)
            pod.observed_this_scrape = True
            pod.last_seen = now
            self._latest = max(self._latest, now)

    def observe_container(self, cgroup: str, pod_uid: str, container_id: str, oom_kill: int,
                          now: float | None = None) -> None:
        """Record the ``oom_kill`` of a container cgroup (from a scrape or the watcher).

        ``now`` None (the watcher, which runs on its own clock) means the time of the latest scrape.
        """
        from_scrape = now is not None
        with self._lock:
            if now is None:
                now = self._latest
            self._latest = max(self._latest, now)
            state = self._containers.get(cgroup)
            if state is None:
                state = _ContainerState(pod_uid=pod_uid, container_id=container_id, oom_kill=0)
                self._containers[cgroup] = state
            # A scrape in progress has the number of the scrapes finished plus one.
            state.alive_at_scrape = max(state.alive_at_scrape, self._scrapes + 1 if from_scrape else self._scrapes)
            state.vanished_at_scrape = None
            # A smaller value means a new cgroup at the same path: count from 0.
            delta = oom_kill - state.oom_kill if oom_kill >= state.oom_kill else oom_kill
            if delta > 0 and state.assumed_kills:
                # The cgroup was only unreadable, not gone: these kills are already counted.
                already_counted = min(delta, state.assumed_kills)
                delta -= already_counted
                state.assumed_kills -= already_counted
            state.oom_kill = oom_kill
            state.last_seen = now
            if delta > 0:
                state.pending += delta
                self._pods.setdefault(pod_uid, _PodState(last_seen=now)).attributed += delta

    def container_oom_kills(self, cgroup: str) -> int | None:
        """Return the last ``oom_kill`` recorded for a container cgroup, None if never observed."""
        with self._lock:
            state = self._containers.get(cgroup)
            return None if state is None else state.oom_kill

    def finish_scrape(self, names: KubernetesNames, now: float) -> None:
        """Attribute pending kills to counters, take pod residuals and expire old state."""
        with self._lock:
            self._latest = max(self._latest, now)
            first_scrape = self._scrapes == 0
            self._scrapes += 1
            self._release_deferred(now)
            for state in self._containers.values():
                if state.alive_at_scrape < self._scrapes and state.vanished_at_scrape is None:
                    state.vanished_at_scrape = self._scrapes
                self._apply_container(state, names, now, first_scrape)
            for pod_uid, pod in self._pods.items():
                if pod.observed_this_scrape:
                    self._apply_residual(pod_uid, pod, names, now, first_scrape)
                    pod.observed_this_scrape = False
            self._expire(now)

    def counters(self) -> list[tuple[OomKey, OomCounter]]:
        """Return a sorted snapshot of all live counters."""
        with self._lock:
            return [(key, OomCounter(**vars(counter))) for key, counter in sorted(self._counters.items())]

    def _counter(self, key: OomKey, namespace: str, pod: str, now: float, first_scrape: bool) -> OomCounter:
        counter = self._counters.get(key)
        if counter is None:
            # Kills found by the first scrape happened before the exporter
            # started: they are history, not increases, so no delay.
            ready_at = now if first_scrape else now + self._new_series_delay
            counter = OomCounter(namespace=namespace, pod=pod, ready_at=ready_at, last_seen=now)
            self._counters[key] = counter
        elif namespace and not counter.namespace:
            counter.namespace, counter.pod = namespace, pod
        return counter

    @staticmethod
    def _add(counter: OomCounter, kills: int, now: float) -> None:
        if now >= counter.ready_at:
            counter.value += kills
        else:
            counter.deferred += kills

    def _release_deferred(self, now: float) -> None:
        for counter in self._counters.values():
            if counter.deferred and now >= counter.ready_at:
                counter.value += counter.deferred
                counter.deferred = 0

    def _apply_container(self, state: _ContainerState, names: KubernetesNames, now: float, first_scrape: bool) -> None:
        if state.key is None or state.key.container == "":
            found = names.containers.get(state.container_id)
            if found is not None:
                state.key = OomKey(state.pod_uid, found.container)
                namespace, pod = found.namespace, found.pod
            else:
                state.key = OomKey(state.pod_uid, "")
                namespace, pod = _pod_names(state.pod_uid, names)
        else:
            namespace, pod = _pod_names(state.pod_uid, names)
        counter = self._counter(state.key, namespace, pod, now, first_scrape)
        counter.last_seen = max(counter.last_seen, state.last_seen)
        if state.pending:
            self._add(counter, state.pending, now)
            state.pending = 0

    def _apply_residual(self, pod_uid: str, pod: _PodState, names: KubernetesNames, now: float, first_scrape: bool) -> None:
        if pod.previous_hierarchical is None:
            # Kills a pod shows at the exporter's first scrape are history and
            # are taken at once. A pod first seen later waits one scrape.
            unattributed = pod.hierarchical - pod.attributed if first_scrape else 0
        else:
            # Only kills already counted by the previous scrape: any watcher
            # read for them has landed by now, so none is counted twice.
            unattributed = pod.previous_hierarchical - pod.attributed
        pod.previous_hierarchical = pod.hierarchical
        namespace, pod_name = _pod_names(pod_uid, names)
        counter = self._counter(OomKey(pod_uid, ""), namespace, pod_name, now, first_scrape)
        counter.last_seen = now
        if unattributed > pod.unknown:
            new_kills = unattributed - pod.unknown
            pod.unknown = unattributed
            killed = self._only_vanished_container(pod_uid)
            if killed is not None and killed.key is not None and killed.key.container:
                # Counted as the container's own kills, so its pod's residual stays consistent.
                pod.attributed += new_kills
                pod.unknown -= new_kills
                killed.assumed_kills += new_kills
                self._add(self._counter(killed.key, namespace, pod_name, now, first_scrape), new_kills, now)
            else:
                self._add(counter, new_kills, now)

    def _only_vanished_container(self, pod_uid: str) -> _ContainerState | None:
        """Return the one container of the pod that can account for the residual's kills, if only one can.

        The residual of scrape n contains kills the pod counted at scrape n-1 and not at n-2. Their
        container was alive after the pod was read at n-2 and gone before scrape n-1 read it, so
        it vanished at scrape n-2 or n-1. Live containers are read by every scrape, so their
        kills are never in the residual.
        """
        # NOTE: a container that vanished before any scrape or watcher read saw it is unknown here.
        # If it was killed while one known container of the pod exited, the kill goes to the latter.
        window = (self._scrapes - 2, self._scrapes - 1)
        candidates = [state for state in self._containers.values()
                      if state.pod_uid == pod_uid and state.vanished_at_scrape in window]
        return candidates[0] if len(candidates) == 1 else None

    def _expire(self, now: float) -> None:
        limit = now - self._grace
        self._containers = {path: s for path, s in self._containers.items() if s.last_seen >= limit}
        self._pods = {uid: p for uid, p in self._pods.items() if p.last_seen >= limit}
        live_pods = set(self._pods)
        self._counters = {
            key: c for key, c in self._counters.items() if c.last_seen >= limit or key.pod_uid in live_pods
        }


def _pod_names(pod_uid: str, names: KubernetesNames) -> tuple[str, str]:
    found = names.pods.get(pod_uid)
    if found is None:
        return "", ""
    return found.namespace, found.pod
