"""Structural rules that current Grafana (schema 39 and later) expects of every generated dashboard."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest

from obsgen import conventions as names
from obsgen.catalog.model import Catalog
from obsgen.dashboards import dashboard_files
from obsgen.dashboards.build import MAX_UID_LENGTH, service_uid

from tests.dashboards.boards import (STRUCTURE_CATALOGS, board_ids, catalog, data_panels, files, load_board,
                                     panels, query_variables, targets)

BOARDS = board_ids()
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
PANEL_TYPES = {"timeseries", "stat", "table", "bargauge"}
BYTE_UNITS = {"bytes", "decbytes"}
GRAFANA_VARIABLES = {"__range", "__rate_interval", "__interval", "__all"}
METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
#: Operations whose result is no longer in bytes, even when they read byte series.
NOT_BYTES = ("/", "rate(", "increase(", "deriv(", "count")


def _service_boards() -> list[str]:
    return [board_id for board_id in BOARDS if ":dashboards/services/" in board_id]


def reads_bytes_only(expr: str) -> bool:
    """Tell whether a query returns bytes: it reads byte series and does nothing that changes the unit."""
    tokens = METRIC_NAME.findall(expr)
    reads_bytes = any(token.endswith("_bytes") and "ratio" not in token for token in tokens)
    return reads_bytes and not any(operation in expr for operation in NOT_BYTES)


@pytest.mark.parametrize("board_id", BOARDS)
def test_schema_version_current(board_id: str) -> None:
    dashboard = load_board(board_id)
    assert isinstance(dashboard["schemaVersion"], int)
    assert dashboard["schemaVersion"] >= 39


@pytest.mark.parametrize("board_id", BOARDS)
def test_datasource_variable_present(board_id: str) -> None:
    variables = {variable["name"]: variable for variable in load_board(board_id)["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"


@pytest.mark.parametrize("board_id", BOARDS)
def test_panels_use_datasource_variable(board_id: str) -> None:
    dashboard = load_board(board_id)
    for panel in data_panels(dashboard):
        assert panel["datasource"] == DATASOURCE, panel["title"]
    for panel, target in targets(dashboard):
        assert target["datasource"] == DATASOURCE, panel["title"]


@pytest.mark.parametrize("board_id", BOARDS)
def test_variables_and_annotations_use_datasource_variable(board_id: str) -> None:
    dashboard = load_board(board_id)
    for variable in query_variables(dashboard):
        assert variable["datasource"] == DATASOURCE, variable["name"]
    for annotation in dashboard["annotations"]["list"]:
        assert annotation["datasource"] == DATASOURCE, annotation["name"]


@pytest.mark.parametrize("board_id", BOARDS)
def test_no_datasource_given_by_name(board_id: str) -> None:
    """grafanalib writes datasources as plain strings; none may be left anywhere."""
    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "datasource":
                    assert isinstance(item, dict), f"{path}.{key} = {item!r}"
                walk(item, f"{path}.{key}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{path}[{index}]")
    walk(load_board(board_id), "$")


@pytest.mark.parametrize("board_id", BOARDS)
def test_panel_types_allowed(board_id: str) -> None:
    dashboard = load_board(board_id)
    for panel in panels(dashboard):
        assert panel["type"] in PANEL_TYPES | {"row"}, panel["title"]
    assert data_panels(dashboard), "a dashboard without data panels"


@pytest.mark.parametrize("board_id", BOARDS)
def test_rows_hold_no_hidden_panels(board_id: str) -> None:
    """Rows are expanded section headers; a collapsed row would hide panels from the layout checks."""
    for panel in panels(load_board(board_id)):
        if panel["type"] == "row":
            assert panel["collapsed"] is False
            assert panel["panels"] == []


@pytest.mark.parametrize("board_id", BOARDS)
def test_memory_panels_use_byte_units(board_id: str) -> None:
    dashboard = load_board(board_id)
    memory_panels = [panel for panel in data_panels(dashboard)
                     if all(reads_bytes_only(target["expr"]) for target in panel["targets"])]
    assert memory_panels, "no memory panel found; the check would pass on nothing"
    for panel in memory_panels:
        assert panel["fieldConfig"]["defaults"]["unit"] in BYTE_UNITS, panel["title"]


@pytest.mark.parametrize("board_id", BOARDS)
def test_every_panel_has_a_unit(board_id: str) -> None:
    for panel in data_panels(load_board(board_id)):
        assert panel["fieldConfig"]["defaults"].get("unit"), panel["title"]


@pytest.mark.parametrize("board_id", BOARDS)
def test_panel_ids_unique(board_id: str) -> None:
    ids = [panel["id"] for panel in panels(load_board(board_id))]
    assert all(isinstance(panel_id, int) and panel_id > 0 for panel_id in ids)
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("board_id", BOARDS)
def test_grid_positions_within_24_columns(board_id: str) -> None:
    for panel in panels(load_board(board_id)):
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["y"] >= 0, panel["title"]
        assert grid["w"] >= 1, panel["title"]
        assert grid["h"] >= 1, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]


@pytest.mark.parametrize("board_id", BOARDS)
def test_grid_positions_do_not_overlap(board_id: str) -> None:
    placed = [(panel["title"], panel["gridPos"]) for panel in panels(load_board(board_id))]
    for (title_a, a), (title_b, b) in itertools.combinations(placed, 2):
        apart = (a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"]
                 or a["y"] + a["h"] <= b["y"] or b["y"] + b["h"] <= a["y"])
        assert apart, f"{title_a!r} {a} overlaps {title_b!r} {b}"


@pytest.mark.parametrize("board_id", BOARDS)
def test_table_sorts_by_existing_column(board_id: str) -> None:
    """Grafana names a table's value column "Value" for one query, "Value #<refId>" for several."""
    for panel in data_panels(load_board(board_id)):
        if panel["type"] != "table":
            continue
        ref_ids = [target["refId"] for target in panel["targets"]]
        columns = {"Value"} if len(ref_ids) == 1 else {f"Value #{ref_id}" for ref_id in ref_ids}
        for sort in panel["options"]["sortBy"]:
            assert sort["displayName"] in columns, panel["title"]


@pytest.mark.parametrize("board_id", BOARDS)
def test_threshold_steps_current_form(board_id: str) -> None:
    """The base step's value is JSON null (grafanalib writes the string "null"); later values rise."""
    for panel in data_panels(load_board(board_id)):
        found = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert found[0]["value"] is None, panel["title"]
        values = [step["value"] for step in found[1:]]
        assert all(isinstance(value, (int, float)) for value in values), panel["title"]
        assert values == sorted(values), panel["title"]


@pytest.mark.parametrize("board_id", BOARDS)
def test_no_string_null_anywhere(board_id: str) -> None:
    key, path = board_id.split(":", 1)
    assert b'"null"' not in files(key)[path]


@pytest.mark.parametrize("board_id", BOARDS)
def test_uid_short_and_safe(board_id: str) -> None:
    uid = load_board(board_id)["uid"]
    assert len(uid) <= MAX_UID_LENGTH
    assert re.fullmatch(r"[a-zA-Z0-9_-]+", uid)


@pytest.mark.parametrize("key", sorted(STRUCTURE_CATALOGS))
def test_uids_unique(key: str) -> None:
    uids = [load_board(f"{key}:{path}")["uid"] for path in files(key)]
    assert len(uids) == len(set(uids))


def test_uid_derived_from_service_name() -> None:
    assert service_uid("frontend") == "obsgen-svc-frontend"
    assert load_board("example:dashboards/services/frontend.json")["uid"] == "obsgen-svc-frontend"


def test_uid_of_long_name_cut_with_hash() -> None:
    long_name = "inventory-reconciliation-batch-worker"
    uid = service_uid(long_name)
    assert len(uid) == MAX_UID_LENGTH
    assert uid.startswith("obsgen-svc-inventory-")
    assert service_uid(long_name + "-2") != uid
    assert load_board(f"test:dashboards/services/{long_name}.json")["uid"] == uid


def _reordered(model: Catalog) -> Catalog:
    import dataclasses
    return dataclasses.replace(model, services=tuple(reversed(model.services)))


def test_uids_stable_across_rebuilds() -> None:
    """A rebuild, even with the services listed in another order, keeps every dashboard's uid."""
    model = catalog("example")
    first = dashboard_files(model)
    again = dashboard_files(_reordered(model))
    assert first == again


@pytest.mark.parametrize("board_id", BOARDS)
def test_description_carries_generated_header(board_id: str) -> None:
    assert load_board(board_id)["description"].startswith("Generated by obsgen")
    assert "do not edit" in load_board(board_id)["description"]


@pytest.mark.parametrize("board_id", BOARDS)
def test_file_sorted_indented_with_final_newline(board_id: str) -> None:
    import json
    key, path = board_id.split(":", 1)
    content = files(key)[path]
    assert content.endswith(b"}\n")
    assert content == (json.dumps(json.loads(content), sort_keys=True, indent=2, ensure_ascii=False)
                       + "\n").encode("utf-8")


@pytest.mark.parametrize("board_id", BOARDS)
def test_queries_name_only_defined_variables(board_id: str) -> None:
    dashboard = load_board(board_id)
    defined = {variable["name"] for variable in dashboard["templating"]["list"]} | GRAFANA_VARIABLES
    texts = [target["expr"] for _panel, target in targets(dashboard)]
    texts += [variable["query"] for variable in query_variables(dashboard)]
    texts += [annotation["expr"] for annotation in dashboard["annotations"]["list"]]
    for text in texts:
        for used in re.findall(r"\$\{?(\w+)", text):
            assert used in defined, f"${used} in {text}"


@pytest.mark.parametrize("board_id", _service_boards())
def test_service_first_screen_answers_the_page(board_id: str) -> None:
    """Above the first 20 grid rows (about 600 px): limit use, OOM kills and the leak trend."""
    dashboard = load_board(board_id)
    first_screen = [panel for panel in data_panels(dashboard)
                    if panel["gridPos"]["y"] + panel["gridPos"]["h"] <= 20]
    exprs = "\n".join(target["expr"] for panel in first_screen for target in panel["targets"])
    assert names.RSS_LIMIT_RATIO in exprs
    assert ":obsgen_oom_kills:" in exprs
    key, path = board_id.split(":", 1)
    service_name = path.rsplit("/", 1)[1].removesuffix(".json")
    service = next(entry for entry in catalog(key).services if entry.name == service_name)
    if service.settings.leak.enabled:
        assert ":deriv" in exprs, "the leak trend is not on the first screen"


@pytest.mark.parametrize("board_id", _service_boards())
def test_service_dashboard_marks_oom_kills(board_id: str) -> None:
    annotations = load_board(board_id)["annotations"]["list"]
    assert any(":obsgen_oom_kills:" in annotation["expr"] for annotation in annotations)


def test_exporter_panels_only_with_exporter_source() -> None:
    with_exporter = load_board("test:dashboards/services/ads.json")
    without = load_board("test:dashboards/services/storefront.json")
    def exprs(dashboard: dict[str, Any]) -> str:
        return "\n".join(target["expr"] for _panel, target in targets(dashboard))
    for name in (names.HIGH_EVENTS_RATE, names.PRESSURE_RATE, names.SWAP, names.MAJOR_FAULTS_RATE):
        assert name in exprs(with_exporter)
        assert name not in exprs(without)


@pytest.mark.parametrize("service_name, metric", [
    ("ads", "jvm_memory_bytes_used"), ("storefront", "go_memstats_heap_inuse_bytes"),
    ("recommender", "python_gc_collections_total"), ("payments", "nodejs_heap_size_used_bytes"),
])
def test_runtime_panels_follow_hint(service_name: str, metric: str) -> None:
    dashboard = load_board(f"test:dashboards/services/{service_name}.json")
    assert any(metric in target["expr"] for _panel, target in targets(dashboard))
    plain = load_board("test:dashboards/services/inventory-reconciliation-batch-worker.json")
    assert not any(metric in target["expr"] for _panel, target in targets(plain))
