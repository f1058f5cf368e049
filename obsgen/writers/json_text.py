"""Indented JSON text, written fast enough for thousands of dashboards.

``json.dumps`` with ``indent`` set falls back from the C encoder to the pure-Python one, which
passes every fragment up through one generator per nesting level. ``dumps_indented`` writes the
same text, byte for byte, with one recursive function that appends to a list, and uses the C
string quoting of the ``json`` module.
"""

from __future__ import annotations

import json.encoder
from collections.abc import Callable

_INDENT = "  "


def _float(value: float) -> str:
    # The same spelling as json.dumps: repr, with JavaScript's names for the special values.
    if value != value:
        return "NaN"
    if value == float("inf"):
        return "Infinity"
    if value == -float("inf"):
        return "-Infinity"
    return float.__repr__(value)


def _key(key: object) -> str:
    """Return a mapping key as a string, converted the way ``json.dumps`` converts it."""
    if isinstance(key, str):
        return key
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return int.__repr__(key)
    if isinstance(key, float):
        return _float(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def _scalar(value: object, quote: Callable[[str], str]) -> str | None:
    """Return the JSON text of a string, number, boolean or None, and None for anything else."""
    kind = type(value)
    if kind is str:
        return quote(value)  # type: ignore[arg-type]
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if kind is int:
        return int.__repr__(value)  # type: ignore[arg-type]
    if kind is float:
        return _float(value)  # type: ignore[arg-type]
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return _float(value)
    return None


def _write(value: object, indent: str, out: list[str], quote: Callable[[str], str], sort_keys: bool) -> None:
    """Append the text of a list, tuple or dict to ``out``; scalars inside are written in place."""
    inner = indent + _INDENT
    if isinstance(value, (list, tuple)):
        if not value:
            out.append("[]")
            return
        separator = "[\n" + inner
        for item in value:
            text = _scalar(item, quote)
            if text is None:
                out.append(separator)
                _write(item, inner, out, quote, sort_keys)
            else:
                out.append(separator + text)
            separator = ",\n" + inner
        out.append("\n" + indent + "]")
    elif isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        separator = "{\n" + inner
        items = sorted(value.items()) if sort_keys else value.items()
        for key, item in items:
            lead = separator + quote(key if type(key) is str else _key(key)) + ": "
            text = _scalar(item, quote)
            if text is None:
                out.append(lead)
                _write(item, inner, out, quote, sort_keys)
            else:
                out.append(lead + text)
            separator = ",\n" + inner
        out.append("\n" + indent + "}")
    else:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dumps_indented(value: object, *, sort_keys: bool = False, ensure_ascii: bool = True) -> str:
    """Return ``json.dumps(value, indent=2, sort_keys=sort_keys, ensure_ascii=ensure_ascii)``.

    ``value`` is made of dicts, lists, tuples, strings, numbers, booleans and None; anything
    else raises TypeError. Unlike ``json.dumps``, it does not check for circular references.
    """
    quote = json.encoder.encode_basestring_ascii if ensure_ascii else json.encoder.encode_basestring
    text = _scalar(value, quote)
    if text is not None:
        return text
    out: list[str] = []
    _write(value, "", out, quote, sort_keys)
    return "".join(out)
