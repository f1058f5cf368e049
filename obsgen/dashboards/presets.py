"""obsgen's house style over grafanalib: what current Grafana expects and grafanalib 0.7.1 lacks.

grafanalib 0.7.1 still writes schema version 12, datasources as plain names, threshold steps
whose base value is the string ``"null"`` and bar gauges in the Grafana 6 option layout. Current
Grafana migrates or mis-renders those forms, so this module subclasses the grafanalib classes
that obsgen uses and rewrites their JSON into the current form:

- ``schemaVersion`` :data:`SCHEMA_VERSION`;
- every panel, query and query variable reads the datasource ``{"type": "prometheus",
  "uid": "${datasource}"}``, so the ``datasource`` variable picks the Prometheus;
- threshold steps are ``{"color": ..., "value": null}`` for the base step, numbers after it;
- only ``timeseries``, ``stat``, ``table`` and ``bargauge`` panels, plus ``row`` headers;
- panels are laid out by :func:`layout` on the 24-column grid, never overlapping.

Dashboard modules describe panels with the helpers here and never write panel JSON themselves.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import attr
from grafanalib import core

from obsgen.writers.json_text import dumps_indented

#: The dashboard JSON schema version of Grafana 10.4; newer Grafana loads it without migration.
SCHEMA_VERSION = 39
GRID_COLUMNS = 24
DATASOURCE_VARIABLE = "datasource"
DATASOURCE: dict[str, str] = {"type": "prometheus", "uid": "${" + DATASOURCE_VARIABLE + "}"}

# Grafana unit ids.
BYTES = "bytes"  # IEC: KiB, MiB, GiB, matching Kubernetes' Mi and Gi
BYTES_PER_SECOND = "binBps"
SHARE = "percentunit"  # a ratio 0..1 shown as a percentage
SECONDS = "s"
PER_SECOND = "ops"
COUNT = "short"

#: Panel keys current Grafana reads; grafanalib's others (span, height, editable...) are legacy.
_PANEL_KEYS = frozenset({
    "collapsed", "datasource", "description", "fieldConfig", "gridPos", "id", "interval", "options",
    "panels", "targets", "title", "transformations", "type",
})
#: Dashboard keys that grafanalib writes for pre-5.0 Grafana only.
_LEGACY_DASHBOARD_KEYS = ("__inputs", "gnetId", "hideControls", "id", "rows", "sharedCrosshair", "style")


@attr.s
class Step:
    """One threshold step: the colour from ``value`` upwards; the base step has ``value`` None."""

    color: str = attr.ib()
    value: float | None = attr.ib(default=None)

    def to_json_data(self) -> dict[str, Any]:
        return {"color": self.color, "value": self.value}


def steps(base: str, *above: tuple[float, str]) -> list[Step]:
    """Return threshold steps: ``base`` colour, then ``(value, colour)`` pairs in rising order."""
    values = [value for value, _color in above]
    if values != sorted(values):
        raise ValueError(f"threshold values must rise: {values}")
    return [Step(base)] + [Step(color, float(value)) for value, color in above]


@attr.s
class Query(core.Target):
    """A Prometheus query in the form Grafana 10's query editor saves (code mode)."""

    def to_json_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "datasource": DATASOURCE,
            "editorMode": "code",
            "expr": self.expr,
            "legendFormat": self.legendFormat,
            "refId": self.refId,
            "range": not self.instant,
            "instant": self.instant,
        }
        if self.format != core.TIME_SERIES_TARGET_FORMAT:
            data["format"] = self.format
        return data


def query(expr: str, legend: str = "", instant: bool = False, table: bool = False) -> Query:
    """Return a query; with ``table``, an instant query returning one table row per series."""
    return Query(expr=expr, legendFormat=legend, instant=instant or table,
                 format=core.TABLE_TARGET_FORMAT if table else core.TIME_SERIES_TARGET_FORMAT)


_SCALARS = frozenset({str, int, float, bool})


def _plain(value: Any, drop_none: bool = False) -> Any:
    """Turn grafanalib objects into plain JSON values: new dicts and lists, tuples as lists.

    This is what a round trip through ``json`` with grafanalib's encoder gives, without
    encoding and parsing the text of every panel twice. With ``drop_none``, keys whose value is
    null are left out, as grafanalib writes them for unset options; threshold steps keep theirs.
    Objects marked ``PLAIN_JSON`` already return plain values from ``to_json_data`` and are not
    walked again.
    """
    kind = type(value)
    if kind in _SCALARS or value is None:
        return value
    if kind is dict:
        result = {}
        for key, item in value.items():
            # Scalars are by far the most common values: keep them without a call.
            if type(item) not in _SCALARS:
                item = _plain(item, drop_none and key != "steps")
                if item is None and drop_none:
                    continue
            result[key if type(key) is str else _plain_key(key)] = item
        return result
    if kind is list or kind is tuple:
        return [item if type(item) in _SCALARS else _plain(item, drop_none) for item in value]
    if isinstance(value, (str, int, float)):
        return value
    if isinstance(value, (dict, list, tuple)):
        return _plain(dict(value) if isinstance(value, dict) else list(value), drop_none)
    to_json_data = getattr(value, "to_json_data", None)
    if to_json_data is None:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
    if getattr(value, "PLAIN_JSON", False):
        return to_json_data()
    return _plain(to_json_data(), drop_none)


def _plain_key(key: Any) -> str:
    # JSON object keys are strings; json.dumps writes other keys as their JSON text.
    return key if isinstance(key, str) else json.dumps(key)


def _modern_panel(data: dict[str, Any]) -> dict[str, Any]:
    data = {key: value for key, value in data.items() if key in _PANEL_KEYS}
    if data.get("type") != core.ROW_TYPE:
        data["datasource"] = DATASOURCE
    return _plain(data, drop_none=True)


def _thresholds(panel: core.Panel) -> dict[str, Any]:
    return {"mode": "absolute", "steps": panel.thresholds or [Step("green")]}


def _assign_ref_ids(targets: Sequence[Query]) -> list[Query]:
    return [attr.evolve(target, refId=chr(ord("A") + index)) for index, target in enumerate(targets)]


def _current_form(panel: core.Panel, panel_json: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """Return ``panel`` as current Grafana reads it, from the grafanalib method ``panel_json``."""
    if any(target.refId != chr(ord("A") + index) for index, target in enumerate(panel.targets)):
        panel = attr.evolve(panel, targets=_assign_ref_ids(panel.targets))
    data = _modern_panel(panel_json(panel))
    data["fieldConfig"]["defaults"]["thresholds"] = _plain(_thresholds(panel))
    return data


@attr.s
class TimeSeries(core.TimeSeries):
    """A time series panel; dashed red lines for limits and orange ones for requests."""

    PLAIN_JSON = True

    def to_json_data(self) -> dict[str, Any]:
        return _current_form(self, core.TimeSeries.to_json_data)


@attr.s
class Stat(core.Stat):
    """A stat panel coloured by its thresholds."""

    PLAIN_JSON = True

    def to_json_data(self) -> dict[str, Any]:
        data = _current_form(self, core.Stat.to_json_data)
        data["fieldConfig"]["defaults"]["color"] = {"mode": "thresholds"}
        return data


@attr.s
class Table(core.Table):
    """A table of instant query results, merged into one row per series."""

    PLAIN_JSON = True

    def to_json_data(self) -> dict[str, Any]:
        return _current_form(self, core.Table.to_json_data)


@attr.s
class BarGauge(core.Panel):
    """A horizontal bar gauge in Grafana 10's layout (grafanalib writes the Grafana 6 one)."""

    PLAIN_JSON = True

    unit: str = attr.ib(default=COUNT)
    min: float | None = attr.ib(default=None)
    max: float | None = attr.ib(default=None)

    def to_json_data(self) -> dict[str, Any]:
        return _current_form(self, BarGauge._bargauge_json)

    def _bargauge_json(self) -> dict[str, Any]:
        return self.panel_json({
            "fieldConfig": {
                "defaults": {"color": {"mode": "thresholds"}, "unit": self.unit, "min": self.min, "max": self.max},
                "overrides": [],
            },
            "options": {
                "displayMode": "gradient",
                "orientation": "horizontal",
                "showUnfilled": True,
                "valueMode": "color",
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            },
            "type": core.BARGAUGE_TYPE,
        })


@attr.s
class Row(core.RowPanel):
    """A section header; its panels follow it at the top level, so the row is never collapsed."""

    PLAIN_JSON = True

    def to_json_data(self) -> dict[str, Any]:
        data = _modern_panel(core.RowPanel.to_json_data(self))
        data["panels"] = []
        data["collapsed"] = False
        return data


# Panel constructors with obsgen's defaults. ``unit`` is a Grafana unit id.

def timeseries(title: str, targets: list[Query], unit: str, description: str = "",
               thresholds: list[Step] | None = None, bars: bool = False, stack: bool = False,
               minimum: int | None = None, maximum: int | None = None) -> TimeSeries:
    """Return a time series panel with a table legend showing the last and highest values."""
    return TimeSeries(
        title=title, description=description or None, targets=_assign_ref_ids(targets), dataSource=DATASOURCE, unit=unit,
        thresholds=thresholds or [], thresholdsStyleMode="dashed" if thresholds else "off",
        drawStyle="bars" if bars else "line", fillOpacity=60 if bars else 10, lineWidth=1,
        stacking={"mode": "normal", "group": "A"} if stack else {"mode": "none", "group": "A"},
        legendDisplayMode="table", legendPlacement="bottom", legendCalcs=["lastNotNull", "max"],
        tooltipMode="multi", tooltipSort="desc", valueMin=minimum, valueMax=maximum, overrides=_line_styles(),
    )


def _line_styles() -> list[dict[str, Any]]:
    """Draw series named ``... limit`` as red dashes and ``... request`` as orange dashes."""
    def dashed(suffix: str, color: str) -> dict[str, Any]:
        return {
            "matcher": {"id": "byRegexp", "options": f".* {suffix}$"},
            "properties": [
                {"id": "color", "value": {"mode": "fixed", "fixedColor": color}},
                {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
                {"id": "custom.fillOpacity", "value": 0},
            ],
        }
    return [dashed("limit", "red"), dashed("request", "orange")]


def stat(title: str, targets: list[Query], unit: str, thresholds: list[Step], description: str = "",
         no_value: str = "0", decimals: int | None = None) -> Stat:
    """Return a stat panel showing the latest value; ``no_value`` is shown when a query returns nothing."""
    return Stat(title=title, description=description or None, targets=_assign_ref_ids(targets), dataSource=DATASOURCE,
                format=unit, decimals=decimals, thresholds=thresholds, reduceCalc="lastNotNull", graphMode="area",
                colorMode="background", noValue=no_value, textMode="auto")


def bargauge(title: str, targets: list[Query], unit: str, thresholds: list[Step], description: str = "",
             minimum: float | None = None, maximum: float | None = None) -> BarGauge:
    """Return a bar gauge with one bar per series, coloured by ``thresholds``."""
    return BarGauge(title=title, description=description or None, targets=_assign_ref_ids(targets), dataSource=DATASOURCE,
                    unit=unit, thresholds=thresholds, min=minimum, max=maximum)


def table(title: str, targets: list[Query], unit: str, description: str = "",
          hidden: Iterable[str] = ("Time",), sort_by: str = "", descending: bool = False) -> Table:
    """Return a table joining instant queries into one row per label set.

    Grafana names the value column ``Value`` for one query and ``Value #<refId>`` for several;
    ``sort_by`` names one of those columns.
    """
    transformations: list[dict[str, Any]] = [
        {"id": "merge", "options": {}},
        {"id": "organize", "options": {"excludeByName": {name: True for name in sorted(hidden)}}},
    ]
    sort = [core.TableSortByField(displayName=sort_by, desc=descending)] if sort_by else []
    return Table(title=title, description=description or None, targets=_assign_ref_ids(targets), dataSource=DATASOURCE,
                 unit=unit, transformations=transformations, filterable=True, sortBy=sort)


@dataclass
class Cell:
    """Placement request: a panel and its size in grid units (24 columns across, 30 px per unit of height)."""

    panel: core.Panel
    width: int
    height: int


@dataclass
class Section:
    """A titled group of panels; ``title`` empty means no row header (the first screen)."""

    title: str
    cells: list[Cell] = field(default_factory=list)

    def add(self, panel: core.Panel, width: int, height: int) -> None:
        if not 1 <= width <= GRID_COLUMNS:
            raise ValueError(f"panel {panel.title!r}: width {width} is not within 1..{GRID_COLUMNS}")
        self.cells.append(Cell(panel, width, height))


def layout(sections: Sequence[Section]) -> list[core.Panel]:
    """Place the sections' panels left to right, top to bottom, and number them from 1.

    Panels fill a line until the next one does not fit in the 24 columns. The next line starts
    below the tallest panel of the line, so panels never overlap. Empty sections are dropped.
    """
    placed: list[tuple[core.Panel, core.GridPos]] = []
    y = 0
    for section in sections:
        if not section.cells:
            continue
        if section.title:
            placed.append((Row(title=section.title), core.GridPos(h=1, w=GRID_COLUMNS, x=0, y=y)))
            y += 1
        x, line_height = 0, 0
        for cell in section.cells:
            if x + cell.width > GRID_COLUMNS:
                x, y, line_height = 0, y + line_height, 0
            placed.append((cell.panel, core.GridPos(h=cell.height, w=cell.width, x=x, y=y)))
            x += cell.width
            line_height = max(line_height, cell.height)
        y += line_height
    return [_placed(panel, grid_pos, number) for number, (panel, grid_pos) in enumerate(placed, start=1)]


def _placed(panel: core.Panel, grid_pos: core.GridPos, number: int) -> core.Panel:
    # A shallow copy with two fields set: attr.evolve would run every validator of the panel
    # again, which cost more than building the panel.
    copied = copy.copy(panel)
    copied.gridPos = grid_pos
    copied.id = number
    return copied


# Template variables.

@attr.s
class DatasourceVariable:
    """The Prometheus datasource picker every query reads through ``${datasource}``."""

    default: str = attr.ib()

    def to_json_data(self) -> dict[str, Any]:
        return {
            "current": {"selected": False, "text": self.default, "value": self.default},
            "hide": 0, "includeAll": False, "label": "Data source", "multi": False,
            "name": DATASOURCE_VARIABLE, "options": [], "query": "prometheus", "refresh": 1, "regex": "",
            "skipUrlSync": False, "type": "datasource",
        }


@attr.s
class QueryVariable:
    """A variable whose values are one label's values in a series selector (``label_values``).

    With ``include_all`` the "All" choice sends the regex ``.*``, which also matches series
    without the label, such as single-cluster setups without a cluster label.
    """

    name: str = attr.ib()
    label: str = attr.ib()
    selector: str = attr.ib()
    label_name: str = attr.ib()
    include_all: bool = attr.ib(default=True)
    multi: bool = attr.ib(default=True)

    @property
    def query(self) -> str:
        return f"label_values({self.selector}, {self.label_name})"

    def to_json_data(self) -> dict[str, Any]:
        current = ({"selected": True, "text": ["All"], "value": ["$__all"]} if self.include_all
                   else {"selected": False, "text": "", "value": ""})
        data: dict[str, Any] = {
            "current": current, "datasource": DATASOURCE, "definition": self.query, "hide": 0,
            "includeAll": self.include_all, "label": self.label, "multi": self.multi, "name": self.name,
            "options": [], "query": self.query, "refresh": 2, "regex": "", "skipUrlSync": False, "sort": 1,
            "type": "query",
        }
        if self.include_all:
            data["allValue"] = ".*"
        return data


@attr.s
class ConstantVariable:
    """A hidden variable with one fixed value, so every query can name it like the others."""

    name: str = attr.ib()
    value: str = attr.ib()

    def to_json_data(self) -> dict[str, Any]:
        return {
            "current": {"selected": False, "text": self.value, "value": self.value}, "hide": 2,
            "label": self.name.capitalize(), "name": self.name, "options": [], "query": self.value,
            "skipUrlSync": False, "type": "constant",
        }


def annotation(name: str, expr: str, title: str, text: str, color: str = "red") -> dict[str, Any]:
    """Return a Prometheus annotation query: a mark on every time panel where ``expr`` has a series."""
    return {
        "datasource": DATASOURCE, "enable": True, "expr": expr, "iconColor": color, "name": name,
        "step": "1m", "tagKeys": "namespace,pod,container", "textFormat": text, "titleFormat": title,
        "useValueForTime": False,
    }


@attr.s
class Dashboard(core.Dashboard):
    """A grafanalib dashboard written in the current schema, with legacy keys left out."""

    def to_json_data(self) -> dict[str, Any]:
        data = _plain(core.Dashboard.to_json_data(self))
        for key in _LEGACY_DASHBOARD_KEYS:
            data.pop(key, None)
        data["schemaVersion"] = SCHEMA_VERSION
        data["fiscalYearStartMonth"] = 0
        data["liveNow"] = False
        data["weekStart"] = ""
        return data


def dashboard(title: str, uid: str, description: str, tags: list[str], variables: list[Any],
              sections: Sequence[Section], annotations: list[dict[str, Any]]) -> Dashboard:
    """Return a dashboard over the last 6 hours, refreshing every minute, linked to obsgen's others."""
    links = [core.DashboardLink(title="obsgen dashboards", type="dashboards", tags=["obsgen"], asDropdown=True,
                                includeVars=False, keepTime=True)]
    return Dashboard(
        title=title, uid=uid, description=description, tags=tags, editable=True,
        templating=core.Templating(list=variables), panels=layout(sections),
        annotations=core.Annotations(list=annotations), links=links,
        time=core.Time("now-6h", "now"), refresh="1m", timezone="browser",
        graphTooltip=core.GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR,
    )


def render(board: Dashboard) -> bytes:
    """Return the dashboard file: JSON with sorted keys, two-space indent and a final newline."""
    return (dumps_indented(board.to_json_data(), sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
