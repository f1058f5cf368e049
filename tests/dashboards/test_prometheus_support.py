"""The rule-level split of ``tests/support/prometheus.py``: inputs are backfilled before their readers."""

from __future__ import annotations

import yaml

from tests.support.prometheus import recording_levels


def _rules(*rules: dict[str, str]) -> str:
    return yaml.safe_dump({"groups": [{"name": "g", "rules": list(rules)}]})


def _records(levels: list[list[dict]]) -> list[list[str]]:
    return [[rule["record"] for rule in level] for level in levels]


def test_levels_follow_reads() -> None:
    text = _rules({"record": "a:sum", "expr": "sum(raw)"},
                  {"record": "b:ratio", "expr": "a:sum / other"},
                  {"record": "c:deriv", "expr": "deriv(b:ratio[5m])"},
                  {"record": "d:sum", "expr": "sum(raw2)"})
    assert _records(recording_levels([text])) == [["a:sum", "d:sum"], ["b:ratio"], ["c:deriv"]]


def test_rule_reading_own_record_follows_earlier_writers() -> None:
    """The fleet membership rule reads the services' results of the same record name."""
    text = _rules({"record": "info", "expr": "group(raw)"},
                  {"record": "info", "expr": "group(raw) unless on (pod) info"})
    assert _records(recording_levels([text])) == [["info"], ["info"]]


def test_alerting_rules_left_out() -> None:
    text = _rules({"record": "a:sum", "expr": "sum(raw)"}, {"alert": "High", "expr": "a:sum > 1"})
    assert _records(recording_levels([text])) == [["a:sum"]]


def test_levels_span_files() -> None:
    first = _rules({"record": "a:sum", "expr": "sum(raw)"})
    second = _rules({"record": "b:twice", "expr": "a:sum * 2"})
    assert _records(recording_levels([first, second])) == [["a:sum"], ["b:twice"]]
