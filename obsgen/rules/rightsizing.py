"""Right-sizing rules: long-window usage statistics per container and the oversized-request alert.

Two groups keep the long windows cheap. The rollup group runs every 5 minutes and records the
peak, mean and idle request of each 5-minute window. The statistics group runs at the catalog's
evaluation interval and reads those rollups, so a 7-day statistic costs 2,016 samples per
container. The statistics group still runs often because its output is read by alerts and
dashboards through instant lookups, which must always find a sample within the lookback window.
"""

from __future__ import annotations

from obsgen import conventions as names
from obsgen import promql
from obsgen.catalog.model import SOURCE_KUBERNETES
from obsgen.rules.alerts import Owner, Rule, _alert, _series

OVERSIZED = "ContainerMemoryRequestOversized"

_WHO = "{{ $labels.namespace }}/{{ $labels.pod }} container {{ $labels.container }}"


def rollup_rules() -> list[Rule]:
    """Return the 5-minute rollups; their group must run every ``ROLLUP_WINDOW_S`` seconds.

    Every source's working set is rolled up, so the obsgen_source label carries through.
    The idle request reads the rollup of the same evaluation, since rules of a group run in order.
    """
    window = promql.duration(names.ROLLUP_WINDOW_S)
    return [
        {"record": names.WORKING_SET_PEAK_5M, "expr": f"max_over_time({names.WORKING_SET}[{window}])"},
        {"record": names.WORKING_SET_AVG_5M, "expr": f"avg_over_time({names.WORKING_SET}[{window}])"},
        {"record": names.REQUEST_IDLE_5M,
         "expr": f"clamp_min({names.REQUEST} - {names.WORKING_SET_AVG_5M}, 0)"},
    ]


def statistics_rules() -> list[Rule]:
    """Return the 1-day and 7-day mean, percentile and peak of use, and the idle request.

    The byte-seconds series multiplies the sum of 5-minute idle means by 300 s, so a container
    that lived part of the window is charged only for the time it lived. Under the closed ranges
    of Prometheus 2.x the sum may count one rollup sample more than 3.x does (0.35% of a day).
    """
    quantile = promql.number(names.RIGHTSIZING_QUANTILE)
    rules: list[Rule] = []
    for window_s in names.RIGHTSIZING_WINDOWS_S:
        window = promql.duration(window_s)
        rules += [
            {"record": names.working_set_avg(window_s),
             "expr": f"avg_over_time({names.WORKING_SET_AVG_5M}[{window}])"},
            {"record": names.working_set_quantile(window_s),
             "expr": f"quantile_over_time({quantile}, {names.WORKING_SET_PEAK_5M}[{window}])",
             "labels": {"quantile": quantile}},
            {"record": names.working_set_peak(window_s),
             "expr": f"max_over_time({names.WORKING_SET_PEAK_5M}[{window}])"},
            {"record": names.request_idle(window_s),
             "expr": f"avg_over_time({names.REQUEST_IDLE_5M}[{window}])"},
            {"record": names.request_idle_byte_seconds(window_s),
             "expr": f"sum_over_time({names.REQUEST_IDLE_5M}[{window}]) * {names.ROLLUP_WINDOW_S}"},
        ]
    return rules


def rightsizing_alerts(owner: Owner) -> list[Rule]:
    """Return the oversized-request alert of one owner, or nothing when it is off or has no requests.

    Requests come from kube-state-metrics, so the alert needs the kubernetes source. Its value is
    the request as a multiple of the 7-day peak.
    """
    oversized = owner.settings.oversized_request
    if not oversized.enabled or SOURCE_KUBERNETES not in owner.settings.sources:
        return []
    week = names.RIGHTSIZING_WINDOWS_S[-1]
    request = _series(owner, names.REQUEST, SOURCE_KUBERNETES)
    peak = _series(owner, names.working_set_peak(week), SOURCE_KUBERNETES)
    expr = (f"{request} / {peak} > {promql.number(oversized.ratio)}\n"
            f"and\n"
            f"{request} - {peak} > {oversized.min_idle_bytes}")
    description = (f"{_WHO} requests {{{{ $value | printf \"%.1f\" }}}} times the most memory it used in 7 days, "
                   f"and has for {promql.duration(oversized.for_s)}. The scheduler reserves the request on a node "
                   f"whether it is used or not; `obsgen recommend` proposes a request and a limit.")
    return [_alert(owner, OVERSIZED, expr, oversized.for_s, oversized.severity,
                   "A container requests far more memory than it has used in a week.", description)]
