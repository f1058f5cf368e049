"""Hypothesis strategies that draw valid catalogs, as the plain data a YAML catalog holds."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

names = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,14}[a-z0-9])?", fullmatch=True)
label_names = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_]{0,12}", fullmatch=True)
#: Any one-line text: no control characters and no lone surrogates, quotes and braces included.
label_values = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=24)

# Regex pieces that Python and RE2 read alike, including quotes and escaped backslashes.
_REGEX_PIECES = ["shop", "cart", "-", "_", ".*", ".+", "[a-z]+", "[0-9]{1,3}", r"\d+", r"\.", '"', r"\\",
                 "(a|b)", "(?i:x)", "(?:v1|v2)", "[^/]*", "'", "}", "{", " ", "é", "☕"]
regexes = st.lists(st.sampled_from(_REGEX_PIECES), min_size=1, max_size=6).map("".join)
_UNITS = (("s", 1), ("m", 60), ("h", 3600), ("d", 86400))


def duration(seconds: int) -> str:
    """Write ``seconds`` in the largest unit that divides it exactly."""
    for unit, size in reversed(_UNITS):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    raise AssertionError(seconds)


durations = st.integers(min_value=1, max_value=14 * 86400).map(duration)
fractions = st.floats(min_value=0.01, max_value=1.0, allow_nan=False).map(lambda value: round(value, 3))
sizes = st.integers(min_value=1, max_value=64 * 1024).map(lambda mebibytes: f"{mebibytes}Mi")


@st.composite
def near_limits(draw: st.DrawFn) -> dict[str, Any]:
    warning, critical = sorted(draw(st.lists(fractions, min_size=2, max_size=2, unique=True)))
    result: dict[str, Any] = {"warning": warning, "critical": critical}
    for key in ("for", "critical_for", "keep_firing_for"):
        if draw(st.booleans()):
            result[key] = draw(durations)
    return result


@st.composite
def leaks(draw: st.DrawFn) -> dict[str, Any]:
    floor, fast, window = sorted(draw(st.lists(st.integers(60, 7 * 86400), min_size=3, max_size=3, unique=True)))
    fast_horizon, horizon = sorted(draw(st.lists(st.integers(60, 30 * 86400), min_size=2, max_size=2)))
    # The drop window must cover the trend window.
    drop_window = draw(st.integers(window, 14 * 86400))
    result = {"floor_window": duration(floor), "fast_window": duration(fast), "window": duration(window),
              "fast_horizon": duration(fast_horizon), "horizon": duration(horizon),
              "drop_window": duration(drop_window)}
    result.update(draw(st.fixed_dictionaries({}, optional={
        "enabled": st.booleans(), "min_growth": fractions, "for": durations, "keep_firing_for": durations,
        "unlimited_node_share": fractions, "severity": st.sampled_from(["critical", "warning", "info"]),
        "warm_up": durations, "max_drop": fractions})))
    return result


settings_blocks = st.fixed_dictionaries({}, optional={
    "sources": st.sampled_from([["kubernetes"], ["exporter"], ["kubernetes", "exporter"], "exporter"]),
    "datasource": names,
    "evaluation_interval": st.sampled_from(["15s", "30s", "1m", "2m"]),
    "labels": st.dictionaries(label_names.filter(lambda n: n not in ("severity", "team", "alertname")),
                              label_values, max_size=3),
    "runbook_url": st.sampled_from(["https://runbooks.example/{alert}", "https://wiki.example/x?a={{b}}&s={service}",
                                    "http://r.example/{team}/{alert_lower}#{service}"]),
    "near_limit": near_limits(),
    "leak": leaks(),
    "oom": st.fixed_dictionaries({}, optional={"window": durations,
                                               "severity": st.sampled_from(["critical", "warning", "info"])}),
    "over_request": st.fixed_dictionaries({}, optional={"enabled": st.booleans(), "ratio": st.floats(0.5, 4).map(
        lambda value: round(value, 2)), "for": durations, "severity": st.sampled_from(["warning", "info"])}),
    "throttling": st.fixed_dictionaries({}, optional={"enabled": st.booleans(), "high_events_per_second": st.floats(
        0.1, 100).map(lambda value: round(value, 2)), "stall_ratio": fractions, "for": durations}),
})


@st.composite
def selectors(draw: st.DrawFn) -> dict[str, str]:
    selector = draw(st.fixed_dictionaries({"namespace": regexes}, optional={"container": regexes}))
    if draw(st.booleans()):
        selector["workload"] = draw(names)
    elif draw(st.booleans()):
        selector["pod"] = draw(regexes)
    return selector


@st.composite
def catalogs(draw: st.DrawFn) -> dict[str, Any]:
    """Draw a valid catalog: 1 to 4 teams, 0 to 8 services, random defaults and overrides."""
    team_names = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    service_names = draw(st.lists(names.filter(lambda n: n != "fleet"), max_size=8, unique=True))
    services = []
    for name in service_names:
        service: dict[str, Any] = {"name": name, "team": draw(st.sampled_from(team_names)),
                                   "selector": draw(selectors())}
        if draw(st.booleans()):
            request, limit = sorted(draw(st.lists(st.integers(1, 8192), min_size=2, max_size=2)))
            service["memory"] = {"request": f"{request}Mi", "limit": f"{limit}Mi"}
        if draw(st.booleans()):
            service["runtime"] = draw(st.sampled_from(["jvm", "go", "python", "node"]))
        if draw(st.booleans()):
            service["overrides"] = draw(settings_blocks)
        services.append(service)
    catalog: dict[str, Any] = {
        "apiVersion": "obsgen/v1",
        "name": draw(names),
        "teams": [{"name": team, "receiver": f"{team}-pager"} for team in team_names],
        "services": services,
        "defaults": draw(settings_blocks),
    }
    if draw(st.booleans()):
        catalog["cluster_label"] = draw(label_names.filter(lambda n: n not in ("namespace", "pod", "container")))
    if draw(st.booleans()):
        catalog["fleet"] = {"enabled": draw(st.booleans()), "team": draw(st.sampled_from(team_names))}
    return catalog
