"""Each generated alert fires on series that should fire it and stays silent otherwise.

The series imitate what kube-prometheus-stack scrapes: cAdvisor through the kubelet, with its
pod-level and pause-container series, and kube-state-metrics. Expected alerts are checked with
their full label sets and rendered annotations.
"""

from __future__ import annotations

import pytest

from tests.conftest import require_binary
from tests.support.promtool import build_rules, run_promtool_tests

CATALOG = """
apiVersion: obsgen/v1
name: promtool-test
defaults:
  labels: {env: test}
  runbook_url: https://runbooks.example.com/{alert_lower}
  over_request: {for: 30m}
teams:
  - {name: payments, receiver: payments-pager}
  - {name: platform, receiver: platform-pager}
services:
  - name: shop-api
    team: payments
    selector: {namespace: shop, workload: shop-api, container: api}
fleet:
  team: platform
"""

MIB = 1024 * 1024
POD = "shop-api-7d9f6c8b5d-x2x4z"
CADVISOR = 'job="kubelet", metrics_path="/metrics/cadvisor"'
KSM = 'job="kube-state-metrics"'
CONTAINER_LABELS = {"namespace": "shop", "pod": POD, "container": "api"}


def _input_series(job: str, metric: str, values: str, container: str, pod: str, extra: str, namespace: str) -> dict:
    labels = f'{job}, namespace="{namespace}", pod="{pod}", container="{container}"'
    if extra:
        labels += ", " + extra
    return {"series": f"{metric}{{{labels}}}", "values": values}


def cadvisor(metric: str, values: str, container: str = "api", pod: str = POD, extra: str = "",
             namespace: str = "shop") -> dict:
    return _input_series(CADVISOR, metric, values, container, pod, extra, namespace)


def ksm(metric: str, values: str, extra: str = "", pod: str = POD, container: str = "api",
        namespace: str = "shop") -> dict:
    return _input_series(KSM, metric, values, container, pod, extra, namespace)


def steady_container(rss_mib: int, limit_mib: int | None, minutes: int = 120, request_mib: int = 64) -> list[dict]:
    """Series of one running container, with cAdvisor's pod-level and pause-container traps beside it."""
    rss = rss_mib * MIB
    series = [
        cadvisor("container_memory_rss", f"{rss}x{minutes}"),
        cadvisor("container_memory_working_set_bytes", f"{rss + 10 * MIB}x{minutes}"),
        cadvisor("container_memory_cache", f"{20 * MIB}x{minutes}"),
        cadvisor("container_memory_usage_bytes", f"{rss + 20 * MIB}x{minutes}"),
        # The pod-level series (no container label) and the pause container must be ignored.
        cadvisor("container_memory_rss", f"{rss * 2}x{minutes}", container=""),
        cadvisor("container_memory_working_set_bytes", f"{rss * 2}x{minutes}", container=""),
        cadvisor("container_memory_rss", f"{MIB}x{minutes}", container="POD"),
        ksm("kube_pod_container_status_restarts_total", f"0x{minutes}"),
        ksm("kube_pod_container_resource_requests", f"{request_mib * MIB}x{minutes}",
            'resource="memory", unit="byte"'),
    ]
    if limit_mib is not None:
        series.append(ksm("kube_pod_container_resource_limits", f"{limit_mib * MIB}x{minutes}",
                          'resource="memory", unit="byte"'))
    return series


def service_labels(severity: str, **extra: str) -> dict:
    labels = dict(CONTAINER_LABELS, obsgen_source="kubernetes", obsgen_service="shop-api", team="payments",
                  env="test", severity=severity)
    labels.update(extra)
    return labels


WHO = f"shop/{POD} container api"


@pytest.fixture(scope="module")
def rule_files(tmp_path_factory):
    require_binary("promtool")
    return build_rules(CATALOG, tmp_path_factory.mktemp("rules"))


def assert_promtool_passes(rule_files, tests, tmp_path):
    result = run_promtool_tests(rule_files, tests, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_near_limit_warns_then_pages(rule_files, tmp_path):
    near = {"summary": "A container's non-reclaimable memory is close to its memory limit.",
            "runbook_url": "https://runbooks.example.com/containermemorynearlimit"}
    tests = [{
        "interval": "1m",
        "input_series": steady_container(rss_mib=123, limit_mib=128),  # 96.09 % of the limit
        "alert_rule_test": [
            {"eval_time": "10m", "alertname": "ContainerMemoryNearLimit", "exp_alerts": []},
            {"eval_time": "30m", "alertname": "ContainerMemoryNearLimit", "exp_alerts": [{
                "exp_labels": service_labels("warning"),
                "exp_annotations": dict(near, description=(
                    f"{WHO} holds 96.09% of its memory limit in memory the kernel cannot reclaim (RSS); "
                    f"it is OOM-killed when this reaches 100%.")),
            }]},
        ],
    }, {
        "interval": "1m",
        "input_series": steady_container(rss_mib=126, limit_mib=128),
        "alert_rule_test": [
            {"eval_time": "30m", "alertname": "ContainerMemoryNearLimit", "exp_alerts": [
                {"exp_labels": service_labels("warning"), "exp_annotations": dict(near, description=(
                    f"{WHO} holds 98.44% of its memory limit in memory the kernel cannot reclaim (RSS); "
                    f"it is OOM-killed when this reaches 100%."))},
                {"exp_labels": service_labels("critical"), "exp_annotations": dict(near, description=(
                    f"{WHO} holds 98.44% of its memory limit in memory the kernel cannot reclaim (RSS); "
                    f"it is OOM-killed when this reaches 100%."))},
            ]},
        ],
    }]
    assert_promtool_passes(rule_files, tests, tmp_path)


def test_near_limit_silent_below_threshold_and_on_page_cache(rule_files, tmp_path):
    series = steady_container(rss_mib=60, limit_mib=128)
    # A warm page cache fills the working set up to the limit; RSS stays at 60 MiB.
    series = [s for s in series if not s["series"].startswith("container_memory_working_set_bytes{")]
    series.append(cadvisor("container_memory_working_set_bytes", f"{127 * MIB}x120"))
    tests = [{"interval": "1m", "input_series": series, "alert_rule_test": [
        {"eval_time": "60m", "alertname": "ContainerMemoryNearLimit", "exp_alerts": []},
    ]}]
    assert_promtool_passes(rule_files, tests, tmp_path)


@pytest.mark.parametrize("limit_series", [
    pytest.param(None, id="no limit at all"),
    pytest.param(f"{0}x120", id="cadvisor reports 0"),
    pytest.param("9223372036854771712x120", id="cgroup v1 unlimited marker"),
])
def test_no_limit_gives_no_ratio_and_no_alert(rule_files, tmp_path, limit_series):
    series = steady_container(rss_mib=120, limit_mib=None)
    if limit_series:
        series.append(cadvisor("container_spec_memory_limit_bytes", limit_series))
    tests = [{"interval": "1m", "input_series": series,
              "promql_expr_test": [{"expr": "namespace_pod_container:obsgen_memory_rss_bytes:ratio_limit",
                                    "eval_time": "30m", "exp_samples": []}],
              "alert_rule_test": [{"eval_time": "60m", "alertname": "ContainerMemoryNearLimit", "exp_alerts": []}]}]
    assert_promtool_passes(rule_files, tests, tmp_path)


def test_restarted_container_does_not_double_series(rule_files, tmp_path):
    series = steady_container(rss_mib=50, limit_mib=128)
    # The old container's series lingers beside the new one after a restart.
    series.append(cadvisor("container_memory_rss", f"{50 * MIB}x120", extra='id="/old-container"'))
    tests = [{"interval": "1m", "input_series": series, "promql_expr_test": [{
        "expr": "count(namespace_pod_container:obsgen_memory_rss_bytes)", "eval_time": "30m",
        "exp_samples": [{"labels": "{}", "value": 1}],
    }, {
        "expr": "namespace_pod_container:obsgen_memory_rss_bytes", "eval_time": "30m",
        "exp_samples": [{"labels": ('namespace_pod_container:obsgen_memory_rss_bytes{container="api", '
                                    f'namespace="shop", obsgen_source="kubernetes", pod="{POD}"}}'),
                         "value": 50 * MIB}],
    }]}]
    assert_promtool_passes(rule_files, tests, tmp_path)


def oom_series(kill_minutes: list[int], minutes: int = 120, reason: str = "OOMKilled") -> list[dict]:
    """A container killed at each of ``kill_minutes``: the restart count steps up, the reason is set."""
    restarts = []
    count = 0
    for minute in range(minutes):
        if minute in kill_minutes:
            count += 1
        restarts.append(str(count))
    reason_values = " ".join("1" if minute >= min(kill_minutes) else "_" for minute in range(minutes))
    series = steady_container(rss_mib=60, limit_mib=128, minutes=minutes)
    series = [s for s in series if "restarts_total" not in s["series"]]
    series.append(ksm("kube_pod_container_status_restarts_total", " ".join(restarts)))
    series.append(ksm("kube_pod_container_status_last_terminated_reason", reason_values, f'reason="{reason}"'))
    return series


OOM_ANNOTATIONS = {"summary": "A container was killed for running out of memory.",
                   "runbook_url": "https://runbooks.example.com/containeroomkilled"}


def oom_alert(times: str = "1") -> dict:
    # Kills from every listed source are merged, so the alert carries no obsgen_source label.
    labels = service_labels("critical")
    del labels["obsgen_source"]
    return {"exp_labels": labels, "exp_annotations": dict(OOM_ANNOTATIONS, description=(
        f"{WHO} was OOM-killed (about {times} time(s) in the last 10m): it used all the memory its limit allows."))}


def test_oom_kill_fires_and_resolves(rule_files, tmp_path):
    tests = [{"interval": "1m", "input_series": oom_series([30]), "alert_rule_test": [
        {"eval_time": "29m", "alertname": "ContainerOOMKilled", "exp_alerts": []},
        {"eval_time": "31m", "alertname": "ContainerOOMKilled", "exp_alerts": [oom_alert()]},
        {"eval_time": "45m", "alertname": "ContainerOOMKilled", "exp_alerts": []},
    ]}]
    assert_promtool_passes(rule_files, tests, tmp_path)


def test_repeated_oom_kills_each_fire(rule_files, tmp_path):
    tests = [{"interval": "1m", "input_series": oom_series([20, 70]), "alert_rule_test": [
        {"eval_time": "22m", "alertname": "ContainerOOMKilled", "exp_alerts": [oom_alert()]},
        {"eval_time": "50m", "alertname": "ContainerOOMKilled", "exp_alerts": []},
        {"eval_time": "72m", "alertname": "ContainerOOMKilled", "exp_alerts": [oom_alert()]},
    ]}]
    assert_promtool_passes(rule_files, tests, tmp_path)


def test_non_oom_restart_and_old_oom_reason_stay_silent(rule_files, tmp_path):
    crash = oom_series([30], reason="Error")
    # OOMKilled long ago: the reason is still reported, but nothing restarts any more.
    old = steady_container(rss_mib=60, limit_mib=128)
    old = [s for s in old if "restarts_total" not in s["series"]]
    old.append(ksm("kube_pod_container_status_restarts_total", "3x120"))
    old.append(ksm("kube_pod_container_status_last_terminated_reason", "1x120", 'reason="OOMKilled"'))
    tests = [{"interval": "1m", "input_series": series, "alert_rule_test": [
        {"eval_time": f"{minute}m", "alertname": "ContainerOOMKilled", "exp_alerts": []}
        for minute in (31, 35, 60)]} for series in (crash, old)]
    assert_promtool_passes(rule_files, tests, tmp_path)


def test_oom_seen_only_by_cadvisor_counter_fires(rule_files, tmp_path):
    series = steady_container(rss_mib=60, limit_mib=128)
    series.append(cadvisor("container_oom_events_total", "0x30 1x89"))
    tests = [{"interval": "1m", "input_series": series, "alert_rule_test": [
        {"eval_time": "32m", "alertname": "ContainerOOMKilled", "exp_alerts": [oom_alert()]},
        {"eval_time": "50m", "alertname": "ContainerOOMKilled", "exp_alerts": []},
    ]}]
    assert_promtool_passes(rule_files, tests, tmp_path)


def test_above_request_fires_only_when_sustained(rule_files, tmp_path):
    over = steady_container(rss_mib=80, limit_mib=256, request_mib=64)  # working set 90 MiB
    description = (f"{WHO} has used 140.6% of its memory request for 30m; under node memory pressure the "
                   f"kubelet evicts such pods first.")
    tests = [{"interval": "1m", "input_series": over, "alert_rule_test": [
        {"eval_time": "20m", "alertname": "ContainerMemoryAboveRequest", "exp_alerts": []},
        {"eval_time": "40m", "alertname": "ContainerMemoryAboveRequest", "exp_alerts": [{
            "exp_labels": service_labels("info"),
            "exp_annotations": {"summary": "A container uses more memory than it requested.",
                                "description": description,
                                "runbook_url": "https://runbooks.example.com/containermemoryaboverequest"},
        }]},
    ]}, {"interval": "1m", "input_series": steady_container(rss_mib=40, limit_mib=256, request_mib=64),
         "alert_rule_test": [{"eval_time": "60m", "alertname": "ContainerMemoryAboveRequest", "exp_alerts": []}]}]
    assert_promtool_passes(rule_files, tests, tmp_path)


def test_unclaimed_container_gets_fleet_alert(rule_files, tmp_path):
    pod = "batch-0"
    series = [
        cadvisor("container_memory_rss", f"{126 * MIB}x60", pod=pod, container="worker", namespace="jobs"),
        cadvisor("container_memory_working_set_bytes", f"{126 * MIB}x60", pod=pod, container="worker",
                 namespace="jobs"),
        ksm("kube_pod_container_resource_limits", f"{128 * MIB}x60", 'resource="memory", unit="byte"',
            pod=pod, container="worker", namespace="jobs"),
    ]
    labels = {"namespace": "jobs", "pod": pod, "container": "worker", "obsgen_source": "kubernetes",
              "obsgen_service": "fleet", "team": "platform", "env": "test"}
    description = (f"jobs/{pod} container worker holds 98.44% of its memory limit in memory the kernel cannot "
                   f"reclaim (RSS); it is OOM-killed when this reaches 100%.")
    annotations = {"summary": "A container's non-reclaimable memory is close to its memory limit.",
                   "description": description,
                   "runbook_url": "https://runbooks.example.com/containermemorynearlimit"}
    tests = [{"interval": "1m", "input_series": series, "alert_rule_test": [
        {"eval_time": "30m", "alertname": "ContainerMemoryNearLimit", "exp_alerts": [
            {"exp_labels": dict(labels, severity="warning"), "exp_annotations": annotations},
            {"exp_labels": dict(labels, severity="critical"), "exp_annotations": annotations},
        ]},
    ]}, {"interval": "1m", "input_series": steady_container(rss_mib=126, limit_mib=128),
         "promql_expr_test": [{"expr": 'count(namespace_pod_container:obsgen_service:info{obsgen_service="fleet"})',
                               "eval_time": "30m", "exp_samples": []}]}]
    assert_promtool_passes(rule_files, tests, tmp_path)
