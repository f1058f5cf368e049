"""Compare obsgen's memory recommendations with VPA-style and krr-style rules by simulation.

Each synthetic container has two weeks of true memory demand at 1-minute resolution. Every method
sees the first week (as Prometheus would show it: usage capped at the old limit, OOM kills
visible) and sets a request and a limit; the second week is then replayed against those settings:

- reserved memory is the request held for the whole week (GiB-hours), what the scheduler sets aside;
- an OOM kill is a minute in which demand exceeds the limit, at most one per RESTART_MINUTES: a
  container killed again and again waits in CrashLoopBackOff (capped at 5 minutes) between restarts;
- "above request" is the share of minutes with demand above the request, a measure of exposure to
  node-pressure eviction, which limits alone do not show.

Run: python3 benchmarks/rightsizing.py [--per-kind 20] [--seed 1]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import sys
import time
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from obsgen.rightsizing.method import History, Kill, Unit, recommend  # noqa: E402

MIB = 1024 * 1024
MINUTE = 60
DAY = 86400
WEEK_MINUTES = 7 * 24 * 60
STEP = 300  # the 5-minute rollup obsgen reads
RESTART_MINUTES = 5


@dataclass
class Container:
    """Two weeks of demand (bytes per minute) and the request and limit it runs with today."""

    kind: str
    demand: list[float]
    request: int
    limit: int


@dataclass(frozen=True)
class Setting:
    request: float
    limit: float


# -- demand generators: each returns two weeks of demand in MiB, one value per minute -------------

def steady(rng: random.Random) -> Container:
    level, noise = rng.uniform(80, 600), rng.uniform(0.01, 0.05)
    demand = [level * (1 + rng.gauss(0, noise)) for _ in range(2 * WEEK_MINUTES)]
    return Container("steady", demand, *_configured(rng, level))


def spiky(rng: random.Random) -> Container:
    base, height = rng.uniform(60, 300), rng.uniform(2, 4)
    every, length = rng.choice([60, 180, 360, 720]), rng.randint(2, 8)
    offset = rng.randrange(every)
    demand = []
    for minute in range(2 * WEEK_MINUTES):
        if (minute + offset) % every < length:
            demand.append(base * height * rng.uniform(0.9, 1.05))
        else:
            demand.append(base * (1 + rng.gauss(0, 0.02)))
    return Container("spiky", demand, *_configured(rng, base * height))


def diurnal(rng: random.Random) -> Container:
    low, high, phase = rng.uniform(80, 300), rng.uniform(1.5, 3), rng.uniform(0, 2 * math.pi)
    demand = []
    for minute in range(2 * WEEK_MINUTES):
        wave = (math.sin(2 * math.pi * minute / 1440 + phase) + 1) / 2
        weekend = 0.7 if (minute // 1440) % 7 in (5, 6) else 1.0
        demand.append(low * (1 + (high - 1) * wave * weekend) * (1 + rng.gauss(0, 0.02)))
    return Container("diurnal", demand, *_configured(rng, low * high))


def growing(rng: random.Random) -> Container:
    start, per_day = rng.uniform(80, 300), rng.uniform(0.02, 0.06)
    demand = [start * (1 + per_day * minute / 1440) * (1 + rng.gauss(0, 0.02)) for minute in range(2 * WEEK_MINUTES)]
    return Container("growing", demand, *_configured(rng, start * (1 + 7 * per_day)))


def oom(rng: random.Random) -> Container:
    """Return a sawtooth whose tops reach past today's limit, so the container is OOM-killed every cycle."""
    limit = rng.choice([128, 256, 512])
    base, top = limit * rng.uniform(0.4, 0.6), limit * rng.uniform(1.05, 1.3)
    cycle = rng.randint(6 * 60, 16 * 60)
    offset = rng.randrange(cycle)
    demand = [(base + (top - base) * ((minute + offset) % cycle) / cycle) * (1 + rng.gauss(0, 0.01))
              for minute in range(2 * WEEK_MINUTES)]
    return Container("oom", demand, int(limit * 0.75 * MIB), int(limit * MIB))


KINDS = {"steady": steady, "spiky": spiky, "diurnal": diurnal, "growing": growing, "oom": oom}


def _configured(rng: random.Random, peak_mib: float) -> tuple[int, int]:
    """Return a request and limit as teams set them: generous multiples of the peak they remember."""
    request = peak_mib * rng.uniform(1.2, 3.0)
    return int(request * MIB), int(request * rng.choice([1.0, 1.5, 2.0]) * MIB)


# -- what Prometheus shows of the first week ------------------------------------------------------

def observed_week(container: Container) -> tuple[list[float], list[int]]:
    """Return the first week's usage in bytes per minute, capped at the limit, and the minutes of OOM kills."""
    usage, kills, above = [], [], False
    for minute, mib in enumerate(container.demand[:WEEK_MINUTES]):
        value = mib * MIB
        if value >= container.limit:
            if not above:
                kills.append(minute)
            above = True
            value = container.limit
        else:
            above = False
        usage.append(value)
    return usage, kills


def _five_minute_peaks(usage: list[float]) -> list[float]:
    return [max(usage[index:index + 5]) for index in range(0, len(usage), 5)]


# -- the three methods ----------------------------------------------------------------------------

def obsgen_setting(container: Container, usage: list[float], kills: list[int]) -> Setting:
    end = float(WEEK_MINUTES * MINUTE)
    peaks = _five_minute_peaks(usage)
    history = History(Unit("", "bench", "app", "main", "app"), end, 7 * DAY,
                      tuple(((index + 1) * STEP, value) for index, value in enumerate(peaks)),
                      means=tuple(((index + 1) * STEP, sum(usage[index * 5:index * 5 + 5]) / 5)
                                  for index in range(len(peaks))),
                      request=container.request, limit=container.limit,
                      kills=tuple(Kill(minute * MINUTE, container.limit) for minute in kills))
    result = recommend(history)
    assert result.request is not None and result.limit is not None
    return Setting(result.request, result.limit)


def vpa_setting(container: Container, usage: list[float], kills: list[int], min_bytes: float = 250 * MIB) -> Setting:
    """VPA recommender defaults: decaying histogram of daily peaks, p90 target, +15%, 250Mi minimum.

    An OOM kill adds a sample at max(1.2 x the memory at the kill, +100Mi). The limit keeps the
    container's current limit-to-request ratio, as VPA does by default.
    """
    samples: list[tuple[float, float]] = []  # (bytes, weight)
    for day in range(7):
        daily_peak = max(usage[day * 1440:(day + 1) * 1440])
        samples.append((daily_peak, 0.5 ** ((6 - day))))  # half-life one day, newest day weight 1
    for minute in kills:
        memory = container.limit
        samples.append((max(memory * 1.2, memory + 100 * MIB), 0.5 ** ((WEEK_MINUTES - minute) / 1440)))
    target = _weighted_quantile(samples, 0.9) * 1.15
    request = max(target, min_bytes)
    return Setting(request, request * container.limit / container.request)


def krr_setting(container: Container, usage: list[float], kills: list[int]) -> Setting:
    """krr's simple strategy: request = limit = peak over the history + 15%."""
    value = max(usage) * 1.15
    return Setting(value, value)


def current_setting(container: Container, usage: list[float], kills: list[int]) -> Setting:
    return Setting(container.request, container.limit)


def _weighted_quantile(samples: list[tuple[float, float]], q: float) -> float:
    ordered = sorted(samples)
    total = sum(weight for _, weight in ordered)
    running = 0.0
    for value, weight in ordered:
        running += weight
        if running >= q * total:
            return value
    return ordered[-1][0]


METHODS = {"current": current_setting, "obsgen": obsgen_setting, "vpa": vpa_setting,
           "vpa-nomin": lambda c, u, k: vpa_setting(c, u, k, 0.0), "krr": krr_setting}


# -- replay of the second week --------------------------------------------------------------------

@dataclass
class Outcome:
    reserved_gib_hours: float = 0.0
    oom_kills: int = 0
    killed_containers: int = 0
    minutes_above_request: int = 0
    minutes: int = 0


def replay(container: Container, setting: Setting, outcome: Outcome) -> None:
    week = container.demand[WEEK_MINUTES:]
    outcome.reserved_gib_hours += setting.request / 1024**3 * len(week) / 60
    kills, last_kill = 0, -RESTART_MINUTES
    for minute, mib in enumerate(week):
        value = mib * MIB
        if value > setting.limit and minute - last_kill >= RESTART_MINUTES:
            kills, last_kill = kills + 1, minute
        outcome.minutes_above_request += value > setting.request
    outcome.minutes += len(week)
    outcome.oom_kills += kills
    outcome.killed_containers += kills > 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-kind", type=int, default=20, help="containers per trace kind")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    began = time.perf_counter()
    rng = random.Random(args.seed)
    results = {(kind, method): Outcome() for kind in KINDS for method in METHODS}
    for kind, generate in KINDS.items():
        for _ in range(args.per_kind):
            container = generate(rng)
            usage, kills = observed_week(container)
            for method, choose in METHODS.items():
                replay(container, choose(container, usage, kills), results[(kind, method)])

    print(f"# {args.per_kind} containers per kind, seed {args.seed}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}; {time.perf_counter() - began:.1f}s")
    print(f"{'kind':9} {'method':10} {'reserved GiB-h':>14} {'OOM kills':>9} {'killed':>6} {'above request':>13}")
    totals = {method: Outcome() for method in METHODS}
    for (kind, method), outcome in results.items():
        _row(kind, method, outcome)
        total = totals[method]
        for field in ("reserved_gib_hours", "oom_kills", "killed_containers", "minutes_above_request", "minutes"):
            setattr(total, field, getattr(total, field) + getattr(outcome, field))
    for method, outcome in totals.items():
        _row("all", method, outcome)
    print(f"reserved ratio obsgen/vpa {totals['obsgen'].reserved_gib_hours / totals['vpa'].reserved_gib_hours:.3f}, "
          f"obsgen/vpa-nomin {totals['obsgen'].reserved_gib_hours / totals['vpa-nomin'].reserved_gib_hours:.3f}, "
          f"obsgen/krr {totals['obsgen'].reserved_gib_hours / totals['krr'].reserved_gib_hours:.3f}")


def _row(kind: str, method: str, outcome: Outcome) -> None:
    share = outcome.minutes_above_request / outcome.minutes if outcome.minutes else 0.0
    print(f"{kind:9} {method:10} {outcome.reserved_gib_hours:14.1f} {outcome.oom_kills:9d} "
          f"{outcome.killed_containers:6d} {share:13.1%}")


if __name__ == "__main__":
    main()
