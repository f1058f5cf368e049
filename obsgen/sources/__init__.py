"""Metric sources: each turns what it scrapes into the recorded series of ``conventions``.

A source module exposes ``recording_rules(catalog, oom_windows)``, which returns plain rule dicts
whose series carry ``obsgen_source=<source>``. Alerts and dashboards read only the contract, so a
new source needs no change elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable

from obsgen.catalog.model import SOURCE_EXPORTER, SOURCE_KUBERNETES, Catalog
from obsgen.sources import exporter, kubernetes

Rule = dict[str, object]

RULES_BY_SOURCE: dict[str, Callable[[Catalog, tuple[int, ...]], list[Rule]]] = {
    SOURCE_KUBERNETES: kubernetes.recording_rules,
    SOURCE_EXPORTER: exporter.recording_rules,
}
