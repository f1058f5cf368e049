"""The dashboard of one service: how close each container is to its limit, OOM kills, leaks.

The first screen answers the three questions of an engineer who was paged: how close is each
container to its limit, was it OOM-killed, and is it leaking. Details follow in sections below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from obsgen import conventions as names
from obsgen.catalog.model import SOURCE_EXPORTER, SOURCE_KUBERNETES, Catalog, Service
from obsgen.dashboards import efficiency
from obsgen.dashboards import presets as p
from obsgen.dashboards import queries as q
from obsgen.promql import duration
from obsgen.rules.alerts import primary_source

WHO = "{{pod}} {{container}}"


@dataclass(frozen=True)
class ServiceContext:
    """Inputs of the section builders of one service dashboard."""

    catalog: Catalog
    service: Service
    view: q.View

    @property
    def sources(self) -> tuple[str, ...]:
        return self.service.settings.sources

    @property
    def primary(self) -> str:
        """The source the alerts read; panels showing what an alert evaluates read it too."""
        return primary_source(self.service.settings)


def first_screen(ctx: ServiceContext) -> p.Section:
    """Return the top of the dashboard: limit use, OOM kills, the leak trend and restarts."""
    settings = ctx.service.settings
    near, leak, oom = settings.near_limit, settings.leak, settings.oom
    view, primary = ctx.view, ctx.primary
    limit_steps = p.steps("green", (near.warning, "orange"), (near.critical, "red"))
    rss_share = q.per_container(view, names.RSS_LIMIT_RATIO, (primary,))
    kills = q.oom_kills(view, oom.window_s, ctx.sources)

    stats = [
        p.stat("Highest share of limit in use (RSS)", [p.query(f"max (\n{rss_share}\n)")], p.SHARE, limit_steps,
               "Non-reclaimable memory (RSS) of the fullest container as a share of its limit; "
               "the near-limit alert reads the same series.", no_value="no limit"),
        p.stat(f"OOM kills, last {duration(oom.window_s)}", [p.query(q.total(kills))], p.COUNT,
               p.steps("green", (1, "red")), "Containers killed for running out of memory, from every source.",
               decimals=0),
    ]
    if leak.enabled:
        stats.append(p.stat(
            "Time to limit at the memory trend",
            [p.query(f"min (\n{q.time_to_limit(view, leak, primary, window)}\n)", f"{duration(window)} trend")
             for window in (leak.window_s, leak.fast_window_s)],
            p.SECONDS, p.steps("red", (leak.fast_horizon_s, "orange"), (leak.horizon_s, "green")),
            "Soonest time at which a container's memory floor reaches its limit if the trend holds; "
            "the leak alert fires below its horizon.", no_value="not growing"))
    if SOURCE_KUBERNETES in ctx.sources:
        stats.append(p.stat("Restarts in the time range", [p.query(q.total(q.restarts_in_range(view)))], p.COUNT,
                            p.steps("green", (1, "orange")), "Container restarts for any reason.", decimals=0))

    section = p.Section("")
    for panel in stats:
        section.add(panel, p.GRID_COLUMNS // len(stats), 4)
    section.add(p.bargauge("Share of limit in use per container (RSS)", [p.query(rss_share, WHO)], p.SHARE,
                           limit_steps, "Latest RSS of each container as a share of its memory limit.", 0, 1), 12, 8)
    ws_share = q.per_container(view, names.WORKING_SET_LIMIT_RATIO, (primary,))
    section.add(p.timeseries("Share of limit in use", [p.query(rss_share, f"{WHO} RSS"),
                                                         p.query(ws_share, f"{WHO} working set")],
                             p.SHARE, "RSS cannot be reclaimed; the working set also counts active page cache, "
                             "which the kernel reclaims before an OOM kill.", limit_steps, minimum=0), 12, 8)
    if leak.enabled:
        section.add(p.timeseries(
            "Time to limit per container",
            [p.query(q.time_to_limit(view, leak, primary, window), f"{WHO} {duration(window)} trend")
             for window in (leak.window_s, leak.fast_window_s)],
            p.SECONDS, "The leak alert's value: time until the memory floor reaches the limit at its trend. "
            f"Only containers reaching it within {duration(leak.horizon_s * q.SUSPECT_HORIZONS)} have a line."),
            12, 8)
    events = [p.query(kills, f"{WHO} OOM kills")]
    title, description = "OOM kills", f"OOM kills over the preceding {duration(oom.window_s)}."
    if SOURCE_KUBERNETES in ctx.sources:
        events.append(p.query(q.restarts_rate(view), f"{WHO} restarts"))
        title, description = "OOM kills and restarts", f"{description} Restarts for any reason."
    section.add(p.timeseries(title, events, p.COUNT, description, bars=True), 12, 8)
    return section


def memory_section(ctx: ServiceContext) -> p.Section:
    """Return the memory breakdown per container against its request and limit, and the leak projection."""
    view, primary, sources = ctx.view, ctx.primary, ctx.sources
    leak = ctx.service.settings.leak
    section = p.Section("Memory against request and limit")
    usage = [
        p.query(q.per_container(view, names.WORKING_SET, (primary,)), f"{WHO} working set"),
        p.query(q.per_container(view, names.RSS, (primary,)), f"{WHO} RSS"),
    ]
    if SOURCE_KUBERNETES in sources:
        usage.append(p.query(q.per_container(view, names.REQUEST, (SOURCE_KUBERNETES,)), f"{WHO} request"))
    usage.append(p.query(q.per_container(view, names.LIMIT, (primary,)), f"{WHO} limit"))
    section.add(p.timeseries("Working set and RSS against request and limit", usage, p.BYTES,
                             "Dashed lines: the limit (red) and the request (orange)."), 24, 9)
    section.add(p.timeseries("Page cache and kernel memory", [
        p.query(q.per_container(view, names.CACHE, (primary,)), f"{WHO} page cache"),
        p.query(q.kernel_memory(view, (primary,)), f"{WHO} kernel and other"),
    ], p.BYTES, "Page cache is reclaimable. Kernel and other is usage minus RSS and page cache."), 12, 8)
    if leak.enabled:
        section.add(p.timeseries("Memory floor and leak projection", [
            p.query(q.memory_floor(view, leak, primary), f"{WHO} floor"),
            p.query(q.projected_floor(view, leak, primary), f"{WHO} in {duration(leak.horizon_s)} at the trend"),
            p.query(q.limit_for_projection(view, leak, primary), f"{WHO} limit"),
        ], p.BYTES, f"The floor is the lowest RSS over {duration(leak.floor_window_s)}, which hides garbage "
           f"collection; the projection extends its {duration(leak.window_s)} trend."), 12, 8)
    return section


def exporter_section(ctx: ServiceContext) -> p.Section:
    """Return the cgroup v2 signals that only the obsgen exporter provides."""
    section = p.Section("cgroup memory signals (obsgen exporter)")
    if SOURCE_EXPORTER not in ctx.sources:
        return section
    view, exporter = ctx.view, (SOURCE_EXPORTER,)
    throttling = ctx.service.settings.throttling
    section.add(p.timeseries(
        "memory.high reclaim events", [p.query(q.per_container(view, names.HIGH_EVENTS_RATE, exporter), WHO)],
        p.PER_SECOND, "Times per second the kernel reclaimed memory because the cgroup exceeded memory.high.",
        p.steps("green", (throttling.high_events_per_second, "red"))), 12, 8)
    section.add(p.timeseries(
        "Memory stall time (PSI some)", [p.query(q.per_container(view, names.PRESSURE_RATE, exporter), WHO)],
        p.SHARE, "Share of time at least one task waited for memory.",
        p.steps("green", (throttling.stall_ratio, "red")), minimum=0), 12, 8)
    section.add(p.timeseries("Swap used", [p.query(q.per_container(view, names.SWAP, exporter), WHO)], p.BYTES,
                             "memory.swap.current."), 8, 8)
    section.add(p.timeseries("Major page faults", [p.query(q.per_container(view, names.MAJOR_FAULTS_RATE, exporter),
                                                           WHO)],
                             p.PER_SECOND, "Pages read back from disk or swap, per second."), 8, 8)
    section.add(p.timeseries("memory.high and peak against the limit", [
        p.query(q.per_container(view, names.PEAK, exporter), f"{WHO} peak"),
        p.query(q.per_container(view, names.MEMORY_HIGH, exporter), f"{WHO} memory.high"),
        p.query(q.per_container(view, names.LIMIT, exporter), f"{WHO} limit"),
    ], p.BYTES, "memory.peak is the highest usage since the cgroup was created (Linux 5.19 and later)."), 8, 8)
    return section


def runtime_section(ctx: ServiceContext) -> p.Section:
    """Return the panels of the service's language runtime, when the catalog names one."""
    runtime = ctx.service.runtime
    if not runtime:
        return p.Section("")
    section = p.Section(f"Runtime ({runtime})")
    for panel in q.RUNTIME_PANELS[runtime]:
        targets = [p.query(q.runtime(ctx.view, runtime_query), runtime_query.legend)
                   for runtime_query in panel.queries]
        section.add(p.timeseries(panel.title, targets, panel.unit,
                                 "Exported by the application's Prometheus client library."), 12, 8)
    return section


#: The sections of a service dashboard, top to bottom. A new panel group (such as the efficiency
#: group of right-sizing) is one more function here; a function returning no panels adds nothing.
SECTION_BUILDERS: list[Callable[[ServiceContext], p.Section]] = [
    first_screen, memory_section, exporter_section, runtime_section, efficiency.service_section,
]


def variables(ctx: ServiceContext) -> list[object]:
    """Return the variables: datasource, cluster, namespace, the fixed service and pod."""
    cluster = ctx.catalog.cluster_label
    info = names.SERVICE_INFO
    member = f'{names.SERVICE_LABEL}="$service"'
    return [
        p.DatasourceVariable(ctx.service.settings.datasource),
        p.QueryVariable("cluster", "Cluster", f"{info}{{{member}}}", cluster),
        p.QueryVariable("namespace", "Namespace", f'{info}{{{cluster}=~"$cluster", {member}}}', "namespace"),
        p.ConstantVariable("service", ctx.service.name),
        p.QueryVariable("pod", "Pod", f'{info}{{{cluster}=~"$cluster", namespace=~"$namespace", {member}}}', "pod"),
    ]


def oom_annotation(ctx: ServiceContext) -> dict[str, object]:
    """Return the annotation that marks OOM kills on every time panel."""
    kills = q.oom_kills(ctx.view, ctx.service.settings.oom.window_s, ctx.sources)
    return p.annotation("OOM kills", kills, "OOM kill", "{{namespace}}/{{pod}} container {{container}}")


def build(catalog: Catalog, service: Service, uid: str, description: str) -> p.Dashboard:
    """Return the dashboard of ``service``."""
    ctx = ServiceContext(catalog, service, q.View(catalog.cluster_label, pod=True, service=True))
    return p.dashboard(
        title=f"Memory / {service.name}", uid=uid, description=description,
        tags=["obsgen", "memory", f"team:{service.team}"], variables=variables(ctx),
        sections=[builder(ctx) for builder in SECTION_BUILDERS], annotations=[oom_annotation(ctx)],
    )
