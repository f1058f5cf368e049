"""``obsgen recommend`` and the efficiency queries against a real Prometheus holding known traces.

One Prometheus (Debian 2.42) is loaded with a week of synthetic cAdvisor and kube-state-metrics
history (see ``support/memory_traces.py``) with a known expected recommendation for each trace kind, then
with obsgen's own recording rules, backfilled by promtool.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time

import pytest
import yaml
from click.testing import CliRunner

from obsgen import conventions as names
from obsgen.catalog import load
from obsgen.cli import cli
from obsgen.generate import generate
from obsgen.rightsizing import queries
from obsgen.rules.build import RECORDING_FILE
from obsgen.rules.rightsizing import rightsizing_alerts
from obsgen.rules.alerts import Owner
from tests.conftest import EXAMPLE
from tests.support import memory_traces as traces
from tests.support import prometheus
from tests.support.rule_levels import rules_named, write_level

MIB = traces.MIB
DAY_S = traces.DAY_S
SCRAPE_S = 120
#: The recorded series are backfilled over the last RECORDED_DAYS only, to keep the test short.
RECORDED_DAYS = 2

pytestmark = pytest.mark.skipif(not (shutil.which("prometheus") and shutil.which("promtool")),
                                reason="needs Debian's prometheus and promtool (apt-get install prometheus)")

CATALOG = """\
apiVersion: obsgen/v1
name: shop
teams:
  - {name: web, receiver: web-pager}
services:
  - {name: steady, team: web, selector: {namespace: shop, workload: steady}, memory: {request: 1Gi, limit: 2Gi}}
  - {name: spiky, team: web, selector: {namespace: shop, workload: spiky}}
  - {name: growing, team: web, selector: {namespace: shop, workload: growing}}
  - {name: oomer, team: web, selector: {namespace: shop, workload: oomer}}
  - {name: shortlived, team: web, selector: {namespace: shop, workload: shortlived}}
fleet: {team: web}
"""


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """A running Prometheus with a week of raw history and the last days of recorded series."""
    work = str(tmp_path_factory.mktemp("rightsizing"))
    catalog_path = os.path.join(work, "obsgen.yaml")
    with open(catalog_path, "w", encoding="utf-8") as handle:
        handle.write(CATALOG)
    end = (int(time.time()) // 3600) * 3600 - 3600
    start = end - 7 * DAY_S
    trace_set = {trace.workload: trace for trace in traces.standard_set(start, end, SCRAPE_S)}
    # The example catalog's frontend: small and steady, with the demo's 64Mi request and 128Mi limit.
    frontend = traces.steady(start, end, SCRAPE_S, random.Random(7), level_mib=30, noise_mib=2, workload="frontend")
    frontend.namespace, frontend.request, frontend.limit = "default", 64 * MIB, 128 * MIB
    trace_set["frontend"] = frontend
    data = os.path.join(work, "data")
    prometheus.create_blocks_from_openmetrics(traces.openmetrics(list(trace_set.values()), SCRAPE_S), data)

    _backfill_recorded(data, catalog_path, work, end)
    with prometheus.running_prometheus(data) as server:
        yield {"server": server, "end": end, "traces": trace_set, "catalog": catalog_path}


def _backfill_recorded(data_dir: str, catalog_path: str, work: str, end: int) -> None:
    """Backfill the generated rules that recommend and the panels read, one level at a time."""
    catalog = load(catalog_path)
    recording = generate(catalog)[RECORDING_FILE]
    start = end - RECORDED_DAYS * DAY_S
    source = [names.WORKING_SET, names.REQUEST, names.LIMIT, names.RESTARTS, names.oom_kills(600)]
    levels = [
        (rules_named(recording, source, names.source_group("kubernetes")), "1m", start),
        (rules_named(recording, [names.WORKING_SET_PEAK_5M, names.WORKING_SET_AVG_5M]), "5m", start),
        # Services claim containers first; the fleet rule reads their result, so it comes next.
        ([rule for rule in rules_named(recording, [names.SERVICE_INFO])
          if rule["labels"][names.SERVICE_LABEL] != "fleet"], "1m", end - 1800),
        ([rule for rule in rules_named(recording, [names.SERVICE_INFO])
          if rule["labels"][names.SERVICE_LABEL] == "fleet"], "1m", end - 1800),
        (rules_named(recording, [names.REQUEST_IDLE_5M]), "5m", start),
        (rules_named(recording, [names.working_set_avg(604800), names.working_set_peak(604800),
                                 names.working_set_quantile(604800), names.request_idle(604800),
                                 names.request_idle_byte_seconds(604800)]), "1m", end - 1800),
    ]
    for index, (rules, interval, level_start) in enumerate(levels):
        assert rules, f"level {index} found no rules in the generated recording file"
        prometheus.backfill_rule_file(write_level(os.path.join(work, f"level{index}.yaml"), rules, interval),
                                      data_dir, level_start, end)


def _recommend(history, *args: str) -> dict:
    result = CliRunner().invoke(cli, ["recommend", history["catalog"], "--prometheus", history["server"].url,
                                      "--at", str(history["end"]), "--output", "json", *args])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    return {item["unit"]["workload"]: item for item in document["recommendations"]} | {"_meta": document["meta"]}


@pytest.fixture(scope="module")
def raw(history):
    return _recommend(history, "--series", "raw")


def test_every_recommendation_keeps_bounds(raw):
    for workload, item in raw.items():
        if workload == "_meta" or item["request"] is None:
            continue
        assert item["limit"] >= item["observed"]["peak"], workload
        assert item["request"] >= 32 * MIB, workload
        assert item["request"] <= item["limit"], workload


def test_observed_peak_is_the_trace_peak(raw, history):
    for workload, trace in history["traces"].items():
        assert raw[workload]["observed"]["peak"] == pytest.approx(trace.peak(), rel=1e-6), workload


def test_steady_shrinks_to_use(raw, history):
    item = raw["steady"]
    assert item["current_request"] == 1024 * MIB
    assert item["current_limit"] == 2048 * MIB
    # Two pods (a rollout halfway) still make one week of history.
    assert item["observed"]["history_s"] >= 6.9 * DAY_S
    assert 195 * MIB * 1.1 <= item["request"] <= 205 * MIB * 1.1 + MIB
    assert item["limit"] <= history["traces"]["steady"].peak() * 1.2 + MIB
    assert item["observed"]["growth_per_day"] == 0


def test_spiky_requests_base_and_limits_spike(raw, history):
    item = raw["spiky"]
    peak = history["traces"]["spiky"].peak()
    assert item["request"] <= 103 * MIB * 1.1 + MIB
    assert item["limit"] >= peak * 1.2
    assert item["limit"] <= peak * 1.2 + MIB


def test_growing_limit_covers_projection(raw, history):
    item = raw["growing"]
    peak = history["traces"]["growing"].peak()
    week_of_growth = 200 / 7 * 7 * MIB
    assert item["observed"]["growth_per_day"] == pytest.approx(200 / 7 * MIB, rel=0.1)
    assert item["limit"] >= (peak + 0.9 * week_of_growth) * 1.2
    assert any("grow" in reason for reason in item["reasons"])


def test_oom_killed_limit_is_bumped(raw, history):
    item = raw["oomer"]
    trace = history["traces"]["oomer"]
    assert trace.pods[0].kills, "the trace must contain OOM kills"
    assert item["limit"] >= 256 * MIB + 100 * MIB
    expected = f"OOM-killed {len(trace.pods[0].kills)}x at limit 256Mi"
    assert any(expected in reason for reason in item["reasons"]), item["reasons"]


def test_short_lived_gets_no_recommendation(raw):
    item = raw["shortlived"]
    assert item["request"] is None
    assert item["limit"] is None
    assert "too little history" in item["reasons"][0]


def test_unclaimed_container_goes_to_fleet(raw):
    assert raw["diurnal"]["unit"]["service"] == "fleet"


def test_recorded_series_agree_with_raw(history):
    window = f"{RECORDED_DAYS}d"
    recorded = _recommend(history, "--series", "recorded", "--window", window)
    raw_short = _recommend(history, "--series", "raw", "--window", window)
    auto = _recommend(history, "--window", window)
    assert recorded["_meta"]["mode"] == "recorded"
    assert auto["_meta"]["mode"] == "recorded"
    assert set(recorded) == set(raw_short)
    for workload in history["traces"]:
        for key in ("request", "limit"):
            if raw_short[workload][key] is None:
                assert recorded[workload][key] is None, workload
            else:
                assert recorded[workload][key] == pytest.approx(raw_short[workload][key], rel=0.03), (workload, key)


def test_week_window_falls_back_to_raw(history):
    assert _recommend(history)["_meta"]["mode"] == "raw"


def test_catalog_patch_is_valid_catalog(history, tmp_path):
    result = CliRunner().invoke(cli, ["recommend", history["catalog"], "--prometheus", history["server"].url,
                                      "--at", str(history["end"]), "--output", "catalog"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# Generated by obsgen")
    patch = yaml.safe_load(result.stdout)
    memory = {service["name"]: service["memory"] for service in patch["services"]}
    assert set(memory) == {"steady", "spiky", "growing", "oomer"}
    catalog = yaml.safe_load(history["catalog"] and open(history["catalog"]).read())
    for service in catalog["services"]:
        if service["name"] in memory:
            service["memory"] = memory[service["name"]]
    patched = tmp_path / "patched.yaml"
    patched.write_text(yaml.safe_dump(catalog))
    validated = CliRunner().invoke(cli, ["validate", str(patched)])
    assert validated.exit_code == 0, validated.output


def test_example_catalog_gets_recommendations(history):
    result = CliRunner().invoke(cli, ["recommend", str(EXAMPLE), "--prometheus", history["server"].url,
                                      "--at", str(history["end"])])
    assert result.exit_code == 0, result.output
    rows = {row[1]: row for row in (line.split() for line in result.stdout.splitlines()[2:])}
    assert rows["default/frontend"][0] == "frontend"
    assert rows["default/frontend"][2] == "server"
    # 30Mi +- 2Mi of use. The p95 of 5-minute peaks is 31 to 32Mi, + 10% and rounded up: 35 or 36Mi.
    # The peak is just under 32Mi, + 20% and rounded up: 39Mi.
    assert rows["default/frontend"][3:5] == ["64Mi", "->"]
    assert rows["default/frontend"][5] in ("35Mi", "36Mi")
    assert rows["default/frontend"][6:9] == ["128Mi", "->", "39Mi"]
    # The example claims no workload of namespace shop, so its fleet entry does.
    assert {row[0] for workload, row in rows.items() if workload.startswith("shop/")} == {"fleet"}


def test_unreachable_prometheus_is_an_error(history):
    result = CliRunner().invoke(cli, ["recommend", history["catalog"], "--prometheus", "http://127.0.0.1:9"])
    assert result.exit_code == 1
    assert "cannot reach Prometheus at http://127.0.0.1:9" in result.output


# -- efficiency panels and the alert, on the backfilled recorded series -----------------------------------

def _by_workload(result: list[dict]) -> dict[str, float]:
    return {traces.workload_of(item["metric"]["pod"]): float(item["value"][1]) for item in result}


def test_requested_vs_used_panel(history):
    server, end = history["server"], history["end"]
    panel = queries.requested_vs_used(queries.Scope("cluster", "steady"))
    request = _by_workload(server.query(panel["request"], end))
    peak = _by_workload(server.query(panel["peak"], end))
    average = _by_workload(server.query(panel["average"], end))
    assert request == {"steady": 1024 * MIB}
    # The panel shows the running pod over the backfilled days; the rollup may reach one step further back.
    current_pod = history["traces"]["steady"].pods[-1].samples
    first = end - RECORDED_DAYS * DAY_S
    assert max(v for t, v in current_pod if t > first + 300) <= peak["steady"]
    assert peak["steady"] <= max(v for t, v in current_pod if t > first - 600)
    assert 195 * MIB <= average["steady"] <= 205 * MIB


def test_panel_scope_takes_dashboard_matchers(history):
    # Dashboards pass their variables as regex matchers; these are the values Grafana would fill in.
    scope = queries.Scope("cluster", "(steady|spiky)", ('cluster=~".*"', 'namespace=~"shop"'))
    request = _by_workload(history["server"].query(queries.requested_vs_used(scope)["request"], history["end"]))
    assert request == {"steady": 1024 * MIB, "spiky": 512 * MIB}


def test_idle_and_waste_panels(history):
    server, end = history["server"], history["end"]
    total = server.query(queries.idle_request_total(queries.Scope("cluster")), end)
    steady_idle = server.query(queries.idle_request_total(queries.Scope("cluster", "steady")), end)
    assert float(steady_idle[0]["value"][1]) == pytest.approx((1024 - 200) * MIB, rel=0.02)
    assert float(total[0]["value"][1]) > float(steady_idle[0]["value"][1])
    top = server.query(queries.top_wasting_services(queries.Scope("cluster"), 3), end)
    ranked = sorted(top, key=lambda item: -float(item["value"][1]))
    assert ranked[0]["metric"][names.SERVICE_LABEL] == "steady"


def test_idle_gib_hours_panel(history):
    server, end = history["server"], history["end"]
    idle = f'{names.REQUEST_IDLE_5M}{{pod=~"steady-.*"}}'
    rollups = float(server.query(f"count_over_time({idle}[1w])", end)[0]["value"][1])
    # The idle rollups were backfilled over RECORDED_DAYS, one every 5 minutes.
    assert rollups >= 0.97 * RECORDED_DAYS * DAY_S / 300
    hours = server.query(queries.idle_request_gib_hours(queries.Scope("cluster", "steady")), end)
    # About 0.8 GiB requested and unused during each 5-minute rollup.
    expected = (1024 - 200) / 1024 * rollups * 300 / 3600
    assert float(hours[0]["value"][1]) == pytest.approx(expected, rel=0.02)


def test_limit_below_peak_panel_finds_oom_victim(history):
    server, end = history["server"], history["end"]
    found = _by_workload(server.query(queries.limit_below_peak(queries.Scope("cluster")), end))
    assert set(found) == {"oomer"}
    assert found["oomer"] == pytest.approx(1.0, rel=1e-6)
    ranked = _by_workload(server.query(queries.peak_share_of_limit(queries.Scope("cluster"), 3), end))
    assert len(ranked) == 3
    assert max(ranked, key=ranked.get) == "oomer"


def test_oversized_expression_without_for(history):
    catalog = load(history["catalog"])
    server, end = history["server"], history["end"]
    firing = {}
    for service in catalog.services:
        owner = Owner(service.name, service.team, service.settings, catalog.cluster_label)
        for rule in rightsizing_alerts(owner):
            firing[service.name] = _by_workload(server.query(rule["expr"], end))
    assert firing["steady"]["steady"] == pytest.approx(1024 / 205, rel=0.03)
    # The short-lived container's request is oversized too; only the rule's `for` of 3 days keeps
    # it from firing (tests/test_rightsizing_rules.py checks that with promtool).
    assert {name for name, found in firing.items() if found} == {"steady", "shortlived"}
