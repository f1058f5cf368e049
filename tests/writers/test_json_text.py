"""The indented JSON writer gives exactly the text of ``json.dumps(..., indent=2)``."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, strategies as st

from obsgen.writers.json_text import dumps_indented

SCALARS = (st.none() | st.booleans() | st.integers() | st.floats() | st.text())
KEYS = st.text() | st.integers() | st.booleans() | st.none() | st.floats(allow_nan=False)
VALUES = st.recursive(SCALARS, lambda children: st.lists(children, max_size=4)
                      | st.tuples(children, children)
                      | st.dictionaries(st.text(max_size=6), children, max_size=4), max_leaves=40)


@given(VALUES, st.booleans(), st.booleans())
def test_same_text_as_json_dumps(value, sort_keys, ensure_ascii):
    expected = json.dumps(value, indent=2, sort_keys=sort_keys, ensure_ascii=ensure_ascii)
    assert dumps_indented(value, sort_keys=sort_keys, ensure_ascii=ensure_ascii) == expected


@given(st.dictionaries(KEYS, SCALARS, max_size=5))
def test_keys_converted_like_json_dumps(value):
    expected = json.dumps(value, indent=2, ensure_ascii=False)
    assert dumps_indented(value, ensure_ascii=False) == expected


def test_non_ascii_escaped_only_with_ensure_ascii():
    value = {"title": "Größe \u2028 \U0001f600"}
    assert "\\u00f6" in dumps_indented(value)
    assert "ö" in dumps_indented(value, ensure_ascii=False)


def test_unknown_type_rejected():
    with pytest.raises(TypeError, match="set"):
        dumps_indented({"a": {1, 2}})
