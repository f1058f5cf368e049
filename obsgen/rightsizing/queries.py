"""PromQL for right-sizing: the efficiency panels and the history that ``obsgen recommend`` reads.

Panel queries read only recorded series of the contract (``conventions``). The history queries
exist in two forms: one over the recorded 5-minute rollups, and one over the raw cAdvisor and
kube-state-metrics series for a Prometheus that does not run obsgen's rules (yet).
"""

from __future__ import annotations

from dataclasses import dataclass

from obsgen import conventions as names
from obsgen import promql
from obsgen.catalog.model import SOURCE_KUBERNETES, Catalog
from obsgen.rules.build import settings_in_use
from obsgen.sources.kubernetes import REAL_CONTAINERS

WEEK_S = names.RIGHTSIZING_WINDOWS_S[-1]
#: A container whose 7-day peak reaches this share of its limit counts as "limit below peak".
LIMIT_PEAK_SHARE = 0.95


# -- efficiency panels ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Scope:
    """Which containers a panel shows.

    ``service`` is a regular expression over ``obsgen_service`` (a service name, or a dashboard
    variable such as ``$service``); None means the whole fleet. ``matchers`` are added to every
    series, for example ``namespace=~"$namespace"``.
    """

    cluster_label: str
    service: str | None = None
    matchers: tuple[str, ...] = ()


def _kubernetes(scope: Scope, metric: str) -> str:
    return promql.selector(metric, *scope.matchers, promql.matcher(names.SOURCE_LABEL, "=", SOURCE_KUBERNETES))


def _of_service(scope: Scope, expr: str) -> str:
    """Keep the containers in ``scope``, adding their obsgen_service label.

    ``topk`` keeps one membership series per container, so a container that two services'
    selectors claim cannot make the join fail.
    """
    labels = names.container_labels(scope.cluster_label)
    matchers = list(scope.matchers)
    if scope.service is not None:
        matchers.append(promql.matcher(names.SERVICE_LABEL, "=~", scope.service))
    info = f"topk {promql.by(labels)} (1, {promql.selector(names.SERVICE_INFO, *matchers)})"
    return f"{expr}\n* {promql.on(labels)} group_left ({names.SERVICE_LABEL})\n{info}"


def requested_vs_used(scope: Scope) -> dict[str, str]:
    """Return, per container, the request and the 7-day mean and peak working set (bytes).

    Keys are the legend of each series: ``request``, ``average`` and ``peak``.
    """
    return {
        "request": _of_service(scope, _kubernetes(scope, names.REQUEST)),
        "average": _of_service(scope, _kubernetes(scope, names.working_set_avg(WEEK_S))),
        "peak": _of_service(scope, _kubernetes(scope, names.working_set_peak(WEEK_S))),
    }


def idle_request_total(scope: Scope) -> str:
    """Return the request that is reserved and not used right now, summed (bytes)."""
    return f"sum (\n{_of_service(scope, _kubernetes(scope, names.REQUEST_IDLE_5M))}\n)"


def idle_request_gib_hours(scope: Scope) -> str:
    """Return the idle request of the last 7 days in GiB-hours, the unit memory is billed in."""
    byte_seconds = _kubernetes(scope, names.request_idle_byte_seconds(WEEK_S))
    return f"sum (\n{_of_service(scope, byte_seconds)}\n) / 3600 / 1073741824"


def top_wasting_services(scope: Scope, count: int = 10) -> str:
    """Return the ``count`` services with the largest mean idle request over 7 days (bytes)."""
    idle = _of_service(scope, _kubernetes(scope, names.request_idle(WEEK_S)))
    return f"topk ({count}, sum by ({names.SERVICE_LABEL}) (\n{idle}\n))"


def peak_share_of_limit(scope: Scope, count: int = 20) -> str:
    """Return the ``count`` containers whose 7-day peak working set is the largest share of their limit.

    The working set cannot exceed the limit, so a share near 1 means the kernel reclaimed hard
    or OOM-killed the container at its limit, and will again.
    """
    ratio = f"{_kubernetes(scope, names.working_set_peak(WEEK_S))} / {_kubernetes(scope, names.LIMIT)}"
    return f"topk ({count}, {_of_service(scope, ratio)})"


def limit_below_peak(scope: Scope) -> str:
    """Return the containers whose 7-day peak reached ``LIMIT_PEAK_SHARE`` of the limit (value: the share)."""
    ratio = f"{_kubernetes(scope, names.working_set_peak(WEEK_S))} / {_kubernetes(scope, names.LIMIT)}"
    return _of_service(scope, f"({ratio} >= {promql.number(LIMIT_PEAK_SHARE)})")


# -- history for obsgen recommend -------------------------------------------------------------------

@dataclass(frozen=True)
class HistoryQueries:
    """The range queries (step ``ROLLUP_WINDOW_S``) that give one container's history.

    Every query returns one series per (cluster, namespace, pod, container).
    ``peaks`` and ``means`` are the 5-minute peak and mean working set (bytes). ``requests`` and
    ``limits`` are the configured values (bytes). ``oom_kills`` is positive in steps where the
    container was OOM-killed.
    """

    peaks: str
    means: str
    requests: str
    limits: str
    oom_kills: str
    #: Instant query, non-empty when the history has a sample in the hour before its time.
    probe: str


def recorded_history(catalog: Catalog) -> HistoryQueries:
    """Return the history queries over obsgen's recorded series.

    NOTE: they read the kubernetes source only, because requests come from kube-state-metrics.
    A catalog that lists only the exporter source gets recommendations from ``raw_history``.
    """
    group = promql.by(names.container_labels(catalog.cluster_label))
    source = promql.matcher(names.SOURCE_LABEL, "=", SOURCE_KUBERNETES)
    # The shortest OOM window in use is always recorded, whichever services override it.
    oom_window_s = min(settings.oom.window_s for settings in settings_in_use(catalog))
    oom = promql.selector(names.oom_kills(oom_window_s), source)
    return HistoryQueries(
        peaks=f"max {group} ({promql.selector(names.WORKING_SET_PEAK_5M, source)})",
        means=f"max {group} ({promql.selector(names.WORKING_SET_AVG_5M, source)})",
        requests=f"max {group} ({promql.selector(names.REQUEST, source)})",
        limits=f"max {group} ({promql.selector(names.LIMIT, source)})",
        # Present for one OOM alert window after each kill; ``collect`` merges consecutive steps.
        oom_kills=f"max {group} ({oom})",
        probe=f"count (last_over_time({promql.selector(names.WORKING_SET_PEAK_5M, source)}[1h]))",
    )


def raw_history(catalog: Catalog) -> HistoryQueries:
    """Return the history queries over raw cAdvisor and kube-state-metrics series."""
    labels = names.container_labels(catalog.cluster_label)
    group, match = promql.by(labels), promql.on(labels)
    cadvisor, ksm = catalog.selectors.cadvisor, catalog.selectors.kube_state_metrics
    window = promql.duration(names.ROLLUP_WINDOW_S)
    working_set = f"container_memory_working_set_bytes{{{cadvisor}, {REAL_CONTAINERS}}}"
    restarts = f"kube_pod_container_status_restarts_total{{{ksm}}}"
    reason = f'kube_pod_container_status_last_terminated_reason{{{ksm}, reason="OOMKilled"}}'
    return HistoryQueries(
        peaks=f"max {group} (max_over_time({working_set}[{window}]))",
        means=f"max {group} (avg_over_time({working_set}[{window}]))",
        requests=f'max {group} (kube_pod_container_resource_requests{{{ksm}, resource="memory"}})',
        limits=f'max {group} (kube_pod_container_resource_limits{{{ksm}, resource="memory"}})',
        # Twice the step, because increase() counts only changes between samples inside one window:
        # a restart between the last scrape of one step and the first of the next is in no 5m window.
        oom_kills=(f"max {group} (increase({restarts}[{promql.duration(2 * names.ROLLUP_WINDOW_S)}])) > 0\n"
                   f"and {match}\nmax {group} ({reason}) == 1"),
        probe=f"count (last_over_time({working_set}[1h]))",
    )
