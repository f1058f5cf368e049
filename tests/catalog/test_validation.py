"""Catalog validation: every problem located, reported once, with the value and a fix."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from obsgen.catalog import load
from obsgen.catalog.validation import parse_duration, parse_size
from obsgen.errors import CatalogError
from obsgen.generate import generate
from obsgen.promql import quote
from obsgen.writers.output import write_tree
from tests.conftest import EXAMPLE, require_binary
from tests.support.promtool import check_rules

VALID = """\
apiVersion: obsgen/v1
teams:
  - {name: web, receiver: web-pager}
services:
  - name: frontend
    team: web
    selector: {namespace: shop, workload: frontend}
"""


def problems_of(tmp_path, text: str) -> list[str]:
    path = tmp_path / "catalog.yaml"
    path.write_text(textwrap.dedent(text))
    with pytest.raises(CatalogError) as caught:
        load(str(path))
    return [problem.format().replace(str(path), "FILE") for problem in caught.value.problems]


def test_example_catalog_loads():
    catalog = load(str(EXAMPLE))
    assert len(catalog.services) == 12
    frontend = next(s for s in catalog.services if s.name == "frontend")
    assert frontend.memory_limit == 128 * 1024**2
    assert frontend.memory_request == 64 * 1024**2
    adservice = next(s for s in catalog.services if s.name == "adservice")
    assert adservice.settings.near_limit.warning == 0.97
    assert adservice.settings.near_limit.critical == 0.98


def test_overrides_replace_single_keys(tmp_path):
    path = tmp_path / "catalog.yaml"
    path.write_text(VALID + "    overrides:\n      leak: {horizon: 1d}\n")
    service = load(str(path)).services[0]
    assert service.settings.leak.horizon_s == 86400
    assert service.settings.leak.window_s == 6 * 3600


def test_unknown_key_suggests_the_right_one(tmp_path):
    found = problems_of(tmp_path, VALID + "    runtme: go\n")
    assert found == ["FILE:8:5: services[0].runtme: unknown key (got 'runtme'); did you mean 'runtime'?"]


def test_misspelt_selector_reported_once(tmp_path):
    found = problems_of(tmp_path, VALID.replace("    selector:", "    selctor:"))
    assert found == ["FILE:7:5: services[0].selctor: unknown key (got 'selctor'); did you mean 'selector'?"]


def test_missing_selector_still_reported(tmp_path):
    found = problems_of(tmp_path, VALID.replace("    selector: {namespace: shop, workload: frontend}\n", ""))
    assert len(found) == 1
    assert "needs at least one of namespace, workload or pod" in found[0]


def test_request_above_limit_shows_both(tmp_path):
    found = problems_of(tmp_path, VALID + "    memory: {request: 1536Mi, limit: 1Gi}\n")
    assert found == ["FILE:8:23: services[0].memory.request: the request exceeds the limit of 1Gi (got '1536Mi'); "
                     "lower the request or raise the limit"]


def test_unreadable_catalog_has_no_position(tmp_path):
    with pytest.raises(CatalogError) as caught:
        load(str(tmp_path / "missing.yaml"))
    assert caught.value.problems[0].format().startswith(f"{tmp_path / 'missing.yaml'}: <catalog>: cannot read")


def test_unknown_api_version_is_rejected_by_name(tmp_path):
    found = problems_of(tmp_path, VALID.replace("obsgen/v1", "obsgen/v9"))
    assert found == ["FILE:1:13: apiVersion: unknown catalog version (got 'obsgen/v9'); this obsgen reads obsgen/v1"]


def test_every_problem_is_reported(tmp_path):
    text = VALID + textwrap.dedent("""\
      - name: Bad/Name
        team: nobody
        selector: {namespace: shop, pod: '(unclosed'}
        memory: {limit: lots}
    defaults:
      near_limit: {warning: 1.5}
      leak: {window: 6 hours}
    """)
    found = problems_of(tmp_path, text)
    assert any("services[1].name: invalid name (got 'Bad/Name')" in p for p in found)
    assert any("services[1].team: unknown team (got 'nobody')" in p for p in found)
    assert any("services[1].selector.pod: invalid regular expression" in p for p in found)
    assert any("services[1].memory.limit: invalid memory size (got 'lots')" in p for p in found)
    assert any("defaults.near_limit.warning: expected a fraction above 0 and at most 1 (got 1.5)" in p
               for p in found)
    assert any("defaults.leak.window: invalid duration (got '6 hours')" in p for p in found)
    assert len(found) == 6


def test_problem_points_at_the_line_of_the_value(tmp_path):
    found = problems_of(tmp_path, VALID.replace("team: web\n", "team: 42\n"))
    assert found[0].startswith("FILE:6:11: services[0].team: invalid name (got 42)")


def test_duplicate_service_names_point_at_the_second(tmp_path):
    text = VALID + "  - name: frontend\n    team: web\n    selector: {namespace: shop}\n"
    found = problems_of(tmp_path, text)
    assert found == ["FILE:8:11: services[1].name: duplicate name (got 'frontend'); already used by services[0]"]


def test_yaml_syntax_error_is_located(tmp_path):
    found = problems_of(tmp_path, VALID + "  - name: [unclosed\n")
    assert len(found) == 1
    assert found[0].startswith("FILE:9:")
    assert "invalid YAML" in found[0]


@pytest.mark.parametrize("character", ["\x01", "\x7f", "\ufffe"])
def test_yaml_control_character_is_located(tmp_path, character):
    # A multi-byte character before it checks that the column counts characters, not UTF-8 bytes.
    found = problems_of(tmp_path, VALID + f"  - name: caf\u00e9{character}\n")
    assert found == [f"FILE:8:15: <catalog>: invalid YAML: control characters are not allowed "
                     f"(got U+{ord(character):04X}); remove the character, or write it as an escape "
                     f"such as \\x01 in a double-quoted string"]


def test_fleet_team_with_invalid_receiver(tmp_path):
    text = VALID.replace("receiver: web-pager", 'receiver: "web&pager"') + "fleet: {team: web}\n"
    found = problems_of(tmp_path, text)
    assert len(found) == 1
    assert found[0].startswith("FILE:3:27: teams[0].receiver: invalid name (got 'web&pager')")


def test_duplicate_yaml_key_is_rejected(tmp_path):
    found = problems_of(tmp_path, VALID + "teams: []\n")
    assert found == ["FILE:8:1: teams: duplicate key 'teams'; remove one of the two entries"]


def test_empty_catalog_is_rejected(tmp_path):
    found = problems_of(tmp_path, "# nothing here\n")
    assert found[0].startswith("FILE:1:1: <catalog>: the catalog is empty")


def test_exponential_aliases_are_bounded(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        refs = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{refs}]")
    found = problems_of(tmp_path, "\n".join(lines) + "\n")
    assert "expands to more than" in found[0]


def test_promql_breaking_values_are_escaped(tmp_path):
    """A quote and backslashes in a selector and in a label value reach PromQL escaped."""
    require_binary("promtool")
    hostile = "{namespace: shop, pod: 'front\\\\\"end.*'}"
    text = VALID.replace("{namespace: shop, workload: frontend}", hostile)
    text = text.replace("teams:", "defaults:\n  labels: {note: 'a\\\\\"} or vector(1) #'}\nteams:")
    path = tmp_path / "catalog.yaml"
    path.write_text(text)
    catalog = load(str(path))
    assert catalog.services[0].selector.pod == 'front\\\\"end.*'

    write_tree(str(tmp_path / "out"), generate(catalog))
    recording = yaml.safe_load((tmp_path / "out" / "alerts" / "obsgen-recording.rules.yaml").read_text())
    exprs = [rule["expr"] for group in recording["groups"] for rule in group["rules"]]
    assert any("pod=~" + quote(catalog.services[0].selector.pod) in expr for expr in exprs)
    result = check_rules(sorted((tmp_path / "out").glob("alerts/**/*.rules.yaml")))
    assert result.returncode == 0, result.stdout + result.stderr


def test_reserved_service_name_is_rejected(tmp_path):
    found = problems_of(tmp_path, VALID.replace("name: frontend", "name: fleet"))
    assert found == ["FILE:5:11: services[0].name: the name is reserved for the fleet-wide entry (got 'fleet'); "
                     "choose another service name"]


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("15m", 900), ("1h30m", 5400), ("7d", 604800),
                                           ("", None), ("1.5h", None), ("0s", 0), ("10", None)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("value, size", [("64Mi", 64 * 1024**2), ("1G", 10**9), (1024, 1024), ("0.5Gi", 2**29),
                                         ("-1Mi", None), ("12 MB", None), (True, None), (0, None)])
def test_parse_size(value, size):
    assert parse_size(value) == size
