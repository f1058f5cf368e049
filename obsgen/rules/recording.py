"""Recording rules that do not depend on the source: derived series and service membership."""

from __future__ import annotations

from obsgen import conventions as names
from obsgen import promql
from obsgen.catalog.model import FLEET_SERVICE, Catalog, Selector, Settings

Rule = dict[str, object]


def derived_rules(catalog: Catalog, settings: list[Settings]) -> list[Rule]:
    """Return the ratios, memory floors, ceilings, floor drops and floor trends that the alerts read.

    Windows come from every settings block in use, so each distinct window is recorded once.
    """
    rules: list[Rule] = [
        {"record": names.RSS_LIMIT_RATIO, "expr": f"{names.RSS} / {names.LIMIT}"},
        {"record": names.WORKING_SET_LIMIT_RATIO, "expr": f"{names.WORKING_SET} / {names.LIMIT}"},
    ]
    leaks = [s.leak for s in settings if s.leak.enabled]
    for floor_window in sorted({leak.floor_window_s for leak in leaks}):
        window = promql.duration(floor_window)
        # Only full windows: in a container's first minutes the minimum of a few samples is no floor,
        # and its fall once the window fills would look like a cycle.
        full = f"and {names.RSS} offset {window}"
        rules.append({"record": names.floor(floor_window), "expr": f"min_over_time({names.RSS}[{window}]) {full}"})
        rules.append({"record": names.ceiling(floor_window),
                      "expr": f"max_over_time({names.RSS}[{window}]) {full}"})
    for floor_window, drop_window in sorted({(leak.floor_window_s, leak.drop_window_s) for leak in leaks}):
        floor = names.floor(floor_window)
        rules.append({"record": names.floor_drop(floor_window, drop_window),
                      "expr": f"max_over_time({floor}[{promql.duration(drop_window)}]) - {floor}"})
    slopes = sorted({(s.leak.floor_window_s, w) for s in settings if s.leak.enabled
                     for w in (s.leak.window_s, s.leak.fast_window_s)})
    for floor_window, window in slopes:
        rules.append({"record": names.floor_slope(floor_window, window),
                      "expr": f"deriv({names.floor(floor_window)}[{promql.duration(window)}])"})
    return rules


def selector_matchers(selector: Selector) -> list[str]:
    """Return the PromQL matchers of a catalog selector, values escaped."""
    matchers = []
    for label in ("namespace", "pod", "container"):
        value = getattr(selector, label)
        if value:
            matchers.append(promql.matcher(label, "=~", value))
    return matchers


def membership_rules(catalog: Catalog) -> list[Rule]:
    """Return one rule per service that labels its containers, then the fleet's catch-all rule.

    A container is present while it has a working-set or restart series; the restart series
    keeps a crash-looping container (which has no cAdvisor series between attempts) attributed.
    The fleet rule reads the services' results from the same evaluation, because rules of one
    group run in order.
    """
    group = promql.by(names.container_labels(catalog.cluster_label))

    def present(selector: Selector) -> str:
        matchers = selector_matchers(selector)
        return (f"group {group} ({promql.selector(names.WORKING_SET, *matchers)} "
                f"or {promql.selector(names.RESTARTS, *matchers)})")

    rules: list[Rule] = []
    for service in catalog.services:
        rules.append({
            "record": names.SERVICE_INFO,
            "expr": present(service.selector),
            "labels": {names.SERVICE_LABEL: service.name, names.TEAM_LABEL: service.team},
        })
    if catalog.fleet.enabled:
        expr = present(catalog.fleet.selector)
        if catalog.services:
            on = promql.on(names.container_labels(catalog.cluster_label))
            # Exclude the fleet's own earlier results, which are still visible within the lookback.
            claimed = promql.selector(names.SERVICE_INFO, promql.matcher(names.SERVICE_LABEL, "!=", FLEET_SERVICE))
            expr += f"\nunless {on}\n{claimed}"
        rules.append({
            "record": names.SERVICE_INFO,
            "expr": expr,
            "labels": {names.SERVICE_LABEL: FLEET_SERVICE, names.TEAM_LABEL: catalog.fleet.team},
        })
    return rules
