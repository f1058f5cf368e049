"""The efficiency panel group: memory requested against memory used, on the fleet and service dashboards.

The PromQL comes from ``obsgen.rightsizing.queries``, which reads the right-sizing recording
rules (5-minute rollups and 7-day statistics); this module only lays the panels out.
"""

from __future__ import annotations

from typing import Protocol

from obsgen.catalog.model import SOURCE_KUBERNETES
from obsgen.dashboards import presets as p
from obsgen.dashboards import queries as q
from obsgen.rightsizing import queries as rq

#: Grafana's unit for a plain number with a suffix.
GIB_HOURS = "suffix: GiB-h"


class DashboardContext(Protocol):
    """The part of a fleet or service dashboard context that the efficiency builders read."""

    @property
    def view(self) -> q.View: ...

    @property
    def sources(self) -> tuple[str, ...]: ...


def fleet_section(ctx: DashboardContext) -> p.Section:
    """Return the efficiency group of the fleet dashboard: totals, the worst services, every container."""
    return efficiency_section(ctx.view, ctx.sources, per_service=False)


def service_section(ctx: DashboardContext) -> p.Section:
    """Return the efficiency group of a service dashboard: one line per container."""
    return efficiency_section(ctx.view, ctx.sources, per_service=True)


def _scope(view: q.View) -> rq.Scope:
    """Return the efficiency queries' scope for a dashboard: its variables as matchers, ``$service``."""
    return rq.Scope(view.cluster_label, "$service", tuple(view.matchers()))


def efficiency_section(view: q.View, sources: tuple[str, ...], per_service: bool) -> p.Section:
    """Return the efficiency group; empty without the kubernetes source, which carries the requests.

    ``per_service`` lays it out for a service dashboard (one line per container) rather than the
    fleet (totals and the services that waste most).
    """
    section = p.Section("Efficiency: requested against used memory")
    if SOURCE_KUBERNETES not in sources:
        return section
    scope = _scope(view)
    used = rq.requested_vs_used(scope)
    legend = "{{pod}} {{container}}" if per_service else "{{namespace}}/{{pod}} {{container}}"
    section.add(p.stat("Idle request now", [p.query(rq.idle_request_total(scope))], p.BYTES, p.steps("blue"),
                       "Request minus the mean working set of the last 5 minutes, where positive, summed: "
                       "memory the scheduler reserves that nothing uses."), 6, 8)
    section.add(p.stat("Idle request, last 7 days", [p.query(rq.idle_request_gib_hours(scope))], GIB_HOURS,
                       p.steps("blue"), "The idle request integrated over the week, in GiB-hours, the unit "
                       "memory is billed in. `obsgen recommend` proposes smaller requests."), 6, 8)
    if per_service:
        section.add(p.timeseries("Request against 7-day mean and peak", [
            p.query(used["request"], f"{legend} request"),
            p.query(used["average"], f"{legend} 7-day mean"),
            p.query(used["peak"], f"{legend} 7-day peak"),
        ], p.BYTES, "A request far above the peak is memory paid for and never used; the "
                    "ContainerMemoryRequestOversized alert fires on it."), 12, 8)
    else:
        section.add(p.bargauge("Services wasting most (7-day mean idle request)",
                               [p.query(rq.top_wasting_services(scope), "{{obsgen_service}}", instant=True)],
                               p.BYTES, p.steps("blue")), 12, 8)
        section.add(p.table("Request against 7-day mean and peak", [
            p.query(used["request"], table=True), p.query(used["average"], table=True),
            p.query(used["peak"], table=True)], p.BYTES,
            "Per container: Value #A is the request, #B the 7-day mean and #C the 7-day peak working set."),
            12, 10)
    share = rq.LIMIT_PEAK_SHARE
    section.add(p.bargauge("7-day peak as a share of the limit", [p.query(rq.peak_share_of_limit(scope), legend,
                                                                          instant=True)],
                           p.SHARE, p.steps("green", (0.8, "orange"), (share, "red")),
                           f"Red bars reached {share:.0%} of their limit: the kernel reclaimed hard or "
                           "OOM-killed them there, and will again. Raise their limit first.", 0, 1), 12, 10)
    return section
