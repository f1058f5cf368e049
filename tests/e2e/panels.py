"""The panel queries of generated Grafana dashboards, with their template variables filled in.

There is no Grafana server in the tests, so this module does what Grafana does before it sends a
panel's query to Prometheus. It resolves each template variable to the value its dashboard
selects. For "All" that is the variable's ``allValue``, or else the alternation of every value
its ``label_values`` query finds. It also replaces Grafana's built-in interval variables.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Values of Grafana's built-in variables for a dashboard over a few minutes scraped every 5 s.
#: ``$__rate_interval`` is at least four scrape intervals, as Grafana computes it.
BUILTINS = {
    "__rate_interval": "20s",
    "__interval": "5s",
    "__interval_ms": "5000",
    "__range": "5m",
    "__range_s": "300",
    "__range_ms": "300000",
}

_LABEL_VALUES = re.compile(r"^\s*label_values\((?:(?P<selector>.*),\s*)?(?P<label>[a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$")


@dataclass(frozen=True)
class PanelQuery:
    """One query of one panel: where it comes from and its expression with variables filled in."""

    dashboard: str
    panel: str
    ref_id: str
    expr: str

    @property
    def name(self) -> str:
        return f"{self.dashboard}: {self.panel} [{self.ref_id}]"


def dashboard_files(build_dir: Path) -> list[Path]:
    """Return every dashboard JSON file the build wrote under ``dashboards/``, sorted."""
    return sorted((build_dir / "dashboards").glob("**/*.json"))


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        # Collapsed rows keep their panels inside the row.
        yield from _panels(panel.get("panels", []))


def _current_values(variable: dict[str, Any]) -> list[str]:
    value = variable.get("current", {}).get("value", "")
    return [str(item) for item in value] if isinstance(value, list) else [str(value)]


def variable_values(dashboard: dict[str, Any], label_values: Callable[[str, str], list[str]]) -> dict[str, str]:
    """Return each template variable's value as Grafana would substitute it into a PromQL query.

    ``label_values(label, selector)`` returns the values of ``label`` on series matching
    ``selector`` (an empty selector means all series).
    """
    values: dict[str, str] = {}
    for variable in dashboard.get("templating", {}).get("list", []):
        kind, name = variable.get("type"), variable["name"]
        if kind == "datasource":
            continue
        selected = _current_values(variable)
        if "$__all" in selected:
            if variable.get("allValue"):
                values[name] = variable["allValue"]
                continue
            selected = _all_values(variable, label_values)
        if len(selected) == 1:
            values[name] = selected[0]
        else:
            values[name] = "(" + "|".join(re.escape(value) for value in selected) + ")"
    return values


def _all_values(variable: dict[str, Any], label_values: Callable[[str, str], list[str]]) -> list[str]:
    query = variable.get("query")
    text = query.get("query", "") if isinstance(query, dict) else str(query or "")
    match = _LABEL_VALUES.match(text)
    if match is None:
        return [option["value"] for option in variable.get("options", []) if option.get("value") != "$__all"]
    return label_values(match["label"], match["selector"] or "")


def fill(expr: str, values: dict[str, str]) -> str:
    """Replace ``$name``, ``${name}``, ``${name:format}`` and ``[[name]]`` with their values.

    Unknown variables are left as they are, so the query fails visibly in Prometheus.
    """
    known = {**BUILTINS, **values}

    def replace(match: re.Match[str]) -> str:
        name = match["braced"] or match["bracketed"] or match["plain"]
        return known.get(name, match[0])

    pattern = r"\$\{(?P<braced>\w+)(?::\w+)?\}|\[\[(?P<bracketed>\w+)\]\]|\$(?P<plain>\w+)"
    return re.sub(pattern, replace, expr)


def panel_queries(path: Path, label_values: Callable[[str, str], list[str]]) -> list[PanelQuery]:
    """Return every Prometheus query of every panel of the dashboard at ``path``, variables filled."""
    dashboard = json.loads(path.read_text())
    values = variable_values(dashboard, label_values)
    queries = []
    for panel in _panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            if target.get("expr"):
                queries.append(PanelQuery(dashboard.get("title", path.name), panel.get("title", ""),
                                          target.get("refId", "?"), fill(target["expr"], values)))
    return queries
