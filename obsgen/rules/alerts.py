"""Alerting rules of one service (or of the fleet-wide entry).

Each alert reads the recorded contract series of the service's primary source, keeps the
containers the membership rule assigned to the service, and carries the service, team and
severity labels. ``docs/alerts.md`` explains to the engineer paged how each alert decides.
"""

from __future__ import annotations

from dataclasses import dataclass

from obsgen import conventions as names
from obsgen import promql
from obsgen.catalog.model import SOURCE_EXPORTER, SOURCE_KUBERNETES, Settings

Rule = dict[str, object]

NEAR_LIMIT = "ContainerMemoryNearLimit"
OOM_KILLED = "ContainerOOMKilled"
LEAK = "ContainerMemoryLeak"
ABOVE_REQUEST = "ContainerMemoryAboveRequest"
THROTTLED = "ContainerMemoryThrottled"
ALERT_NAMES = (NEAR_LIMIT, OOM_KILLED, LEAK, ABOVE_REQUEST, THROTTLED)

_WHO = "{{ $labels.namespace }}/{{ $labels.pod }} container {{ $labels.container }}"


@dataclass(frozen=True)
class Owner:
    """Whose containers an alert group watches: a service or the fleet-wide entry."""

    service: str
    team: str
    settings: Settings
    cluster_label: str


def primary_source(settings: Settings) -> str:
    """Return the source whose memory series the alerts read: cAdvisor when listed, else the exporter."""
    return SOURCE_KUBERNETES if SOURCE_KUBERNETES in settings.sources else SOURCE_EXPORTER


def alert_rules(owner: Owner) -> list[Rule]:
    """Return the alerting rules of one owner, in a fixed order."""
    settings = owner.settings
    rules = near_limit(owner) + [oom_killed(owner)]
    if settings.leak.enabled:
        rules.append(leak(owner))
    if settings.over_request.enabled and SOURCE_KUBERNETES in settings.sources:
        rules.append(above_request(owner))
    if settings.throttling.enabled and SOURCE_EXPORTER in settings.sources:
        rules.append(throttled(owner))
    return rules


def _series(owner: Owner, name: str, source: str | None = None) -> str:
    return promql.selector(name, promql.matcher(names.SOURCE_LABEL, "=", source or primary_source(owner.settings)))


def _owned(owner: Owner, expr: str) -> str:
    """Keep only the owner's containers, as assigned by the membership rules."""
    on = promql.on(names.container_labels(owner.cluster_label))
    info = promql.selector(names.SERVICE_INFO, promql.matcher(names.SERVICE_LABEL, "=", owner.service))
    return f"(\n{_indent(expr)}\n)\nand {on}\n{info}"


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def _literal(text: str) -> str:
    """Return ``text`` so that Prometheus's template expansion of labels and annotations keeps it as is.

    Prometheus expands Go templates in alert labels and annotations, so a catalog value holding
    ``{{`` would start a template action; the action ``{{ "{{" }}`` writes the two braces.
    """
    return text.replace("{{", '{{ "{{" }}')


def _alert(owner: Owner, name: str, expr: str, for_s: int, severity: str, summary: str, description: str,
           keep_firing_for_s: int = 0) -> Rule:
    labels = {name: _literal(value) for name, value in owner.settings.labels}
    labels.update({"severity": severity, names.TEAM_LABEL: owner.team, names.SERVICE_LABEL: owner.service})
    runbook = owner.settings.runbook_url.format(alert=name, alert_lower=name.lower(), service=owner.service,
                                                team=owner.team)
    rule: Rule = {"alert": name, "expr": _owned(owner, expr), "for": promql.duration(for_s) if for_s else "0s"}
    if keep_firing_for_s:
        rule["keep_firing_for"] = promql.duration(keep_firing_for_s)
    rule["labels"] = dict(sorted(labels.items()))
    rule["annotations"] = {"summary": summary, "description": description, "runbook_url": _literal(runbook)}
    return rule


def near_limit(owner: Owner) -> list[Rule]:
    """Non-reclaimable memory (RSS) close to the limit, at two severities.

    RSS rather than the working set: page cache counts in the working set but the kernel
    reclaims it before any OOM kill, so a warm cache at the limit is healthy.
    """
    near = owner.settings.near_limit
    ratio = _series(owner, names.RSS_LIMIT_RATIO)
    description = (f"{_WHO} holds {{{{ $value | humanizePercentage }}}} of its memory limit in memory the "
                   f"kernel cannot reclaim (RSS); it is OOM-killed when this reaches 100%.")
    summary = "A container's non-reclaimable memory is close to its memory limit."
    return [
        _alert(owner, NEAR_LIMIT, f"{ratio} > {promql.number(near.warning)}", near.for_s, "warning",
               summary, description, near.keep_firing_for_s),
        _alert(owner, NEAR_LIMIT, f"{ratio} > {promql.number(near.critical)}", near.critical_for_s, "critical",
               summary, description, near.keep_firing_for_s),
    ]


def oom_killed(owner: Owner) -> Rule:
    """Alert on every OOM kill seen by any listed source. The alert resolves after a window without kills."""
    oom = owner.settings.oom
    group = promql.by(names.container_labels(owner.cluster_label))
    kills = promql.selector(names.oom_kills(oom.window_s),
                            promql.matcher(names.SOURCE_LABEL, "=~", "|".join(owner.settings.sources)))
    window = promql.duration(oom.window_s)
    description = (f"{_WHO} was OOM-killed (about {{{{ $value | printf \"%.0f\" }}}} time(s) in the last "
                   f"{window}): it used all the memory its limit allows.")
    return _alert(owner, OOM_KILLED, f"max {group} ({kills}) > 0", 0, oom.severity,
                  "A container was killed for running out of memory.", description)


def leak(owner: Owner) -> Rule:
    """Sustained growth of the memory floor that reaches the limit within the horizon.

    The floor (minimum over ``floor_window``) hides GC sawtooth and short spikes. The ceiling
    (maximum over the same window) meets the limit first, so the time left is
    ``(limit - ceiling) / floor slope``. Two trends are checked: a slow one over ``window`` with
    ``horizon`` and a fast one over ``fast_window`` with ``fast_horizon``. Each also requires the
    floor to have grown by ``min_growth`` of the limit over its window, which rejects flat series
    whose trend is noise. A leak's floor never falls, so a container whose floor fell by more than
    ``max_drop`` of the limit within ``drop_window`` is cycling (a daily cycle, a slow GC cycle)
    and is left out, unless it restarted in that window: a restart resets memory. The value is
    the projected time to the limit, in seconds.
    """
    settings = owner.settings.leak
    group_on = promql.on(names.container_labels(owner.cluster_label))
    floor = _series(owner, names.floor(settings.floor_window_s))
    ceiling = _series(owner, names.ceiling(settings.floor_window_s))
    limit = (f"({_series(owner, names.LIMIT)} or "
             f"{_series(owner, names.NODE_MEMORY)} * {promql.number(settings.unlimited_node_share)})")

    def tier(window_s: int, horizon_s: int) -> str:
        slope = _series(owner, names.floor_slope(settings.floor_window_s, window_s))
        window = promql.duration(window_s)
        return (
            f"clamp_min({limit} - {ceiling}, 0) / ({slope} > 0) < {horizon_s}\n"
            f"and\n"
            f"{floor} - {floor} offset {window} > {limit} * {promql.number(settings.min_growth)}"
        )

    drop_window = promql.duration(settings.drop_window_s)
    drop = _series(owner, names.floor_drop(settings.floor_window_s, settings.drop_window_s))
    # NOTE: only the kubernetes source records restarts; with the exporter alone a container stays
    # excluded for drop_window after an OOM kill drops its memory.
    restarts = promql.selector(names.RESTARTS)
    cycling = (f"max_over_time({drop}[{drop_window}]) > {limit} * {promql.number(settings.max_drop)}\n"
               f"unless {group_on}\n"
               f"increase({restarts}[{drop_window}]) > 0")
    trends = (f"(\n{_indent(tier(settings.window_s, settings.horizon_s))}\n)\nor\n"
              f"(\n{_indent(tier(settings.fast_window_s, settings.fast_horizon_s))}\n)")
    # Parentheses matter: `and` and `unless` bind tighter than `or`.
    expr = (f"(\n{_indent(trends)}\n)\n"
            f"and {group_on}\n{floor} offset {promql.duration(settings.warm_up_s)}\n"
            f"unless {group_on}\n(\n{_indent(cycling)}\n)")
    description = (f"{_WHO} has grown steadily and, at the current trend, reaches its memory limit in "
                   f"{{{{ $value | humanizeDuration }}}}.")
    return _alert(owner, LEAK, expr, settings.for_s, settings.severity,
                  "A container's memory grows steadily towards its limit.", description,
                  settings.keep_firing_for_s)


def above_request(owner: Owner) -> Rule:
    over = owner.settings.over_request
    expr = (f"{_series(owner, names.WORKING_SET, SOURCE_KUBERNETES)} / "
            f"{_series(owner, names.REQUEST, SOURCE_KUBERNETES)} > {promql.number(over.ratio)}")
    description = (f"{_WHO} has used {{{{ $value | humanizePercentage }}}} of its memory request for "
                   f"{promql.duration(over.for_s)}; under node memory pressure the kubelet evicts such pods first.")
    return _alert(owner, ABOVE_REQUEST, expr, over.for_s, over.severity,
                  "A container uses more memory than it requested.", description)


def throttled(owner: Owner) -> Rule:
    throttling = owner.settings.throttling
    events = _series(owner, names.HIGH_EVENTS_RATE, SOURCE_EXPORTER)
    stall = _series(owner, names.PRESSURE_RATE, SOURCE_EXPORTER)
    expr = (f"{events} > {promql.number(throttling.high_events_per_second)}\n"
            f"or\n{stall} > {promql.number(throttling.stall_ratio)}")
    description = (f"{_WHO} is held at its memory.high limit: the kernel reclaims its memory and stalls its "
                   f"tasks ({{{{ $value | humanize }}}}), which slows it down.")
    return _alert(owner, THROTTLED, expr, throttling.for_s, throttling.severity,
                  "A container is slowed down by memory reclaim at memory.high.", description)
