"""The fleet overview: who uses the memory, who was OOM-killed, who leaks, and what is idle."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from obsgen import conventions as names
from obsgen.catalog.model import SOURCE_KUBERNETES, Catalog, Leak
from obsgen.dashboards import efficiency
from obsgen.dashboards import presets as p
from obsgen.dashboards import queries as q
from obsgen.promql import duration
from obsgen.rules.build import settings_in_use

WHO = "{{namespace}}/{{pod}} {{container}}"


@dataclass(frozen=True)
class FleetContext:
    """Inputs of the fleet dashboard's section builders."""

    catalog: Catalog
    view: q.View

    @property
    def sources(self) -> tuple[str, ...]:
        return self.catalog.sources()

    def oom_window_s(self) -> int:
        """Return the shortest recorded OOM window: the finest resolution of kills over time."""
        return min(settings.oom.window_s for settings in settings_in_use(self.catalog))

    def leak(self) -> Leak | None:
        """Return the leak settings most services share; their trend series are recorded."""
        enabled = [settings.leak for settings in settings_in_use(self.catalog) if settings.leak.enabled]
        if not enabled:
            return None
        counts = Counter(enabled)
        # Most common first; ties go to the shortest windows, so the choice does not depend on order.
        return min(counts, key=lambda leak: (-counts[leak], leak.floor_window_s, leak.window_s, leak.horizon_s,
                                             leak.fast_window_s))


def usage_section(ctx: FleetContext) -> p.Section:
    """Return the top consumers and memory per namespace, service and team."""
    view, sources = ctx.view, ctx.sources
    used = q.per_container(view, names.WORKING_SET, sources)
    section = p.Section("")
    section.add(p.table("Top memory consumers", [p.query(q.top_consumers(view, sources), table=True)], p.BYTES,
                        "Containers with the largest working set, with their service and team.",
                        sort_by="Value", descending=True), 12, 10)
    section.add(p.bargauge("Working set by team", [p.query(q.by_team(view, sources), "{{team}}", instant=True)],
                           p.BYTES, p.steps("blue"), "Membership comes from the catalog's services."), 12, 10)
    section.add(p.timeseries("Working set by namespace", [p.query(q.total(used, ("namespace",)), "{{namespace}}")],
                             p.BYTES, "Stacked.", stack=True), 12, 8)
    by_service = q.with_owner(view, f"max {q.promql.by(view.labels)} ({q.series(view, names.WORKING_SET, sources)})")
    section.add(p.timeseries("Working set by service", [
        p.query(q.total(by_service, (names.SERVICE_LABEL,)), "{{obsgen_service}}")], p.BYTES,
        "Containers that no service claims count as service \"fleet\".", stack=True), 12, 8)
    return section


def incidents_section(ctx: FleetContext) -> p.Section:
    """Return OOM kills by namespace over time and the leak suspects."""
    view, sources = ctx.view, ctx.sources
    section = p.Section("OOM kills and leaks")
    window = ctx.oom_window_s()
    kills = q.oom_kills(view, window, sources)
    section.add(p.timeseries(f"OOM kills by namespace (per {duration(window)})",
                             [p.query(q.total(kills, ("namespace",)), "{{namespace}}")], p.COUNT,
                             f"OOM kills over the preceding {duration(window)}, from every source.",
                             bars=True, stack=True), 12, 9)
    leak = ctx.leak()
    if leak is not None:
        section.add(p.table(
            f"Leak suspects: time to limit at the {duration(leak.window_s)} trend",
            [p.query(q.leak_suspects(view, leak, sources), table=True)], p.SECONDS,
            f"Containers whose memory floor reaches the limit within {duration(leak.horizon_s * q.SUSPECT_HORIZONS)} "
            f"at its trend. The leak alert fires under its horizon ({duration(leak.horizon_s)} here) when the "
            "growth is also large enough.", sort_by="Value"), 12, 9)
    return section


def requests_section(ctx: FleetContext) -> p.Section:
    """Return the gap between requested and used memory (kubernetes source only)."""
    section = p.Section("Requested against used memory")
    if SOURCE_KUBERNETES not in ctx.sources:
        return section
    view, sources = ctx.view, ctx.sources
    idle = q.idle_request(view, sources)
    requested = q.per_container(view, names.REQUEST, (SOURCE_KUBERNETES,))
    used = q.per_container(view, names.WORKING_SET, sources)
    section.add(p.stat("Requested but unused", [p.query(q.total(idle))], p.BYTES, p.steps("blue"),
                       "Sum over containers of the request minus the working set, where positive: memory "
                       "the scheduler reserves that nothing uses."), 6, 8)
    section.add(p.timeseries("Requested and used", [p.query(q.total(requested), "requested"),
                                                    p.query(q.total(used), "used (working set)")], p.BYTES,
                             "Total memory requests against the total working set."), 9, 8)
    section.add(p.bargauge("Requested but unused by namespace",
                           [p.query(q.total(idle, ("namespace",)), "{{namespace}}", instant=True)],
                           p.BYTES, p.steps("blue")), 9, 8)
    return section


#: The sections of the fleet dashboard, top to bottom. A new panel group (such as the efficiency
#: group of right-sizing) is one more function here.
SECTION_BUILDERS: list[Callable[[FleetContext], p.Section]] = [
    usage_section, incidents_section, requests_section, efficiency.fleet_section,
]


def variables(ctx: FleetContext) -> list[object]:
    cluster = ctx.catalog.cluster_label
    info = names.SERVICE_INFO
    return [
        p.DatasourceVariable(ctx.catalog.defaults.datasource),
        p.QueryVariable("cluster", "Cluster", info, cluster),
        p.QueryVariable("namespace", "Namespace", f'{info}{{{cluster}=~"$cluster"}}', "namespace"),
        p.QueryVariable("service", "Service", f'{info}{{{cluster}=~"$cluster", namespace=~"$namespace"}}',
                        names.SERVICE_LABEL),
    ]


def build(catalog: Catalog, uid: str, description: str) -> p.Dashboard:
    """Return the fleet overview of ``catalog``."""
    ctx = FleetContext(catalog, q.View(catalog.cluster_label, pod=False, service=True))
    kills = q.oom_kills(ctx.view, ctx.oom_window_s(), ctx.sources)
    return p.dashboard(
        title=f"Memory / fleet ({catalog.name})", uid=uid, description=description, tags=["obsgen", "memory"],
        variables=variables(ctx), sections=[builder(ctx) for builder in SECTION_BUILDERS],
        annotations=[p.annotation("OOM kills", kills, "OOM kill", "{{namespace}}/{{pod}} container {{container}}")],
    )
