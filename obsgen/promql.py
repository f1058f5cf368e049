"""Small builders for PromQL text.

Every label value that reaches PromQL goes through ``quote`` so that no catalog value can end a
string literal early. Builders return plain strings; callers compose them.
"""

from __future__ import annotations

from collections.abc import Iterable

_UNITS = (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def quote(value: str) -> str:
    """Return ``value`` as a double-quoted PromQL string literal."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def matcher(label: str, op: str, value: str) -> str:
    """Return one label matcher such as ``namespace=~"shop"``."""
    return f"{label}{op}{quote(value)}"


def selector(metric: str, *matchers: str) -> str:
    """Return ``metric{m1, m2}``, dropping empty matchers; ``metric{}`` becomes ``metric``."""
    parts = [m for m in matchers if m]
    return f"{metric}{{{', '.join(parts)}}}" if parts else metric


def duration(seconds: int) -> str:
    """Return ``seconds`` as a Prometheus duration such as ``1h30m`` (at least ``1s``)."""
    seconds = max(int(seconds), 1)
    text = ""
    for unit, size in _UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            text += f"{count}{unit}"
    return text


def by(labels: Iterable[str]) -> str:
    """Return a grouping clause such as ``by (cluster, namespace)``."""
    return f"by ({', '.join(labels)})"


def on(labels: Iterable[str]) -> str:
    """Return a matching clause such as ``on (cluster, namespace)``."""
    return f"on ({', '.join(labels)})"


def number(value: float) -> str:
    """Return ``value`` in the shortest exact form PromQL accepts (``0.9``, ``3600``)."""
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))
