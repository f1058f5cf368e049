"""The generated memory alerts on small synthetic traces, evaluated by the real ``promtool test rules``.

The rules are built from a catalog with the default settings, exactly as ``obsgen build`` writes
them. Each healthy pattern that fools common memory alerts must leave the leak and near-limit
alerts silent for two days. Each leak shape must fire the leak alert before the container
reaches its limit. The OOM alert must notice every kill and nothing else. Expected alerts are
checked with their full label sets and rendered annotations.

Series are written with promtool's expanding notation (``a+bxN``: N+1 samples from a in steps of
b; ``_xN``: N missing samples). Leak traces are sampled every 5 minutes to keep two days cheap;
OOM traces every minute, as the kill windows are minutes long.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import pytest
import yaml

from obsgen.catalog import load
from obsgen.generate import generate
from obsgen.writers.output import write_tree

CATALOG = """\
apiVersion: obsgen/v1
name: promtool-memory
teams:
  - {name: platform, receiver: platform-pager}
fleet:
  team: platform
"""

GIB = 1024**3
#: Limit of the leak traces. It is not a round number, so the projected time seldom lands on a
#: whole second, where float rounding could change the text humanizeDuration prints.
LIMIT = 1_000_000_007
STEP_S = 300  # leak and near-limit traces: one sample every 5 minutes
PER_HOUR = 3600 // STEP_S
CADVISOR = 'job="kubelet", metrics_path="/metrics/cadvisor"'
KSM = 'job="kube-state-metrics"'
RUNBOOK = "https://github.com/obsgen/obsgen/blob/main/docs/alerts.md#"
ALERT_LABELS = {"obsgen_service": "fleet", "obsgen_source": "kubernetes", "team": "platform"}

Samples = Sequence[float | None]


# -- building the rules and running promtool ----------------------------------------------

def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool not found; install Debian's prometheus package (the README's test command does)")
    return path


@pytest.fixture(scope="module")
def rule_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Build the test catalog with obsgen's own pipeline and return the rule files it writes."""
    folder = tmp_path_factory.mktemp("rules")
    (folder / "obsgen.yaml").write_text(CATALOG)
    write_tree(str(folder / "out"), generate(load(str(folder / "obsgen.yaml"))))
    files = sorted((folder / "out").glob("alerts/**/*.rules.yaml"))
    assert files, "the catalog produced no rule files"
    return files


def run_promtool(rule_files: list[Path], tests: list[dict], folder: Path, interval_s: int) -> None:
    """Run ``promtool test rules`` on promtool test groups; fail with promtool's own report."""
    test_file = folder / "memory.test.yaml"
    test_file.write_text(yaml.safe_dump({
        "rule_files": [str(path) for path in rule_files],
        "evaluation_interval": f"{interval_s}s",
        # Recording groups before alerts at each step, so that alerts read the same step's series.
        "group_eval_order": ["obsgen-source-kubernetes", "obsgen-derived", "obsgen-membership", "obsgen-fleet"],
        "tests": tests,
    }, sort_keys=False, width=10_000))
    result = subprocess.run([_promtool(), "test", "rules", str(test_file)], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_rules_pass_promtool_check(rule_files: list[Path]) -> None:
    result = subprocess.run([_promtool(), "check", "rules", *map(str, rule_files)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(rule_files)


# -- writing series -----------------------------------------------------------------------

def compact(values: Samples) -> str:
    """Return ``values`` in promtool's expanding notation, folding arithmetic runs and gaps."""
    tokens: list[str] = []
    i = 0
    while i < len(values):
        if values[i] is None:
            j = i
            while j < len(values) and values[j] is None:
                j += 1
            tokens.append(f"_x{j - i}")
            i = j
            continue
        first = int(values[i])  # type: ignore[arg-type]
        j = i + 1
        if j < len(values) and values[j] is not None:
            step = int(values[j]) - first  # type: ignore[arg-type]
            while j + 1 < len(values) and values[j + 1] is not None and int(values[j + 1]) - int(values[j]) == step:  # type: ignore[arg-type]
                j += 1
            sign = "+" if step >= 0 else "-"
            tokens.append(f"{first}x{j - i}" if step == 0 else f"{first}{sign}{abs(step)}x{j - i}")
            i = j + 1
        else:
            tokens.append(str(first))
            i += 1
    return " ".join(tokens)


def _series(metric: str, job: str, labels: dict[str, str], values: str) -> dict[str, str]:
    text = ", ".join([job] + [f'{name}="{value}"' for name, value in labels.items()])
    return {"series": f"{metric}{{{text}}}", "values": values}


def container(namespace: str, pod: str, name: str, rss: Samples, limit: int | None, cache: Samples | None = None,
              restarts: Samples | None = None, oom_reason: Samples | None = None) -> list[dict[str, str]]:
    """Series of one container as cAdvisor and kube-state-metrics expose them.

    ``rss`` and ``cache`` are bytes per sample (None: no sample). The working set is RSS plus the
    cache. Both sources report the limit, cAdvisor as 0 when there is none.
    """
    cache = cache or [0 if value is not None else None for value in rss]
    present = [value is not None for value in rss]
    who = {"namespace": namespace, "pod": pod, "container": name}
    working_set = [None if r is None else r + (c or 0) for r, c in zip(rss, cache)]
    series = [
        _series("container_memory_rss", CADVISOR, who, compact(rss)),
        _series("container_memory_cache", CADVISOR, who, compact(cache)),
        _series("container_memory_working_set_bytes", CADVISOR, who, compact(working_set)),
        _series("container_spec_memory_limit_bytes", CADVISOR, who,
                compact([(limit or 0) if here else None for here in present])),
        _series("kube_pod_container_status_restarts_total", KSM, who,
                compact(restarts or [0 if here else None for here in present])),
    ]
    if limit is not None:
        series.append(_series("kube_pod_container_resource_limits", KSM,
                              {**who, "resource": "memory", "unit": "byte"},
                              compact([limit if here else None for here in present])))
    if oom_reason is not None:
        series.append(_series("kube_pod_container_status_last_terminated_reason", KSM,
                              {**who, "reason": "OOMKilled"}, compact(oom_reason)))
    return series


def ramp(start: float, end: float, samples: int) -> list[float]:
    """``samples`` values from ``start`` to ``end`` (inclusive when samples > 1), rounded to bytes."""
    if samples == 1:
        return [round(start)]
    step = round((end - start) / (samples - 1))
    return [round(start) + step * i for i in range(samples)]


def repeat(pattern: Sequence[float], count: int) -> list[float]:
    return [pattern[i % len(pattern)] for i in range(count)]


# -- the leak alert's value, computed from the samples ------------------------------------

def _window(values: Samples, index: int, width: int, pick: Callable[[list[float]], float]) -> float | None:
    """Minimum or maximum over ``width`` steps back, only when the window is full (as recorded)."""
    if index - width < 0 or values[index - width] is None or values[index] is None:
        return None
    return pick([v for v in values[index - width:index + 1] if v is not None])


def _slope(points: list[tuple[int, float]]) -> Fraction:
    """Least-squares slope in bytes per second, computed exactly (what PromQL ``deriv`` estimates)."""
    xs = [Fraction(index * STEP_S) for index, _ in points]
    ys = [Fraction(value) for _, value in points]
    n = len(points)
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    var = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / var


def projected_seconds(rss: Samples, limit: int, index: int) -> Fraction | None:
    """Return the leak alert's value at sample ``index`` under the default settings, or None.

    The default catalog: floor and ceiling over 30 minutes, a 6 h trend within 12 h, a 1 h trend
    within 2 h, and growth of at least 5% of the limit over the trend's window.
    """
    floor_w = 30 * 60 // STEP_S
    floors = [_window(rss, i, floor_w, min) for i in range(len(rss))]
    ceiling = _window(rss, index, floor_w, max)
    if ceiling is None or floors[index] is None:
        return None
    for window_h, horizon_h in ((6, 12), (1, 2)):
        width = window_h * PER_HOUR
        points = [(i, f) for i in range(max(index - width, 0), index + 1) if (f := floors[i]) is not None]
        old = floors[index - width] if index >= width else None
        if len(points) < 2 or old is None:
            continue
        slope = _slope(points)
        if slope <= 0 or floors[index] - old <= limit * Fraction(5, 100):
            continue
        seconds = max(Fraction(limit) - Fraction(ceiling), Fraction(0)) / slope
        if seconds < horizon_h * 3600:
            return seconds
    return None


def humanize_duration(seconds: Fraction) -> str:
    """Prometheus's ``humanizeDuration`` for values of a second or more (it truncates to seconds)."""
    whole = math.floor(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes}m {secs}s"
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    return f"{minutes}m {secs}s"


def leak_alert(namespace: str, pod: str, name: str, seconds: Fraction) -> dict[str, object]:
    return {
        "exp_labels": {**ALERT_LABELS, "namespace": namespace, "pod": pod, "container": name,
                       "severity": "warning"},
        "exp_annotations": {
            "summary": "A container's memory grows steadily towards its limit.",
            "description": f"{namespace}/{pod} container {name} has grown steadily and, at the current trend, "
                           f"reaches its memory limit in {humanize_duration(seconds)}.",
            "runbook_url": RUNBOOK + "containermemoryleak",
        },
    }


def fires_at(rss: Samples, limit: int, index: int) -> Fraction:
    """Return the value at ``index`` after checking that the condition held for the alert's 30m ``for``.

    The value is kept away from a whole second, so that float rounding in Prometheus cannot change
    the truncated text; the caller picks the index.
    """
    for back in range(0, 30 * 60 // STEP_S + 1):
        assert projected_seconds(rss, limit, index - back) is not None, (
            f"by the rule's own arithmetic the leak condition does not hold {back * STEP_S}s before the check")
    seconds = projected_seconds(rss, limit, index)
    assert seconds is not None
    return seconds


def leak_check(rss: Samples, limit: int, index: int, who: tuple[str, str, str]) -> dict[str, object]:
    """One ``alert_rule_test`` at or just after ``index`` where the leak alert must be firing."""
    for candidate in range(index, index + 6):
        seconds = fires_at(rss, limit, candidate)
        if 0.01 < seconds - math.floor(seconds) < 0.99:
            return {"eval_time": f"{candidate * STEP_S}s", "alertname": "ContainerMemoryLeak",
                    "exp_alerts": [leak_alert(*who, seconds)]}
    raise AssertionError("no check time with a value clear of a whole second")


# -- healthy patterns ---------------------------------------------------------------------

HOURS = 48
N = HOURS * PER_HOUR + 1


def healthy_series() -> list[dict[str, str]]:
    """Eight patterns that are not leaks, on two days of samples."""
    limit = GIB
    series: list[dict[str, str]] = []
    # Stable JVM: fast young-GC sawtooth (15 minutes) and slow old-generation cycles (3 h ramps).
    series += container("shop", "cart-5d8f7b9c4d-abcde", "jvm", repeat([0.42 * limit, 0.66 * limit, 0.9 * limit], N),
                        limit)
    old_gen = ramp(0.35 * limit, 0.86 * limit, 3 * PER_HOUR) + ramp(0.36 * limit, 0.36 * limit, 1)
    series += container("shop", "search-6c9d8b7f5c-bcdfg", "jvm", repeat(old_gen, N), limit)
    # Page cache warming up to the limit over two hours while RSS stays flat.
    cache = ramp(0, 0.68 * limit, 2 * PER_HOUR) + [round(0.68 * limit)] * (N - 2 * PER_HOUR)
    series += container("shop", "promo-7f6d5c4b3d-cdfgh", "promo", [0.26 * limit] * N, limit, cache=cache)
    # A daily cycle between 31% and 80% of the limit, in hourly linear pieces, from a pod already
    # running for a while (it starts three hours after the daily peak).
    low, high = 0.31 * limit, 0.80 * limit

    def daily(hour: float) -> float:
        return low + (high - low) * (1 + math.cos(2 * math.pi * (hour + 3) / 24)) / 2

    diurnal = [round(daily(h) + (daily(h + 1) - daily(h)) * (i % PER_HOUR) / PER_HOUR)
               for h in range(HOURS) for i in range(PER_HOUR)] + [round(daily(HOURS))]
    series += container("search", "sync-8b7c6d5f4g-dfghj", "app", diurnal, limit)
    # Hourly batch jobs: ten minutes at 84% of the limit, from a 38% base.
    batch = [0.84 * limit] * 2 + [0.38 * limit] * (PER_HOUR - 2)
    series += container("data", "indexer-9c8d7f6g5h-fghjk", "indexer", repeat(batch, N), limit)
    # A pod started at 10 h: memory climbs from 15% to 45% in 40 minutes, then stays.
    start = 10 * PER_HOUR
    startup = [None] * start + ramp(0.15 * limit, 0.45 * limit, 9)
    startup += [round(0.45 * limit)] * (N - len(startup))
    series += container("platform", "notify-4d5f6g7h8j-ghjkl", "app", startup, limit)
    # A redeploy at 20 h: the new pod (new name) runs at 29% where the old one ran at 68%.
    switch = 20 * PER_HOUR
    old_pod = [0.68 * limit] * switch + [None] * (N - switch)
    new_pod = [None] * switch + [0.29 * limit] * (N - switch)
    series += container("search", "profile-5f6g7h8j9k-hjklm", "server", old_pod, limit)
    series += container("search", "profile-6g7h8j9k2l-jklmn", "server", new_pod, limit)
    # Steady at 85 to 87% and at 90.5 to 92% of the limit, with noise.
    series += container("media", "reader-7h8j9k2l3m-klmnp",
                        "media", repeat([0.86 * limit, 0.87 * limit, 0.85 * limit, 0.865 * limit], N), limit)
    series += container("media", "reader-8j9k2l3m4n-mnpqr",
                        "media", repeat([0.91 * limit, 0.92 * limit, 0.915 * limit, 0.905 * limit], N), limit)
    # A sidecar: a small flat log shipper beside a flat main container.
    series += container("data", "promo-8j9k2l3m4n-lmnpq", "promo", [0.29 * 2 * limit] * N, 2 * limit)
    series += container("data", "promo-8j9k2l3m4n-lmnpq", "log-shipper", [0.33 * limit / 8] * N, limit // 8)
    return series


def test_healthy_patterns_fire_no_leak_and_no_near_limit_alert(rule_files: list[Path], tmp_path: Path) -> None:
    checks = [{"eval_time": f"{hour}h", "alertname": alert, "exp_alerts": []}
              for hour in range(1, HOURS + 1) for alert in ("ContainerMemoryLeak", "ContainerMemoryNearLimit")]
    run_promtool(rule_files, [{"interval": f"{STEP_S}s", "input_series": healthy_series(),
                               "alert_rule_test": checks}], tmp_path, STEP_S)


# -- leak shapes --------------------------------------------------------------------------

def _hours(value: float) -> int:
    return round(value * PER_HOUR)


def slow_leak() -> tuple[list[float | None], int, int]:
    """From 40% of the limit, 2.5% of the limit an hour: the limit is reached after 24 h."""
    rss = ramp(0.40 * LIMIT, 1.0 * LIMIT, _hours(24) + 1)
    return rss, LIMIT, _hours(20)


def fast_leak() -> tuple[list[float | None], int, int]:
    """Flat at 45% for 8 h, then 20% of the limit an hour: the limit is reached 2.75 h later."""
    rss = [round(0.45 * LIMIT)] * _hours(8) + ramp(0.45 * LIMIT, 1.0 * LIMIT, _hours(2.75) + 1)
    return rss, LIMIT, _hours(8 + 2.25)


def step_leak() -> tuple[list[float | None], int, int]:
    """Flat hours with a 40 MiB jump each hour, from 30% of the limit: the limit is near after 18 h."""
    rss: list[float | None] = []
    for hour in range(18):
        rss += [round(0.30 * LIMIT) + hour * 40 * 1024**2] * PER_HOUR
    return rss, LIMIT, _hours(14)


def gc_sawtooth_leak() -> tuple[list[float | None], int, int]:
    """A 20-minute GC sawtooth 15% high whose floor rises 2% of the limit an hour from 36%."""
    floor = ramp(0.36 * LIMIT, 0.86 * LIMIT, _hours(25) + 1)
    teeth = [0, 0.05 * LIMIT, 0.10 * LIMIT, 0.15 * LIMIT]
    rss = [round(f + teeth[i % len(teeth)]) for i, f in enumerate(floor)]
    return rss, LIMIT, _hours(20)


def unlimited_leak() -> tuple[list[float | None], int, int]:
    """No limit on an 8 GiB node: 150 MiB an hour from 512 MiB, against half the node's memory."""
    rss = ramp(0.5 * GIB, 0.5 * GIB + 150 * 1024**2 * 24, _hours(24) + 1)
    return rss, 4 * GIB + 21_845, _hours(19)


@pytest.mark.parametrize("shape", [slow_leak, fast_leak, step_leak, gc_sawtooth_leak, unlimited_leak],
                         ids=lambda shape: shape.__name__)
def test_leak_shapes_fire_before_the_limit(rule_files: list[Path], tmp_path: Path,
                                           shape: Callable[[], tuple[list[float | None], int, int]]) -> None:
    rss, limit, check = shape()
    who = ("shop", "writer-2b3c4d5f6g-mnpqr", "server")
    if shape is unlimited_leak:
        series = container(*who, rss, None)
        series.append({"series": f'kube_pod_info{{{KSM}, namespace="shop", pod="{who[1]}", node="worker-1"}}',
                       "values": f"1x{len(rss) - 1}"})
        series.append({"series": f'kube_node_status_capacity{{{KSM}, node="worker-1", resource="memory", '
                                 f'unit="byte"}}', "values": f"{2 * limit}x{len(rss) - 1}"})
    else:
        series = container(*who, rss, limit)
    # The shape is still below the limit at the check, so the alert is a warning ahead of the OOM.
    assert max(v for v in rss[:check + 6] if v is not None) < limit
    quiet = {"eval_time": "5h", "alertname": "ContainerMemoryLeak", "exp_alerts": []}
    run_promtool(rule_files, [{"interval": f"{STEP_S}s", "input_series": series,
                               "alert_rule_test": [quiet, leak_check(rss, limit, check, who)]}],
                 tmp_path, STEP_S)


def test_leak_is_warned_before_each_repeated_oom_kill(rule_files: list[Path], tmp_path: Path) -> None:
    """Four cycles from 40% to the limit in 4 h, each ending in an OOM kill and a restart."""
    cycle = ramp(0.40 * LIMIT, 0.99 * LIMIT, _hours(4))
    rss: list[float | None] = repeat(cycle, 4 * len(cycle))
    restarts: list[float | None] = [i // len(cycle) for i in range(len(rss))]
    reason: list[float | None] = [None] * len(cycle) + [1] * (len(rss) - len(cycle))
    who = ("payments", "quote-3c4d5f6g7h-npqrs", "engine")
    series = container(*who, rss, LIMIT, restarts=restarts, oom_reason=reason)
    # Past the warm-up, the second, third and fourth cycles are warned 30 minutes before their kill.
    checks = [leak_check(rss, LIMIT, kill - _hours(0.5), who) for kill in (2 * len(cycle), 3 * len(cycle))]
    run_promtool(rule_files, [{"interval": f"{STEP_S}s", "input_series": series, "alert_rule_test": checks}],
                 tmp_path, STEP_S)


# -- OOM kills ----------------------------------------------------------------------------

OOM_MINUTES = 90


def _minutes(changes: dict[int, float], start: float = 0, length: int = OOM_MINUTES) -> list[float | None]:
    """A per-minute series that takes value ``changes[m]`` from minute m on."""
    values: list[float | None] = []
    current = start
    for minute in range(length + 1):
        current = changes.get(minute, current)
        values.append(current)
    return values


def oom_alert(pod: str, name: str, count: int) -> dict[str, object]:
    # The kill count is the maximum over the sources, so no obsgen_source label remains.
    labels = {key: value for key, value in ALERT_LABELS.items() if key != "obsgen_source"}
    return {
        "exp_labels": {**labels, "namespace": "shop", "pod": pod, "container": name, "severity": "critical"},
        "exp_annotations": {
            "summary": "A container was killed for running out of memory.",
            "description": f"shop/{pod} container {name} was OOM-killed (about {count} time(s) in the last 10m): "
                           f"it used all the memory its limit allows.",
            "runbook_url": RUNBOOK + "containeroomkilled",
        },
    }


def test_oom_alert_notices_every_kill_and_nothing_else(rule_files: list[Path], tmp_path: Path) -> None:
    rss = [0.5 * GIB] * (OOM_MINUTES + 1)
    restart_once = _minutes({20: 1})
    series = []
    # A kill at 20 m: the restart counter goes up and the last termination reason is OOMKilled.
    series += container("shop", "api-1", "api", rss, GIB, restarts=restart_once,
                        oom_reason=[None] * 20 + [1] * (OOM_MINUTES - 19))
    # Kills at 20 m and 50 m: two separate notifications.
    series += container("shop", "api-2", "api", rss, GIB, restarts=_minutes({20: 1, 50: 2}),
                        oom_reason=[None] * 20 + [1] * (OOM_MINUTES - 19))
    # A kill that only cAdvisor saw: its counter rises on the dying container's series, which ends.
    series += container("shop", "api-3", "api", rss, GIB)
    series.append(_series("container_oom_events_total", CADVISOR,
                          {"namespace": "shop", "pod": "api-3", "container": "api", "id": "/old"},
                          compact([0] * 20 + [1, 1]) + " stale"))
    # A restart for another reason after an old OOM kill, and an old OOMKilled reason alone: no alert.
    series += container("shop", "api-4", "api", rss, GIB, restarts=restart_once)
    # kube-state-metrics drops the old reason's series when the reason changes: a stale marker.
    series.append(_series("kube_pod_container_status_last_terminated_reason", KSM,
                          {"namespace": "shop", "pod": "api-4", "container": "api", "reason": "OOMKilled"},
                          compact([1] * 20) + " stale"))
    series.append(_series("kube_pod_container_status_last_terminated_reason", KSM,
                          {"namespace": "shop", "pod": "api-4", "container": "api", "reason": "Error"},
                          compact([None] * 20 + [1] * (OOM_MINUTES - 19))))
    series += container("shop", "api-5", "api", rss, GIB, restarts=[3] * (OOM_MINUTES + 1),
                        oom_reason=[1] * (OOM_MINUTES + 1))

    def check(minute: int, *alerts: dict[str, object]) -> dict[str, object]:
        return {"eval_time": f"{minute}m", "alertname": "ContainerOOMKilled", "exp_alerts": list(alerts)}

    first = [oom_alert("api-1", "api", 1), oom_alert("api-2", "api", 1), oom_alert("api-3", "api", 1)]
    checks = [
        check(15),
        check(21, *first),
        # A range still sees the ended cAdvisor series until the window has passed its last sample.
        check(29, *first),
        # Resolved on its own once the window holds no kill; the second kill of api-2 fires anew.
        check(40),
        check(51, oom_alert("api-2", "api", 1)),
        check(70),
    ]
    run_promtool(rule_files, [{"interval": "1m", "input_series": series, "alert_rule_test": checks}],
                 tmp_path, 60)
