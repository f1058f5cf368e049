"""The recommendation method: from a container's usage history to a memory request and limit.

Everything here is a pure function of the history, so the same code serves ``obsgen recommend``,
its tests and the benchmark. ``docs/rightsizing.md`` explains and defends each choice:

- request = the ``quantile`` of the 5-minute peaks, over the whole window and over the last
  ``recent_s`` (whichever is higher, so that a recent step up counts), plus ``request_margin``,
  and at least ``min_request``;
- limit = the highest of the observed peak, the peak projected ``growth_horizon_s`` ahead when
  the peaks grow steadily, and the OOM bump above the limit at each OOM kill; plus ``limit_margin``.
  The limit is never below an observed peak and never below the request;
- less than ``min_history_s`` of history gives no recommendation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

MIB = 1024 * 1024
DAY_S = 86400
HOUR_S = 3600


@dataclass(frozen=True)
class Unit:
    """A workload's container: what one request and one limit apply to, across its pods."""

    cluster: str
    namespace: str
    workload: str
    container: str
    #: The catalog service that claims the container ("fleet" for unclaimed containers).
    service: str


@dataclass(frozen=True)
class Kill:
    """One OOM kill: when it happened (Unix seconds) and the limit then (bytes, None if unknown)."""

    time: float
    limit: int | None


@dataclass(frozen=True)
class History:
    """The usage of one unit over a window that ends at ``end`` (Unix seconds).

    ``peaks`` contains (time, bytes) pairs: each pod's peak working set over the ``step_s``
    seconds before ``time``. Pods of one workload run side by side, so several pairs may share a time.
    """

    unit: Unit
    end: float
    window_s: int
    peaks: tuple[tuple[float, float], ...]
    #: (time, bytes) pairs of each pod's mean working set over the step; the peaks stand in when empty.
    means: tuple[tuple[float, float], ...] = ()
    request: int | None = None
    limit: int | None = None
    kills: tuple[Kill, ...] = ()
    step_s: int = 300


@dataclass(frozen=True)
class Policy:
    """The tunables of the method; the defaults are the ones ``docs/rightsizing.md`` defends."""

    quantile: float = 0.95
    request_margin: float = 0.10
    limit_margin: float = 0.20
    min_request: int = 32 * MIB
    min_history_s: int = DAY_S
    recent_s: int = DAY_S
    growth_horizon_s: int = 7 * DAY_S
    #: A growth trend counts when a line explains at least this share of the hourly peaks' variance
    min_growth_fit: float = 0.5
    #: and when it adds at least this share of the peak over the horizon.
    min_growth_share: float = 0.05
    #: The last ``recent_s`` set the request when their percentile is this much above the window's.
    recent_step_up: float = 0.05
    oom_bump_ratio: float = 1.2
    oom_bump_min: int = 100 * MIB
    round_to: int = MIB


@dataclass(frozen=True)
class Observed:
    """Statistics of a history (bytes); ``growth_per_day`` is 0 unless a steady trend was found."""

    history_s: int
    average: float
    percentile: float
    recent_percentile: float
    peak: float
    recent_peak: float
    growth_per_day: float


@dataclass(frozen=True)
class Recommendation:
    """The outcome for one unit. ``request`` and ``limit`` are None when there is too little history."""

    unit: Unit
    current_request: int | None
    current_limit: int | None
    observed: Observed | None
    request: int | None
    limit: int | None
    reasons: tuple[str, ...] = field(default=())


def quantile(values: list[float], q: float) -> float:
    """Return the ``q`` quantile of ``values`` with linear interpolation, as PromQL's quantile_over_time."""
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def covered_seconds(history: History) -> int:
    """Return how much time the history covers: distinct steps with a sample times the step."""
    return len({round(time) for time, _ in history.peaks}) * history.step_s


def hourly_peaks(peaks: tuple[tuple[float, float], ...]) -> list[tuple[float, float]]:
    """Return the peak of each hour that has samples, as (hour start, bytes), in time order."""
    hours: dict[int, float] = {}
    for time, value in peaks:
        hour = int(time // HOUR_S)
        hours[hour] = max(value, hours.get(hour, value))
    return [(hour * HOUR_S, hours[hour]) for hour in sorted(hours)]


def growth_per_second(points: list[tuple[float, float]], min_fit: float) -> float:
    """Return the least-squares slope of ``points`` (bytes per second) when it is a steady rise, else 0.

    A rise counts when the line explains at least ``min_fit`` of the variance (R squared), which
    separates steady growth from a sawtooth or a daily cycle whose line is flat or fits badly.
    """
    if len(points) < 3:
        return 0.0
    count = len(points)
    mean_t = sum(t for t, _ in points) / count
    mean_v = sum(v for _, v in points) / count
    var_t = sum((t - mean_t) ** 2 for t, _ in points)
    var_v = sum((v - mean_v) ** 2 for _, v in points)
    if var_t == 0 or var_v == 0:
        return 0.0
    cov = sum((t - mean_t) * (v - mean_v) for t, v in points)
    slope = cov / var_t
    r_squared = cov * cov / (var_t * var_v)
    return slope if slope > 0 and r_squared >= min_fit else 0.0


def observe(history: History, policy: Policy) -> Observed:
    """Compute the statistics a recommendation rests on; ``history.peaks`` must not be empty."""
    values = [value for _, value in history.peaks]
    means = [value for _, value in history.means] or values
    recent = [value for time, value in history.peaks if time > history.end - policy.recent_s] or values
    slope = growth_per_second(hourly_peaks(history.peaks), policy.min_growth_fit)
    return Observed(
        history_s=covered_seconds(history),
        average=sum(means) / len(means),
        percentile=quantile(values, policy.quantile),
        recent_percentile=quantile(recent, policy.quantile),
        peak=max(values),
        recent_peak=max(recent),
        growth_per_day=slope * DAY_S,
    )


def round_up(value: float, step: int) -> int:
    """Return ``value`` rounded up to a multiple of ``step`` bytes."""
    return int(math.ceil(value / step) * step)


def mib(value: float) -> str:
    """Return bytes as a short human text in MiB, such as ``212Mi``."""
    return f"{value / MIB:.0f}Mi"


def _growth(observed: Observed, policy: Policy) -> float:
    """Return the growth (bytes) projected over the horizon, or 0 when it is too small to plan for."""
    growth = observed.growth_per_day * policy.growth_horizon_s / DAY_S
    return growth if growth >= policy.min_growth_share * observed.peak else 0.0


def _request(observed: Observed, policy: Policy) -> tuple[float, str]:
    label = f"p{policy.quantile * 100:g}"
    if observed.recent_percentile > observed.percentile * (1 + policy.recent_step_up):
        days = policy.recent_s / DAY_S
        base, reason = observed.recent_percentile, f"{label} of 5-min peaks over the last {days:g}d"
    else:
        base, reason = observed.percentile, f"{label} of 5-min peaks"
    growth = _growth(observed, policy)
    if growth and observed.recent_percentile + growth / 2 > base:
        # Steady growth: reserve the mean of the coming horizon, halfway up the projected rise.
        base = observed.recent_percentile + growth / 2
        reason = f"{label} of 5-min peaks over the last {policy.recent_s / DAY_S:g}d + half the growth projected"
    target = base * (1 + policy.request_margin)
    if target < policy.min_request:
        return policy.min_request, f"request: floor {mib(policy.min_request)} ({reason} is {mib(base)})"
    return target, f"request: {reason} {mib(base)} + {policy.request_margin:.0%}"


def _limit(history: History, observed: Observed, policy: Policy) -> tuple[float, str]:
    """Return the limit before rounding and the reason for it: the highest of the candidates.

    After an OOM kill the demand above the limit was never observed. The bump (VPA's) estimates
    that demand, and the margin then covers the estimate as it covers an observed peak.
    """
    margin = 1 + policy.limit_margin
    candidates = [(observed.peak * margin, f"limit: peak {mib(observed.peak)} + {policy.limit_margin:.0%}")]
    growth = _growth(observed, policy)
    if growth:
        projected = max(observed.peak, observed.recent_peak + growth)
        reason = (f"limit: peaks grow {mib(observed.growth_per_day)}/day, projected peak in "
               f"{policy.growth_horizon_s / DAY_S:g}d {mib(projected)} + {policy.limit_margin:.0%} (look for a leak)")
        candidates.append((projected * margin, reason))
    killed_at = [kill.limit for kill in history.kills if kill.limit]
    if history.kills:
        limit_then = max(killed_at) if killed_at else observed.peak
        bumped = max(limit_then * policy.oom_bump_ratio, limit_then + policy.oom_bump_min)
        reason = (f"limit: OOM-killed {len(history.kills)}x at limit {mib(limit_then)}, demand unknown above it: "
               f"x{policy.oom_bump_ratio:g} or +{mib(policy.oom_bump_min)}, the larger, + {policy.limit_margin:.0%}")
        candidates.append((bumped * margin, reason))
    return max(candidates, key=lambda candidate: candidate[0])


def recommend(history: History, policy: Policy = Policy()) -> Recommendation:
    """Return the recommended request and limit of one unit, with the reasons behind them."""
    if not history.peaks:
        return Recommendation(history.unit, history.request, history.limit, None, None, None,
                              ("no usage samples in the window",))
    observed = observe(history, policy)
    if observed.history_s < policy.min_history_s:
        reason = (f"too little history: {observed.history_s / HOUR_S:.1f}h of usage, need "
                  f"{policy.min_history_s / HOUR_S:g}h; no recommendation")
        return Recommendation(history.unit, history.request, history.limit, observed, None, None, (reason,))

    request, request_reason = _request(observed, policy)
    limit, limit_reason = _limit(history, observed, policy)
    request_bytes = round_up(request, policy.round_to)
    limit_bytes = max(round_up(limit, policy.round_to), request_bytes, round_up(observed.peak, policy.round_to))
    reasons = (request_reason, limit_reason)
    if observed.history_s < history.window_s * 0.9:
        reasons += (f"note: history covers {observed.history_s / DAY_S:.1f}d of the "
                    f"{history.window_s / DAY_S:g}d window",)
    return Recommendation(history.unit, history.request, history.limit, observed, request_bytes, limit_bytes,
                          reasons)
