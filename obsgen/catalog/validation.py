"""Check a parsed catalog against the v1 spec and map it to the internal model.

Every check is a small function that returns a normalised value or records a ``Problem``. The
walk goes on after a problem, so one run reports everything wrong with a file.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import string
from typing import Any, Callable

from obsgen.catalog import model, spec
from obsgen.catalog.loader import Document, Path, format_path
from obsgen.catalog.regex import re2_problem
from obsgen.errors import CatalogError, Problem

NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
DURATION_RE = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
DURATION_UNITS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1)
SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|K|M|G|T)?$")
SIZE_UNITS = {None: 1, "k": 1000, "K": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4,
              "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4}
# Escapes follow PromQL double-quoted strings; an unknown escape such as \q fails to parse there.
MATCHER_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\\n]|\\[abfnrtv\\"])*)"\s*(?:,|\Z)')
#: Durations longer than this are rejected; Prometheus 2.42 rejects durations over about 292
#: years (int64 nanoseconds), and no memory alert needs to look back more than a few weeks.
MAX_DURATION_S = 10 * 365 * 86400
URL_PLACEHOLDERS = ("alert", "alert_lower", "service", "team")
#: Labels that obsgen sets itself on every alert; the catalog may not override them.
RESERVED_LABELS = ("severity", "team", "obsgen_service", "obsgen_source", "alertname")
MAX_STRING = 1024


class Checker:
    """Walk one document, collecting problems and building normalised values."""

    def __init__(self, document: Document):
        self.document = document
        self.problems: list[Problem] = []

    def problem(self, path: Path, message: str, got: Any = None, fix: str | None = None,
                at_key: bool = False) -> None:
        line, column = self.document.position(path, at_key)
        shown = None if got is None else _show(got)
        self.problems.append(Problem(self.document.file, line, column, format_path(path), message, shown, fix))

    # -- generic walk -------------------------------------------------------------------

    def struct(self, value: Any, struct: spec.Struct, path: Path) -> dict[str, Any] | None:
        """Check a mapping; return the normalised values of the keys present (no defaults)."""
        if not isinstance(value, dict):
            self.problem(path, f"expected a mapping with keys {', '.join(struct.fields)}", value)
            return None
        result: dict[str, Any] = {}
        for key, item in value.items():
            if key not in struct.fields:
                guess = difflib.get_close_matches(key, list(struct.fields), n=1)
                fix = f"did you mean {guess[0]!r}?" if guess else f"allowed keys: {', '.join(struct.fields)}"
                self.problem(path + (key,), "unknown key", key, fix, at_key=True)
                continue
            checked = self.field(item, struct.fields[key], path + (key,))
            if checked is not None:
                result[key] = checked
        for key, definition in struct.fields.items():
            if definition.required and key not in value:
                self.problem(path, f"missing required key {key!r}", fix=f"add {key}: ({definition.doc})")
        return result

    def field(self, value: Any, definition: spec.Field, path: Path) -> Any:
        kind = definition.kind
        if isinstance(kind, spec.Struct):
            return self.struct(value, kind, path)
        if isinstance(kind, spec.ListOf):
            return self.list_of(value, kind, path)
        if value is None:
            self.problem(path, "empty value", fix=f"set it ({definition.doc}) or remove the key")
            return None
        return CHECKS[kind](self, value, definition, path)

    def list_of(self, value: Any, kind: spec.ListOf, path: Path) -> list[dict[str, Any]] | None:
        if not isinstance(value, list):
            self.problem(path, "expected a list", value)
            return None
        items = []
        seen: dict[Any, int] = {}
        for index, item in enumerate(value):
            checked = self.struct(item, kind.item, path + (index,))
            if checked is None:
                continue
            key = checked.get(kind.unique_key) if kind.unique_key else None
            if key is not None and key in seen:
                self.problem(path + (index, kind.unique_key), f"duplicate {kind.unique_key}", key,
                             f"already used by {format_path(path + (seen[key],))}")
                continue
            if key is not None:
                seen[key] = index
            items.append(checked)
        return items


# -- leaf checks: each returns the normalised value, or None after recording a problem ------

def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_str(checker: Checker, value: Any, definition: spec.Field, path: Path) -> str | None:
    if not isinstance(value, str):
        checker.problem(path, "expected a string", value)
        return None
    if len(value) > MAX_STRING or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        checker.problem(path, f"strings must be one line of at most {MAX_STRING} characters, without "
                        f"control characters", value)
        return None
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):
        checker.problem(path, "the string holds an unpaired UTF-16 surrogate, which is not valid Unicode text",
                        value, "write the character itself, or a \\U escape of its code point")
        return None
    return value


def check_name(checker: Checker, value: Any, definition: spec.Field, path: Path) -> str | None:
    if not isinstance(value, str) or not NAME_RE.fullmatch(value):
        checker.problem(path, "invalid name", value, "use 1 to 63 lowercase letters, digits and '-', "
                        "starting and ending with a letter or digit (a DNS label, such as 'cart-service')")
        return None
    return value


def check_label_name(checker: Checker, value: Any, definition: spec.Field, path: Path) -> str | None:
    if not isinstance(value, str) or not LABEL_NAME_RE.fullmatch(value) or value.startswith("__"):
        checker.problem(path, "invalid Prometheus label name", value,
                        "use letters, digits and '_', not starting with a digit or '__'")
        return None
    return value


def check_regex(checker: Checker, value: Any, definition: spec.Field, path: Path) -> str | None:
    if check_str(checker, value, definition, path) is None:
        return None
    problem = re2_problem(value)
    if problem:
        checker.problem(path, problem, value, "fix the pattern")
        return None
    return value


def parse_duration(text: str) -> int | None:
    """Return the seconds in a Prometheus duration such as ``1h30m``, or None if it is not one."""
    match = DURATION_RE.fullmatch(text)
    if not match or not text:
        return None
    return sum(int(part) * unit for part, unit in zip(match.groups(), DURATION_UNITS) if part)


def check_duration(checker: Checker, value: Any, definition: spec.Field, path: Path) -> int | None:
    seconds = parse_duration(value) if isinstance(value, str) else None
    if not seconds:
        checker.problem(path, "invalid duration", value,
                        "write a positive Prometheus duration such as 90s, 15m, 6h or 7d")
        return None
    if seconds > MAX_DURATION_S:
        checker.problem(path, "duration too long", value, f"write at most {MAX_DURATION_S // (365 * 86400)}y")
        return None
    return seconds


def parse_size(value: Any) -> int | None:
    """Return the bytes in a size such as ``64Mi``, ``1G`` or a plain integer, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if not isinstance(value, str):
        return None
    match = SIZE_RE.fullmatch(value.strip())
    if not match:
        return None
    size = int(float(match.group(1)) * SIZE_UNITS[match.group(2)])
    return size if size > 0 else None


def check_size(checker: Checker, value: Any, definition: spec.Field, path: Path) -> int | None:
    size = parse_size(value)
    if size is None or size >= 2**62:
        checker.problem(path, "invalid memory size", value,
                        "write a positive size such as 512Mi, 2Gi or a number of bytes")
        return None
    return size


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def check_fraction(checker: Checker, value: Any, definition: spec.Field, path: Path) -> float | None:
    number = _number(value)
    if number is None or not 0 < number <= 1:
        checker.problem(path, "expected a fraction above 0 and at most 1", value, "for 90 percent write 0.9")
        return None
    return number


def check_number(checker: Checker, value: Any, definition: spec.Field, path: Path) -> float | None:
    number = _number(value)
    if number is None or number <= 0:
        checker.problem(path, "expected a positive number", value)
        return None
    return number


def check_bool(checker: Checker, value: Any, definition: spec.Field, path: Path) -> bool | None:
    if not isinstance(value, bool):
        checker.problem(path, "expected true or false", value)
        return None
    return value


def check_enum(checker: Checker, value: Any, definition: spec.Field, path: Path) -> str | None:
    if value not in definition.choices:
        checker.problem(path, "unknown value", value, f"use one of: {', '.join(definition.choices)}")
        return None
    return value


def check_sources(checker: Checker, value: Any, definition: spec.Field, path: Path) -> tuple[str, ...] | None:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or any(item not in definition.choices for item in items):
        checker.problem(path, "unknown metric source", value, f"use one or more of: {', '.join(definition.choices)}")
        return None
    return tuple(source for source in model.SOURCES if source in items)


def check_labels(checker: Checker, value: Any, definition: spec.Field, path: Path) -> dict[str, str] | None:
    if not isinstance(value, dict):
        checker.problem(path, "expected a mapping of label names to values", value)
        return None
    result = {}
    for name, text in value.items():
        if check_label_name(checker, name, definition, path + (name,)) is None:
            continue
        if name in RESERVED_LABELS:
            checker.problem(path + (name,), "obsgen sets this label itself", name, "use another label name")
            continue
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            text = str(text)
        if check_str(checker, text, definition, path + (name,)) is not None:
            result[name] = text
    return result


def check_url_pattern(checker: Checker, value: Any, definition: spec.Field, path: Path) -> str | None:
    if check_str(checker, value, definition, path) is None:
        return None
    if not re.match(r"^https?://[^\s\"'{}]+", value):
        checker.problem(path, "expected an http or https URL", value)
        return None
    try:
        fields = [(name, spec_, conversion) for _, name, spec_, conversion in string.Formatter().parse(value)
                  if name is not None]
    except ValueError:
        checker.problem(path, "unbalanced { or } in the URL pattern", value,
                        "write placeholders as {alert}, and a literal brace as {{ or }}")
        return None
    for name, format_spec, conversion in fields:
        if name not in URL_PLACEHOLDERS or format_spec or conversion:
            shown = "{" + name
            if conversion:
                shown += f"!{conversion}"
            if format_spec:
                shown += f":{format_spec}"
            shown += "}"
            checker.problem(path, f"unknown placeholder {shown}", value,
                            f"use {', '.join('{' + p + '}' for p in URL_PLACEHOLDERS)}")
            return None
    return value


def check_matchers(checker: Checker, value: Any, definition: spec.Field, path: Path) -> str | None:
    if check_str(checker, value, definition, path) is None:
        return None
    position = 0
    while position < len(value):
        match = MATCHER_RE.match(value, position)
        if not match:
            checker.problem(path, "invalid label matchers", value,
                            'write matchers as in PromQL, such as job="kubelet", metrics_path="/metrics/cadvisor"')
            return None
        if match.group(2) in ("=~", "!~"):
            problem = re2_problem(_unescape_promql(match.group(3)))
            if problem:
                checker.problem(path, f"label {match.group(1)}: {problem}", value, "fix the pattern")
                return None
        position = match.end()
    return value.strip()


def check_url(checker: Checker, value: Any, definition: spec.Field, path: Path) -> str | None:
    if check_str(checker, value, definition, path) is None:
        return None
    if not re.match(r"^https?://[^\s\"'{}]+$", value):
        checker.problem(path, "expected an http or https URL", value)
        return None
    return value


def check_absolute_path(checker: Checker, value: Any, definition: spec.Field, path: Path) -> str | None:
    if check_str(checker, value, definition, path) is None:
        return None
    if not value.startswith("/") or "\0" in value:
        checker.problem(path, "expected an absolute file path", value,
                        "write the path where the file is mounted, such as /etc/alertmanager/secrets/slack-url")
        return None
    return value


def _check_list(checker: Checker, value: Any, definition: spec.Field, path: Path,
                item_check: Callable[[Checker, Any, spec.Field, Path], Any]) -> tuple[Any, ...] | None:
    if not isinstance(value, list):
        checker.problem(path, "expected a list", value)
        return None
    items = [item_check(checker, item, definition, path + (index,)) for index, item in enumerate(value)]
    if any(item is None for item in items):
        return None
    if len(set(items)) != len(items):
        checker.problem(path, "the list repeats a value", value, "list each value once")
        return None
    return tuple(items)


def check_absolute_paths(checker: Checker, value: Any, definition: spec.Field, path: Path) -> tuple[str, ...] | None:
    return _check_list(checker, value, definition, path, check_absolute_path)


def check_label_names(checker: Checker, value: Any, definition: spec.Field, path: Path) -> tuple[str, ...] | None:
    return _check_list(checker, value, definition, path, check_label_name)


def check_strings(checker: Checker, value: Any, definition: spec.Field, path: Path) -> tuple[str, ...] | None:
    return _check_list(checker, value, definition, path, check_str)


def check_formats(checker: Checker, value: Any, definition: spec.Field, path: Path) -> tuple[str, ...] | None:
    chosen = _check_list(checker, value, definition, path, check_enum)
    if chosen is None:
        return None
    # A fixed order, so that the same selection always builds the same way.
    return tuple(name for name in definition.choices if name in chosen)


# A Kubernetes qualified name: an optional DNS subdomain prefix and "/", then at most 63 characters.
KUBERNETES_NAME_RE = re.compile(r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
KUBERNETES_VALUE_RE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


def check_kubernetes_label_name(checker: Checker, value: Any, definition: spec.Field, path: Path) -> str | None:
    if not isinstance(value, str) or not KUBERNETES_NAME_RE.match(value):
        checker.problem(path, "invalid Kubernetes label or annotation name", value,
                        "use an optional DNS prefix and '/', then up to 63 letters, digits, '-', '_' or '.', "
                        "such as app.kubernetes.io/part-of")
        return None
    return value


def check_kubernetes_labels(checker: Checker, value: Any, definition: spec.Field,
                            path: Path) -> dict[str, str] | None:
    if not isinstance(value, dict):
        checker.problem(path, "expected a mapping of Kubernetes label names to values", value)
        return None
    result = {}
    for name, text in value.items():
        if check_kubernetes_label_name(checker, name, definition, path + (name,)) is None:
            continue
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            text = str(text)
        if not isinstance(text, str) or not KUBERNETES_VALUE_RE.match(text):
            checker.problem(path + (name,), "invalid Kubernetes label value", text,
                            "use up to 63 letters, digits, '-', '_' or '.', starting and ending with a "
                            "letter or digit, and quote numbers such as \"1\"")
            continue
        result[name] = text
    return result


def _unescape_promql(text: str) -> str:
    """Return the value of a PromQL string literal's body (escapes as MATCHER_RE allows them)."""
    replacements = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
    return re.sub(r"\\(.)", lambda match: replacements.get(match.group(1), match.group(1)), text)


CHECKS: dict[str, Callable[[Checker, Any, spec.Field, Path], Any]] = {
    "str": check_str, "name": check_name, "label_name": check_label_name, "regex": check_regex,
    "duration": check_duration, "size": check_size, "fraction": check_fraction, "number": check_number,
    "bool": check_bool, "enum": check_enum, "sources": check_sources, "labels": check_labels,
    "url_pattern": check_url_pattern, "matchers": check_matchers,
    "url": check_url, "absolute_path": check_absolute_path, "absolute_paths": check_absolute_paths,
    "label_names": check_label_names, "strings": check_strings, "formats": check_formats,
    "kubernetes_label_name": check_kubernetes_label_name, "kubernetes_labels": check_kubernetes_labels,
}


# -- from checked values to the model ---------------------------------------------------------

def _defaults(struct: spec.Struct) -> dict[str, Any]:
    """Return the spec's defaults of ``struct``, normalised by the same checks as user values."""
    checker = Checker(Document("<defaults>", None))
    result: dict[str, Any] = {}
    for key, definition in struct.fields.items():
        if isinstance(definition.kind, spec.Struct):
            result[key] = _defaults(definition.kind)
        elif definition.default is not None:
            result[key] = checker.field(definition.default, definition, (key,))
    assert not checker.problems, checker.problems
    return result


def _merge(base: dict[str, Any], override: dict[str, Any] | None) -> dict[str, Any]:
    """Overlay ``override`` on ``base`` key by key, recursing into nested mappings."""
    result = dict(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(result.get(key), dict) and key != "labels":
            result[key] = _merge(result[key], value)
        else:
            result[key] = value
    return result


def _settings(values: dict[str, Any]) -> model.Settings:
    near, leak, oom = values["near_limit"], values["leak"], values["oom"]
    over, throttling = values["over_request"], values["throttling"]
    oversized = values["oversized_request"]
    return model.Settings(
        sources=tuple(values["sources"]),
        datasource=values["datasource"],
        evaluation_interval_s=values["evaluation_interval"],
        labels=tuple(sorted(values["labels"].items())),
        runbook_url=values["runbook_url"],
        near_limit=model.NearLimit(near["warning"], near["critical"], near["for"], near["critical_for"],
                                   near["keep_firing_for"]),
        leak=model.Leak(leak["enabled"], leak["window"], leak["horizon"], leak["fast_window"],
                        leak["fast_horizon"], leak["floor_window"], leak["min_growth"], leak["warm_up"], leak["drop_window"],
                        leak["max_drop"], leak["for"],
                        leak["keep_firing_for"], leak["unlimited_node_share"], leak["severity"]),
        oom=model.Oom(oom["window"], oom["severity"]),
        over_request=model.OverRequest(over["enabled"], over["ratio"], over["for"], over["severity"]),
        throttling=model.Throttling(throttling["enabled"], throttling["high_events_per_second"],
                                    throttling["stall_ratio"], throttling["for"], throttling["severity"]),
        oversized_request=model.OversizedRequest(oversized["enabled"], oversized["ratio"], oversized["min_idle"],
                                                 oversized["for"], oversized["severity"]),
    )


def _check_settings(checker: Checker, values: dict[str, Any], path: Path) -> None:
    """Cross-key checks of one resolved settings block."""
    near, leak = values["near_limit"], values["leak"]
    if near["warning"] >= near["critical"]:
        checker.problem(path + ("near_limit", "warning"), "the warning threshold must be below the critical one",
                        near["warning"], f"set it below {near['critical']}")
    if not leak["floor_window"] < leak["fast_window"] < leak["window"]:
        checker.problem(path + ("leak",), "leak windows must grow: floor_window < fast_window < window",
                        fix="shorten floor_window or lengthen window")
    if leak["drop_window"] < leak["window"]:
        checker.problem(path + ("leak", "drop_window"), "drop_window must not be shorter than window",
                        fix="lengthen drop_window or shorten window")
    if leak["fast_horizon"] > leak["horizon"]:
        checker.problem(path + ("leak", "fast_horizon"), "fast_horizon must not exceed horizon")
    if values["oversized_request"]["ratio"] <= 1:
        checker.problem(path + ("oversized_request", "ratio"), "the ratio must be above 1, or the alert fires "
                        "on requests below the peak", values["oversized_request"]["ratio"], "for twice the peak write 2")


def workload_pattern(workload: str) -> str:
    """Return the pod-name regex of the pods a Deployment, StatefulSet or DaemonSet creates.

    Deployments name pods ``<name>-<pod-template-hash>-<suffix>``, DaemonSets ``<name>-<suffix>``
    and StatefulSets ``<name>-<ordinal>``. Kubernetes draws hashes and suffixes from an alphabet
    without vowels, so ``cart`` does not match the pods of a workload called ``cart-redis``.
    """
    alphabet = "[bcdfghjklmnpqrstvwxz2456789]"
    return f"{re.escape(workload)}-(({alphabet}{{6,10}}-)?{alphabet}{{5}}|[0-9]+)"


def _size_text(size: int) -> str:
    """Return a byte count in the largest Kubernetes binary unit that divides it exactly."""
    for unit, factor in (("Ti", 1024**4), ("Gi", 1024**3), ("Mi", 1024**2), ("Ki", 1024)):
        if size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def _mapping_keys(items: Any, index: int) -> list[Any]:
    """Return the keys of the mapping at ``items[index]`` as the catalog wrote them, or none."""
    if isinstance(items, list) and 0 <= index < len(items) and isinstance(items[index], dict):
        return list(items[index])
    return []


def _selector(checker: Checker, values: dict[str, Any] | None, path: Path, required: bool) -> model.Selector:
    values = values or {}
    if values.get("workload") and values.get("pod"):
        checker.problem(path + ("pod",), "set either workload or pod, not both", values["pod"])
    if required and not any(values.get(key) for key in ("namespace", "workload", "pod")):
        checker.problem(path, "a service needs at least one of namespace, workload or pod",
                        fix="add selector: {namespace: ..., workload: ...}")
    pod = values.get("pod")
    if values.get("workload"):
        pod = workload_pattern(values["workload"])
    return model.Selector(namespace=values.get("namespace"), pod=pod, container=values.get("container"))


def to_model(document: Document) -> model.Catalog:
    """Validate ``document`` and return the catalog model; raise CatalogError with every problem."""
    checker = Checker(document)
    data = document.data
    if isinstance(data, dict) and "apiVersion" in data and data["apiVersion"] not in spec.KNOWN_API_VERSIONS:
        checker.problem(("apiVersion",), "unknown catalog version", data["apiVersion"],
                        f"this obsgen reads {', '.join(spec.KNOWN_API_VERSIONS)}")
        raise CatalogError(checker.problems)
    values = checker.struct(data, spec.CATALOG, ())
    if values is None:
        raise CatalogError(checker.problems)

    # Resolve the fleet defaults, then each service's overrides on top of them.
    settings_defaults = _defaults(spec.SETTINGS)
    defaults = _merge(settings_defaults, values.get("defaults"))
    _check_settings(checker, defaults, ("defaults",))
    checked_teams = values.get("teams", [])
    teams = tuple(model.Team(t["name"], t["receiver"]) for t in checked_teams if "name" in t and "receiver" in t)
    # A team with another problem still counts as known, so services naming it get no second error.
    team_names = {team["name"] for team in checked_teams if "name" in team}
    if isinstance(data.get("teams"), list) and not data["teams"]:
        checker.problem(("teams",), "at least one team is required", fix="add teams: [{name: ..., receiver: ...}]")

    services = []
    positions = _positions_by_name(data.get("services"))
    for index, raw in enumerate(values.get("services", [])):
        path: Path = ("services", positions.get(raw.get("name"), index))
        if raw.get("name") == model.FLEET_SERVICE:
            checker.problem(path + ("name",), "the name is reserved for the fleet-wide entry", raw["name"],
                            "choose another service name")
        if raw.get("team") and raw["team"] not in team_names:
            guess = difflib.get_close_matches(raw["team"], sorted(team_names), n=1)
            checker.problem(path + ("team",), "unknown team", raw["team"],
                            f"did you mean {guess[0]!r}?" if guess else "add the team under teams")
        merged = _merge(defaults, raw.get("overrides"))
        _check_settings(checker, merged, path + ("overrides",))
        memory = raw.get("memory") or {}
        if memory.get("request") and memory.get("limit") and memory["request"] > memory["limit"]:
            checker.problem(path + ("memory", "request"), f"the request exceeds the limit of {_size_text(memory['limit'])}",
                            _size_text(memory["request"]), "lower the request or raise the limit")
        # A misspelt selector key already has its own error (with a did-you-mean); a second one
        # saying the selector is missing would only hide the cause.
        written_keys = _mapping_keys(data.get("services"), path[1])
        misspelt = any(key != "selector" and difflib.get_close_matches(str(key), ["selector"], n=1, cutoff=0.8)
                       for key in written_keys)
        selector = _selector(checker, raw.get("selector"), path + ("selector",), required=not misspelt)
        if "name" in raw and "team" in raw:
            services.append(model.Service(
                name=raw["name"], team=raw["team"], selector=selector, settings=_settings(merged),
                memory_request=memory.get("request"), memory_limit=memory.get("limit"),
                runtime=raw.get("runtime"), description=raw.get("description", ""),
            ))

    # The fleet's overrides start empty: spec defaults there would hide the catalog's defaults.
    fleet_defaults = {key: value for key, value in _defaults(spec.FLEET).items() if key != "overrides"}
    fleet_values = _merge(fleet_defaults, values.get("fleet"))
    fleet_team = fleet_values.get("team")
    if fleet_team and fleet_team not in team_names:
        checker.problem(("fleet", "team"), "unknown team", fleet_team, "add the team under teams")
    # Only the catalog's own fleet overrides go on top of its defaults: the spec defaults of
    # fleet.overrides, merged into fleet_values above, would undo every catalog default.
    fleet_settings = _merge(defaults, (values.get("fleet") or {}).get("overrides"))
    _check_settings(checker, fleet_settings, ("fleet", "overrides"))
    fleet = model.Fleet(enabled=fleet_values["enabled"], team=fleet_team or "unowned",
                        selector=_selector(checker, fleet_values.get("selector"), ("fleet", "selector"), False),
                        settings=_settings(fleet_settings))

    output = _output(checker, values.get("output"), teams, fleet_team if fleet_team in team_names else None)
    if checker.problems:
        raise CatalogError(checker.problems)
    selectors = _merge(_defaults(spec.SCRAPE_SELECTORS), values.get("scrape_selectors"))
    name = values.get("name") or _name_from_file(document.file)
    return model.Catalog(
        file=document.file, name=name, cluster_label=values.get("cluster_label", "cluster"),
        selectors=model.SourceSelectors(**selectors), defaults=_settings(defaults), teams=teams,
        services=tuple(sorted(services, key=lambda service: service.name)), fleet=fleet, output=output,
    )


def _output(checker: Checker, values: dict[str, Any] | None, teams: tuple[model.Team, ...],
            fleet_team: str | None) -> model.Output:
    """Map the output section, each format's keys over the spec defaults (mappings are replaced whole)."""
    defaults = _defaults(spec.OUTPUT)
    values = values or {}
    merged = {key: {**default, **values.get(key, {})} if isinstance(default, dict) else values.get(key, default)
              for key, default in defaults.items()}
    grafana, kubernetes, alertmanager = merged["grafana"], merged["kubernetes"], merged["alertmanager"]
    receivers = tuple(_receiver(raw) for raw in alertmanager["receivers"] if "name" in raw)

    known = {team.receiver for team in teams} | {receiver.name for receiver in receivers}
    default_receiver = alertmanager.get("default_receiver")
    if default_receiver and default_receiver not in known:
        checker.problem(("output", "alertmanager", "default_receiver"), "unknown receiver", default_receiver,
                        "name a team's receiver or one listed under output.alertmanager.receivers")
    if default_receiver is None and fleet_team:
        # The fleet's team is missing from ``teams`` when its receiver is invalid, which is reported already.
        default_receiver = next((team.receiver for team in teams if team.name == fleet_team), None)

    return model.Output(
        formats=tuple(merged["formats"]),
        grafana=model.GrafanaOutput(grafana["datasource_name"], grafana["prometheus_url"],
                                    grafana["dashboards_path"], grafana["shared_folder"]),
        kubernetes=model.KubernetesOutput(kubernetes["namespace"], tuple(sorted(kubernetes["rule_labels"].items())),
                                          tuple(sorted(kubernetes["dashboard_labels"].items())),
                                          kubernetes["folder_annotation"]),
        alertmanager=model.AlertmanagerOutput(
            group_by=tuple(alertmanager["group_by"]), group_wait_s=alertmanager["group_wait"],
            group_interval_s=alertmanager["group_interval"], repeat_interval_s=alertmanager["repeat_interval"],
            critical_repeat_interval_s=alertmanager["critical_repeat_interval"], default_receiver=default_receiver,
            templates=tuple(alertmanager["templates"]), receivers=receivers),
        thanos_partial_response_strategy=merged["thanos"]["partial_response_strategy"],
        mimir_namespace=merged["mimir"].get("namespace"),
        mimir_source_tenants=tuple(merged["mimir"]["source_tenants"]),
    )


_INTEGRATIONS = {"slack": spec.SLACK_RECEIVER, "pagerduty": spec.PAGERDUTY_RECEIVER,
                 "webhook": spec.WEBHOOK_RECEIVER, "email": spec.EMAIL_RECEIVER}


def _receiver(raw: dict[str, Any]) -> model.Receiver:
    integrations = []
    for kind, struct in _INTEGRATIONS.items():
        if kind in raw:
            fields = {**_defaults(struct), **raw[kind]}
            integrations.append((kind, tuple(sorted(fields.items()))))
    return model.Receiver(raw["name"], tuple(integrations))


def output_of(catalog: model.Catalog) -> model.Output:
    """Return the catalog's output settings, or the spec defaults for a catalog built by hand."""
    if catalog.output is not None:
        return catalog.output
    checker = Checker(Document("<defaults>", None))
    return _output(checker, None, catalog.teams, catalog.fleet.team if catalog.team(catalog.fleet.team) else None)


def _positions_by_name(items: Any) -> dict[Any, int]:
    """Map each item's name to its first index in the list as written (duplicates were dropped)."""
    positions: dict[Any, int] = {}
    for index, item in enumerate(items if isinstance(items, list) else []):
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            positions.setdefault(item["name"], index)
    return positions


def _name_from_file(file: str) -> str:
    stem = os.path.splitext(os.path.basename(file))[0].lower()
    cleaned = re.sub(r"[^a-z0-9-]+", "-", stem).strip("-")[:63] or "catalog"
    return cleaned
