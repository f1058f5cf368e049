"""The generated right-sizing rules: promtool accepts them, and the alert waits its `for` of days."""

from __future__ import annotations

import pytest
import yaml

from obsgen import conventions as names
from obsgen.catalog.loader import Document
from obsgen.catalog.validation import to_model
from obsgen.errors import CatalogError
from obsgen.generate import generate
from obsgen.rules.build import RECORDING_FILE, service_file
from obsgen.rules.rightsizing import OVERSIZED
from tests.conftest import require_binary
from tests.support.promtool import check_rules, run_promtool_tests

CATALOG = {
    "apiVersion": "obsgen/v1",
    "name": "shop",
    "teams": [{"name": "web", "receiver": "web-pager"}],
    "services": [{"name": "cart", "team": "web", "selector": {"namespace": "shop", "workload": "cart"},
                  "overrides": {"oversized_request": {"ratio": 3, "for": "2d", "min_idle": "100Mi"}}}],
}


def _build(tmp_path, catalog=CATALOG):
    files = generate(to_model(Document("obsgen.yaml", catalog)))
    for path, content in files.items():
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return files


def test_generated_rules_pass_promtool_check(tmp_path):
    require_binary("promtool")
    files = _build(tmp_path)
    result = check_rules([tmp_path / path for path in files if path.endswith(".rules.yaml")])
    assert result.returncode == 0, result.stdout + result.stderr


def test_rollup_group_runs_every_rollup_window(tmp_path):
    groups = yaml.safe_load(_build(tmp_path)[RECORDING_FILE])["groups"]
    by_name = {group["name"]: group for group in groups}
    assert by_name["obsgen-rightsizing-rollup"]["interval"] == "5m"
    assert by_name["obsgen-rightsizing"]["interval"] == "1m"
    records = [rule["record"] for rule in by_name["obsgen-rightsizing"]["rules"]]
    assert names.working_set_peak(7 * 86400) in records
    assert names.request_idle_byte_seconds(86400) in records


def test_oversized_alert_uses_catalog_settings(tmp_path):
    rules = yaml.safe_load(_build(tmp_path)[service_file("cart")])["groups"][0]["rules"]
    alert = next(rule for rule in rules if rule["alert"] == OVERSIZED)
    assert alert["for"] == "2d"
    assert alert["labels"]["severity"] == "info"
    assert "> 3\n" in alert["expr"]
    assert f"> {100 * 1024 * 1024}" in alert["expr"]


def test_oversized_ratio_must_exceed_one():
    catalog = dict(CATALOG, defaults={"oversized_request": {"ratio": 0.5}})
    with pytest.raises(CatalogError) as error:
        to_model(Document("obsgen.yaml", catalog))
    assert "defaults.oversized_request.ratio" in str(error.value)


MIB = 1024 * 1024
POD = {"namespace": "shop", "pod": "cart-7c9d8f6b5d-x2x4z", "container": "server"}


def _promtool_test(tmp_path, request_mib: int, peak_mib: int, alert_tests: list[dict]) -> None:
    """Run ``promtool test rules`` on the cart service's rules with four days of hourly input."""
    require_binary("promtool")
    _build(tmp_path)
    labels = ", ".join(f'{key}="{value}"' for key, value in POD.items())
    source = 'obsgen_source="kubernetes"'
    hours = 24 * 4
    tests = [{
        "interval": "1h",
        "input_series": [
            {"series": f"{names.REQUEST}{{{labels}, {source}}}", "values": f"{request_mib * MIB}x{hours}"},
            {"series": f"{names.working_set_peak(7 * 86400)}{{{labels}, {source}}}",
             "values": f"{peak_mib * MIB}x{hours}"},
            {"series": f'{names.SERVICE_INFO}{{{labels}, obsgen_service="cart", team="web"}}',
             "values": f"1x{hours}"},
        ],
        "alert_rule_test": alert_tests,
    }]
    result = run_promtool_tests([tmp_path / service_file("cart")], tests, tmp_path, evaluation_interval="1h")
    assert result.returncode == 0, result.stdout + result.stderr


def test_oversized_alert_waits_for_days(tmp_path):
    expected = {
        "exp_labels": {**POD, "obsgen_source": "kubernetes", "severity": "info", "team": "web",
                       "obsgen_service": "cart"},
        "exp_annotations": {
            "summary": "A container requests far more memory than it has used in a week.",
            "description": f"shop/{POD['pod']} container server requests 5.1 times the most memory "
                           "it used in 7 days, and has for 2d. The scheduler reserves the request on a "
                           "node whether it is used or not; `obsgen recommend` proposes a request and "
                           "a limit.",
            "runbook_url": "https://github.com/obsgen/obsgen/blob/main/docs/alerts.md"
                           "#containermemoryrequestoversized",
        },
    }
    _promtool_test(tmp_path, 1024, 200, [
        {"eval_time": "47h", "alertname": OVERSIZED, "exp_alerts": []},
        {"eval_time": "49h", "alertname": OVERSIZED, "exp_alerts": [expected]},
    ])


def test_oversized_alert_quiet_below_min_idle(tmp_path):
    # Three times the peak, but only 80Mi idle: under min_idle (100Mi).
    _promtool_test(tmp_path, 120, 40, [{"eval_time": "95h", "alertname": OVERSIZED, "exp_alerts": []}])
