"""The recommendation method on hand-made histories (no Prometheus needed)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from obsgen.rightsizing.collect import workload_of
from obsgen.rightsizing.method import DAY_S, MIB, History, Kill, Policy, Unit, growth_per_second, quantile, recommend

UNIT = Unit("", "shop", "cart", "server", "cart")
END = 1_700_000_000.0


def _history(values: list[float], step_s: int = 300, **extra) -> History:
    start = END - step_s * (len(values) - 1)
    peaks = tuple((start + index * step_s, value) for index, value in enumerate(values))
    return History(UNIT, END, 7 * DAY_S, peaks, **extra)


def test_quantile_interpolates_like_promql():
    # quantile_over_time(0.95, ...) of 1..21 is 20 (rank 19); of 1..20 it is 19.05.
    assert quantile([float(v) for v in range(1, 22)], 0.95) == 20.0
    assert quantile([float(v) for v in range(1, 21)], 0.95) == 19.05


def test_too_little_history_gives_nothing():
    result = recommend(_history([100 * MIB] * 200))  # 200 steps of 5 minutes: 16.7 h
    assert result.request is None
    assert result.limit is None
    assert result.reasons[0].startswith("too little history: 16.7h")


def test_request_never_below_floor():
    result = recommend(_history([4 * MIB] * 2016))
    assert result.request == 32 * MIB
    assert "floor 32Mi" in result.reasons[0]


def test_oom_bump_uses_limit_at_kill():
    kills = (Kill(END - DAY_S, 128 * MIB), Kill(END - 3600, 128 * MIB))
    result = recommend(_history([100 * MIB] * 2016 + [128 * MIB], kills=kills, limit=128 * MIB))
    # 128Mi + 100Mi beats 128Mi x 1.2; plus the 20% margin: 273.6Mi, rounded up to whole MiB.
    assert result.limit == 274 * MIB
    assert "OOM-killed 2x at limit 128Mi" in result.reasons[1]


def test_flat_and_cyclic_usage_have_no_growth():
    flat = [(float(hour * 3600), 100.0) for hour in range(48)]
    cycle = [(float(hour * 3600), 100.0 + 50 * ((hour % 24) < 12)) for hour in range(168)]
    assert growth_per_second(flat, 0.5) == 0.0
    assert growth_per_second(cycle, 0.5) == 0.0


def test_steady_growth_is_found():
    rising = [(float(hour * 3600), 100.0 + hour) for hour in range(48)]
    assert growth_per_second(rising, 0.5) == 1 / 3600


def test_workload_of_strips_pod_suffixes():
    assert workload_of("frontend-7c9d8f6b5d-x2x4z") == "frontend"
    assert workload_of("redis-cart-0") == "redis-cart"
    assert workload_of("node-agent-x2x4z") == "node-agent"
    assert workload_of("standalone") == "standalone"


@settings(max_examples=50, deadline=None)
@given(values=st.lists(st.floats(min_value=0, max_value=64 * 1024 * MIB), min_size=300, max_size=320),
       kill_limit=st.one_of(st.none(), st.integers(min_value=1, max_value=64 * 1024 * MIB)))
def test_limit_never_below_peak_nor_request(values, kill_limit):
    kills = (Kill(END - 600, kill_limit),) if kill_limit is not None else ()
    result = recommend(_history(values, kills=kills), Policy(min_history_s=3600))
    assert result.limit is not None and result.request is not None
    assert result.limit >= max(values)
    assert result.request >= 32 * MIB
    assert result.limit >= result.request


def test_progress_only_on_terminal(monkeypatch, capsys):
    from obsgen.cli import recommend as command

    monkeypatch.setattr(command.sys.stderr, "isatty", lambda: False, raising=False)
    assert command._progress_printer() is None
    monkeypatch.setattr(command.sys.stderr, "isatty", lambda: True, raising=False)
    show = command._progress_printer()
    show(1, 2)
    show(2, 2)
    assert capsys.readouterr().err == "\robsgen: querying Prometheus 1/2\robsgen: querying Prometheus 2/2\n"
