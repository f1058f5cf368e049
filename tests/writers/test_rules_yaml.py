"""obsgen's YAML emitter writes what a YAML parser reads back unchanged."""

from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from obsgen.writers.rules_yaml import dump_yaml

TRICKY = ["", " ", "true", "no", "null", "~", "1", "1.5", "0x10", "1e3", "-", "a: b", "a #b", "#x", "'q'", '"q"',
          "{x}", "[x]", "- x", "x\ny", "x\n", " lead\nx", "tab\there", "é", "{{ $value | humanize }}", "*alias",
          "&anchor", "!tag", "%x", "@x", "`x`", "x:", "2024-01-01", "y", "on", "off", "=", "a\n\nb\n", "\n",
          "\x1f", "a\n\x1f", "a\n\n", "\na", "a \nb", "\x7f"]

keys = st.sampled_from(["a", "expr", "for", "labels", "true", "1", "x y", "k:v"])
scalars = st.one_of(st.sampled_from(TRICKY), st.text(max_size=20), st.integers(), st.booleans(),
                    st.floats(allow_nan=False, allow_infinity=False))
trees = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)), max_leaves=20)


@given(st.dictionaries(keys, trees, max_size=5))
@settings(max_examples=100, deadline=None)
def test_round_trip(data):
    assert yaml.safe_load(dump_yaml(data)) == (data or {})


def test_tricky_strings_round_trip():
    data = {"values": TRICKY, "nested": [{"expr": "a\n  b\n", "for": "5m"}, {"k": []}, {}]}
    assert yaml.safe_load(dump_yaml(data)) == data


def test_multiline_strings_are_literal_blocks():
    text = dump_yaml({"groups": [{"name": "g", "rules": [{"expr": "sum(x)\n/\nsum(y)"}]}]})
    assert text == "groups:\n- name: g\n  rules:\n  - expr: |-\n      sum(x)\n      /\n      sum(y)\n"
