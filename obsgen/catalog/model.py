"""The internal model: frozen values that the rule and dashboard builders read.

The model is independent of how a catalog is written (see ``spec.py``): every default is
resolved, every duration is in seconds and every size in bytes, so builders never re-parse input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Metric sources obsgen can normalise into its recording-rule contract.
SOURCE_KUBERNETES = "kubernetes"
SOURCE_EXPORTER = "exporter"
SOURCES = (SOURCE_KUBERNETES, SOURCE_EXPORTER)

SEVERITIES = ("critical", "warning", "info")
RUNTIMES = ("jvm", "go", "python", "node")

#: The value of the ``obsgen_service`` label on containers that no service claims.
FLEET_SERVICE = "fleet"


@dataclass(frozen=True)
class NearLimit:
    """Working memory close to the container's memory limit (fractions of the limit)."""

    warning: float
    critical: float
    for_s: int
    critical_for_s: int
    keep_firing_for_s: int


@dataclass(frozen=True)
class Leak:
    """Sustained growth of non-reclaimable memory that will reach the limit within ``horizon_s``."""

    enabled: bool
    window_s: int
    horizon_s: int
    fast_window_s: int
    fast_horizon_s: int
    floor_window_s: int
    min_growth: float
    warm_up_s: int
    drop_window_s: int
    max_drop: float
    for_s: int
    keep_firing_for_s: int
    unlimited_node_share: float
    severity: str


@dataclass(frozen=True)
class Oom:
    """OOM-kill notification; fires for ``window_s`` after each kill."""

    window_s: int
    severity: str


@dataclass(frozen=True)
class OverRequest:
    """Working set above the memory request, which makes the pod an early eviction candidate."""

    enabled: bool
    ratio: float
    for_s: int
    severity: str


@dataclass(frozen=True)
class Throttling:
    """Reclaim pressure at ``memory.high`` and memory stall time (exporter source only)."""

    enabled: bool
    high_events_per_second: float
    stall_ratio: float
    for_s: int
    severity: str


@dataclass(frozen=True)
class OversizedRequest:
    """A request above ``ratio`` times the 7-day peak working set and ``min_idle_bytes`` above it."""

    enabled: bool
    ratio: float
    min_idle_bytes: int
    for_s: int
    severity: str


@dataclass(frozen=True)
class Settings:
    """Every setting a service can override; the fleet defaults fill what a service leaves out."""

    sources: tuple[str, ...]
    datasource: str
    evaluation_interval_s: int
    labels: tuple[tuple[str, str], ...]
    runbook_url: str
    near_limit: NearLimit
    leak: Leak
    oom: Oom
    over_request: OverRequest
    throttling: Throttling
    oversized_request: OversizedRequest


@dataclass(frozen=True)
class Selector:
    """Regular expressions (RE2, fully anchored as in PromQL) that find a service's containers."""

    namespace: str | None = None
    pod: str | None = None
    container: str | None = None


@dataclass(frozen=True)
class Team:
    name: str
    receiver: str


@dataclass(frozen=True)
class Service:
    name: str
    team: str
    selector: Selector
    settings: Settings
    memory_request: int | None = None
    memory_limit: int | None = None
    runtime: str | None = None
    description: str = ""


@dataclass(frozen=True)
class Fleet:
    """The catch-all entry: default alerts for every container that no service claims."""

    enabled: bool
    team: str
    selector: Selector
    settings: Settings


@dataclass(frozen=True)
class SourceSelectors:
    """Label matchers that pick each source's scrape jobs, pasted into every source query."""

    cadvisor: str
    kube_state_metrics: str
    exporter: str
    node_exporter: str


@dataclass(frozen=True)
class GrafanaOutput:
    """Grafana file provisioning; ``dashboards_path`` is a path inside the Grafana container."""

    datasource_name: str
    prometheus_url: str
    dashboards_path: str
    shared_folder: str


@dataclass(frozen=True)
class KubernetesOutput:
    """Kubernetes objects; label and annotation values are strings as the API requires."""

    namespace: str
    rule_labels: tuple[tuple[str, str], ...]
    dashboard_labels: tuple[tuple[str, str], ...]
    folder_annotation: str


@dataclass(frozen=True)
class Receiver:
    """An Alertmanager receiver: ``(kind, fields)`` pairs, kind being slack, pagerduty, webhook or email."""

    name: str
    integrations: tuple[tuple[str, tuple[tuple[str, object], ...]], ...]


@dataclass(frozen=True)
class AlertmanagerOutput:
    """Alertmanager routing; intervals in seconds."""

    group_by: tuple[str, ...]
    group_wait_s: int
    group_interval_s: int
    repeat_interval_s: int
    critical_repeat_interval_s: int
    default_receiver: str | None
    templates: tuple[str, ...]
    receivers: tuple[Receiver, ...]


@dataclass(frozen=True)
class Output:
    """Which outputs a build writes, and the settings of each format."""

    formats: tuple[str, ...]
    grafana: GrafanaOutput
    kubernetes: KubernetesOutput
    alertmanager: AlertmanagerOutput
    thanos_partial_response_strategy: str
    mimir_namespace: str | None
    mimir_source_tenants: tuple[str, ...]


@dataclass(frozen=True)
class Catalog:
    """A whole validated catalog."""

    file: str
    name: str
    cluster_label: str
    selectors: SourceSelectors
    defaults: Settings
    teams: tuple[Team, ...]
    services: tuple[Service, ...]
    fleet: Fleet
    #: None only in catalogs built by hand; ``validation.output_of`` then supplies the spec defaults.
    output: Output | None = None
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def team(self, name: str) -> Team | None:
        """Return the team called ``name``, or None."""
        return next((team for team in self.teams if team.name == name), None)

    def sources(self) -> tuple[str, ...]:
        """Return every source that some service or the fleet reads, in a fixed order."""
        used = set(self.defaults.sources) | {s for service in self.services for s in service.settings.sources}
        if self.fleet.enabled:
            used |= set(self.fleet.settings.sources)
        return tuple(source for source in SOURCES if source in used)
