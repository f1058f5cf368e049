"""The end-to-end scenario: the workloads the test VM runs, shared by the guest and the host test.

Names (namespace, workload, container) must match the services of ``catalog.yaml`` beside this
file; the host test checks that before it boots anything. Sizes are in MiB, times in seconds.
Only the standard library is used, because the guest imports this module too.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Port the exporter listens on inside the guest; the host forwards a free local port to it.
EXPORTER_PORT = 9464
#: Seconds between Prometheus scrapes of the exporter, and the scrape timeout. Under software
#: emulation on a busy 2-core machine one scrape has taken up to 7 s, and a scrape that times out
#: marks every series stale. The exporter's --oom-new-series-delay is set to it, as its help text
#: requests.
SCRAPE_INTERVAL = 10

STEADY = "steady"
LEAK = "leak"
CRASHLOOP = "crashloop"
THROTTLED = "throttled"


@dataclass(frozen=True)
class Workload:
    """One container of the node and what its process does.

    ``behaviour`` is one of STEADY (a constant base with a short allocation burst every
    ``period``), LEAK (grows by ``rate_mib_per_s`` until its limit kills it, with the same
    bursts), CRASHLOOP (keeps ``base_mib``, then allocates until killed after ``spike_after[i]``
    seconds of run i; the last run never spikes) and THROTTLED (keeps ``base_mib`` above its
    memory.high and keeps allocating and freeing ``burst_mib``).
    """

    service: str
    team: str
    namespace: str
    pod: str
    container: str
    qos: str
    behaviour: str
    memory_max_mib: int | None = None
    memory_high_mib: int | None = None
    base_mib: int = 8
    burst_mib: int = 0
    period: float = 4.0
    rate_mib_per_s: float = 0.0
    spike_after: tuple[float, ...] = ()


# Pod names follow the Deployment pattern <workload>-<template hash>-<suffix>, drawn from
# Kubernetes' vowel-free alphabet, so the catalog's `workload` selectors match them.
WORKLOADS: tuple[Workload, ...] = (
    Workload("ledger", "payments", "bank", "ledger-6c8f9d7b5-x2kzq", "server", "burstable", STEADY,
             memory_max_mib=64, base_mib=16, burst_mib=8, period=4.0),
    Workload("indexer", "search", "shop", "indexer-7d9b8c6f4-m4tgw", "worker", "burstable", LEAK,
             memory_max_mib=64, base_mib=4, burst_mib=4, period=3.0, rate_mib_per_s=0.25),
    # The second run spikes after the OOM alert of the first kill resolved (the catalog's
    # oom.window), so each kill opens its own alert.
    Workload("checkout", "storefront", "shop", "checkout-5f7c9d8b6-q9vzr", "api", "burstable", CRASHLOOP,
             memory_max_mib=48, base_mib=12, spike_after=(15.0, 90.0, 1e9)),
    Workload("thumbnailer", "media", "media", "thumbnailer-8b6d7f9c5-r7wnh", "resize", "burstable",
             THROTTLED, memory_max_mib=128, memory_high_mib=16, base_mib=20, burst_mib=1, period=0.25),
)

#: Seconds the kubelet waits before restarting a crashed container: 10 s, doubling each time
#: (the kubelet's CrashLoopBackOff, capped at 5 minutes).
RESTART_BACKOFF = (10.0, 20.0, 40.0)


def by_behaviour(behaviour: str) -> Workload:
    """Return the one workload with ``behaviour``."""
    (found,) = [workload for workload in WORKLOADS if workload.behaviour == behaviour]
    return found
