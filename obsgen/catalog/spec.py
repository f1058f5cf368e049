"""The catalog format, version ``obsgen/v1``: every key, its type, its default and its meaning.

A complete catalog::

    apiVersion: obsgen/v1
    name: online-boutique
    defaults:
      sources: [kubernetes]          # kubernetes (cAdvisor + kube-state-metrics), exporter, or both
      near_limit: {warning: 0.95, critical: 0.98}
      leak: {window: 6h, horizon: 12h}
      runbook_url: https://runbooks.example.com/memory#{alert_lower}
    teams:
      - {name: web, receiver: web-pager}
    services:
      - name: frontend
        team: web
        selector: {namespace: boutique, workload: frontend, container: server}
        memory: {request: 64Mi, limit: 128Mi}
        runtime: go
        overrides:
          near_limit: {warning: 0.85}
    fleet:
      team: web

This module only describes the format. ``validation.py`` checks a document against it and maps
it to the internal model, so the two can change independently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

API_VERSION = "obsgen/v1"
KNOWN_API_VERSIONS = (API_VERSION,)


@dataclass(frozen=True)
class Field:
    """One key of a mapping: its kind (a name from ``validation.CHECKS``), default and meaning.

    ``kind`` may also be a ``Struct`` (a nested mapping) or ``ListOf`` (a list of mappings).
    ``choices`` applies to the ``enum`` and ``sources`` kinds.
    """

    kind: Any
    doc: str
    default: Any = None
    required: bool = False
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Struct:
    """A mapping with a fixed set of keys."""

    fields: dict[str, Field]
    doc: str = ""


@dataclass(frozen=True)
class ListOf:
    """A list whose items are all ``item`` mappings."""

    item: Struct
    doc: str = ""
    unique_key: str | None = None


NEAR_LIMIT = Struct({
    "warning": Field("fraction", "Warn when non-reclaimable memory (RSS) exceeds this share of the limit. "
                     "Many healthy services run steadily at 85 to 93 percent; warn above that.", 0.95),
    "critical": Field("fraction", "Page critically above this share of the limit.", 0.98),
    "for": Field("duration", "How long the warning condition must hold before the alert fires.", "15m"),
    "critical_for": Field("duration", "How long the critical condition must hold.", "5m"),
    "keep_firing_for": Field("duration", "How long the alert keeps firing after the condition clears, so a "
                             "container hovering at the threshold pages once, not at every crossing.", "1h"),
}, "Alerts on memory close to the container's limit.")

LEAK = Struct({
    "enabled": Field("bool", "Generate the leak alert.", True),
    "window": Field("duration", "Window over which the slow growth trend of the memory floor is fitted.", "6h"),
    "horizon": Field("duration", "Alert when the slow trend reaches the limit within this time.", "12h"),
    "fast_window": Field("duration", "Window of the fast trend, which catches leaks that fill the limit in "
                         "a few hours.", "1h"),
    "fast_horizon": Field("duration", "Alert when the fast trend reaches the limit within this time. Keep it "
                          "short: a JVM's old-generation ramp grows as fast as a leak but stops below "
                          "the limit.", "1h"),
    "floor_window": Field("duration", "The memory floor is the minimum over this window; it hides "
                          "garbage-collection sawtooth and short spikes.", "30m"),
    "min_growth": Field("fraction", "Ignore growth smaller than this share of the limit over either "
                        "window.", 0.05),
    "warm_up": Field("duration", "Judge no container whose pod is younger than this, because start-up "
                     "ramps and caches filling look like fast growth.", "3h"),
    "drop_window": Field("duration", "A floor that fell by more than max_drop within this window (without a "
                         "restart) is cyclic, such as a daily cycle or a slow GC cycle, not a leak; one day "
                         "covers a daily cycle.", "24h"),
    "max_drop": Field("fraction", "Largest fall of the memory floor, as a share of the limit, that still "
                      "counts as noise on a leak.", 0.05),
    "for": Field("duration", "How long the trend must hold before the alert fires.", "30m"),
    "keep_firing_for": Field("duration", "How long the alert keeps firing after the trend flattens.", "30m"),
    "unlimited_node_share": Field("fraction", "For containers without a limit, the share of the node's "
                                  "memory that counts as the limit.", 0.5),
    "severity": Field("enum", "Severity of the leak alert.", "warning", choices=("critical", "warning", "info")),
}, "Alerts on memory that grows steadily towards the limit.")

OOM = Struct({
    "window": Field("duration", "The OOM alert fires for this long after each kill, then resolves on its "
                    "own.", "10m"),
    "severity": Field("enum", "Severity of the OOM-kill alert.", "critical", choices=("critical", "warning", "info")),
}, "Alerts on OOM kills.")

OVER_REQUEST = Struct({
    "enabled": Field("bool", "Generate the above-request alert.", True),
    "ratio": Field("number", "Alert when the working set exceeds the request times this ratio.", 1.0),
    "for": Field("duration", "How long the working set must stay above the request.", "2h"),
    "severity": Field("enum", "Severity of the above-request alert.", "info", choices=("warning", "info")),
}, "Alerts on a working set above the memory request: such pods are evicted first under node pressure.")

THROTTLING = Struct({
    "enabled": Field("bool", "Generate the throttling alert (exporter source only).", True),
    "high_events_per_second": Field("number", "Alert when memory.high reclaim events exceed this rate "
                                    "(events per second).", 1.0),
    "stall_ratio": Field("fraction", "Or when tasks stall on memory for this share of the time (PSI some).",
                         0.1),
    "for": Field("duration", "How long throttling must last before the alert fires.", "10m"),
    "severity": Field("enum", "Severity of the throttling alert.", "warning", choices=("warning", "info")),
}, "Alerts on a cgroup held at memory.high.")

OVERSIZED_REQUEST = Struct({
    "enabled": Field("bool", "Generate the oversized-request alert (kubernetes source only).", True),
    "ratio": Field("number", "Alert when the request exceeds the 7-day peak of the working set times this "
                   "ratio.", 2.0),
    "min_idle": Field("size", "And when the request exceeds that peak by at least this much, so that small "
                      "containers do not raise tickets worth less than the time to read them.", "64Mi"),
    "for": Field("duration", "How long the request must stay oversized; a container needs that much "
                 "history before its 7-day peak means anything.", "3d"),
    "severity": Field("enum", "Severity of the oversized-request alert; info keeps it off the pager.", "info",
                      choices=("warning", "info")),
}, "Alerts on a memory request far above anything the container used in a week: memory paid for and "
   "never used.")

SETTINGS = Struct({
    "sources": Field("sources", "Metric sources to read: kubernetes (cAdvisor and kube-state-metrics), "
                     "exporter (the obsgen cgroup exporter), or both.", ["kubernetes"],
                     choices=("kubernetes", "exporter")),
    "datasource": Field("str", "Grafana datasource uid the dashboards default to.", "prometheus"),
    "evaluation_interval": Field("duration", "Evaluation interval of the generated rule groups.", "1m"),
    "labels": Field("labels", "Extra labels added to every alert.", {}),
    "runbook_url": Field("url_pattern", "Runbook URL pattern; {alert}, {alert_lower}, {service} and {team} "
                         "are filled in.", "https://github.com/obsgen/obsgen/blob/main/docs/alerts.md"
                         "#{alert_lower}"),
    "near_limit": Field(NEAR_LIMIT, NEAR_LIMIT.doc),
    "leak": Field(LEAK, LEAK.doc),
    "oom": Field(OOM, OOM.doc),
    "over_request": Field(OVER_REQUEST, OVER_REQUEST.doc),
    "throttling": Field(THROTTLING, THROTTLING.doc),
    "oversized_request": Field(OVERSIZED_REQUEST, OVERSIZED_REQUEST.doc),
}, "Settings of the whole fleet; a service's overrides replace single keys.")

SELECTOR = Struct({
    "namespace": Field("regex", "Namespace of the service's pods (a regular expression, anchored)."),
    "workload": Field("name", "Deployment, StatefulSet or DaemonSet name; matches the pods it creates."),
    "pod": Field("regex", "Pod name pattern (a regular expression, anchored); instead of workload."),
    "container": Field("regex", "Container name (a regular expression, anchored); all containers if unset."),
}, "Which containers belong to the service.")

MEMORY = Struct({
    "request": Field("size", "Declared memory request, such as 64Mi; shown on dashboards."),
    "limit": Field("size", "Declared memory limit; used when the metrics carry no limit."),
}, "Declared memory request and limit.")

SERVICE = Struct({
    "name": Field("name", "Service name; becomes file names and the obsgen_service label.", required=True),
    "team": Field("name", "Team that owns the service; must be listed under teams.", required=True),
    "description": Field("str", "One line shown on the service dashboard.", ""),
    "selector": Field(SELECTOR, SELECTOR.doc),
    "memory": Field(MEMORY, MEMORY.doc),
    "runtime": Field("enum", "Language runtime, which adds runtime panels.", None,
                     choices=("jvm", "go", "python", "node")),
    "overrides": Field(SETTINGS, "Per-service replacements for any key of defaults."),
})

TEAM = Struct({
    "name": Field("name", "Team name; becomes the team label on every alert.", required=True),
    "receiver": Field("name", "Alertmanager receiver that pages this team.", required=True),
})

FLEET = Struct({
    "enabled": Field("bool", "Give every container that no service claims the default alerts.", True),
    "team": Field("name", "Team that receives the fleet-wide alerts; unset means the label team=\"unowned\"."),
    "selector": Field(SELECTOR, "Restrict the fleet entry, for example to some namespaces."),
    "overrides": Field(SETTINGS, "Replacements for any key of defaults, for unclaimed containers only."),
}, "The fleet-wide entry.")

SCRAPE_SELECTORS = Struct({
    "cadvisor": Field("matchers", "Label matchers of the kubelet's cAdvisor series.",
                      'job="kubelet", metrics_path="/metrics/cadvisor"'),
    "kube_state_metrics": Field("matchers", "Label matchers of kube-state-metrics series.",
                                'job="kube-state-metrics"'),
    "exporter": Field("matchers", "Label matchers of the obsgen exporter's series.", 'job="obsgen-exporter"'),
    "node_exporter": Field("matchers", "Label matchers of node-exporter series.", 'job="node-exporter"'),
}, "How to find each source's series in Prometheus.")

#: Output formats and the top-level folder each one writes.
OUTPUT_FORMATS = ("rules", "dashboards", "grafana", "kubernetes", "alertmanager", "mixin", "thanos", "mimir")

GRAFANA_OUTPUT = Struct({
    "datasource_name": Field("str", "Name of the provisioned Prometheus datasource; its uid is "
                             "defaults.datasource, which the dashboards reference.", "Prometheus"),
    "prometheus_url": Field("url", "URL at which Grafana reaches Prometheus.", "http://prometheus:9090"),
    "dashboards_path": Field("absolute_path", "Folder inside the Grafana container where grafana/dashboards/ "
                             "is mounted; the dashboards provider reads it.", "/var/lib/grafana/dashboards/obsgen"),
    "shared_folder": Field("name", "Grafana folder of the dashboards that belong to no team (fleet, node).",
                           "obsgen"),
}, "Grafana file provisioning: a datasource and a dashboards provider with one folder per team.")

KUBERNETES_OUTPUT = Struct({
    "namespace": Field("name", "Namespace of the generated PrometheusRule and ConfigMap objects.", "monitoring"),
    "rule_labels": Field("kubernetes_labels", "Labels on every PrometheusRule. They must match the rule "
                         "selector of the Prometheus object (kube-prometheus-stack: release: <helm release>), "
                         "or the rules are silently ignored.", {}),
    "dashboard_labels": Field("kubernetes_labels", "Labels on every dashboard ConfigMap that the Grafana "
                              "sidecar watches for.", {"grafana_dashboard": "1"}),
    "folder_annotation": Field("kubernetes_label_name", "Annotation that tells the Grafana sidecar the "
                               "dashboard's folder (kube-prometheus-stack: sidecar.dashboards.folderAnnotation).",
                               "grafana_folder"),
}, "Kubernetes objects: PrometheusRule for prometheus-operator and ConfigMaps for the Grafana sidecar.")

SLACK_RECEIVER = Struct({
    "api_url_file": Field("absolute_path", "File holding the Slack webhook URL (a secret).", required=True),
    "channel": Field("str", "Channel to post to, such as '#storefront-alerts'."),
    "send_resolved": Field("bool", "Also notify when the alert resolves.", True),
})

PAGERDUTY_RECEIVER = Struct({
    "routing_key_file": Field("absolute_path", "File holding the PagerDuty Events API v2 routing key "
                              "(a secret).", required=True),
    "send_resolved": Field("bool", "Also notify when the alert resolves.", True),
})

WEBHOOK_RECEIVER = Struct({
    "url": Field("url", "Endpoint that receives the alerts as JSON; put no token in it, use "
                 "bearer_token_file instead.", required=True),
    "bearer_token_file": Field("absolute_path", "File holding a bearer token sent with each request."),
    "send_resolved": Field("bool", "Also notify when the alert resolves.", True),
})

EMAIL_RECEIVER = Struct({
    "to": Field("str", "Recipient address.", required=True),
    "from": Field("str", "Sender address.", required=True),
    "smarthost": Field("str", "SMTP server as host:port.", required=True),
    "auth_username": Field("str", "SMTP user name."),
    "auth_password_file": Field("absolute_path", "File holding the SMTP password (a secret)."),
    "send_resolved": Field("bool", "Also notify when the alert resolves.", False),
})

RECEIVER = Struct({
    "name": Field("name", "Receiver name, as the teams list names it.", required=True),
    "slack": Field(SLACK_RECEIVER, "Post to Slack."),
    "pagerduty": Field(PAGERDUTY_RECEIVER, "Page through PagerDuty."),
    "webhook": Field(WEBHOOK_RECEIVER, "Send to an HTTP endpoint."),
    "email": Field(EMAIL_RECEIVER, "Send an email."),
}, "One Alertmanager receiver. Secrets are only read from files; a receiver with no integration "
   "notifies nobody and shows its alerts in Alertmanager only.")

ALERTMANAGER_OUTPUT = Struct({
    "group_by": Field("label_names", "Labels that group alerts into one notification.",
                      ["alertname", "namespace", "pod"]),
    "group_wait": Field("duration", "How long to wait for more alerts of a new group before notifying.", "30s"),
    "group_interval": Field("duration", "How long to wait before notifying about new alerts in a group.", "5m"),
    "repeat_interval": Field("duration", "How long to wait before repeating a notification that is still "
                             "firing.", "4h"),
    "critical_repeat_interval": Field("duration", "Repeat interval of critical alerts.", "1h"),
    "default_receiver": Field("name", "Receiver of alerts whose team label names no team; the fleet team's "
                              "receiver when unset."),
    "templates": Field("absolute_paths", "Notification template files to load (glob patterns).", []),
    "receivers": Field(ListOf(RECEIVER, unique_key="name"), "How each team's receiver notifies.", []),
}, "The Alertmanager configuration: a route per team, critical alerts repeated sooner, and an "
   "inhibition of the near-limit warning while the critical alert fires.")

THANOS_OUTPUT = Struct({
    "partial_response_strategy": Field("enum", "What Thanos Ruler does when some store does not answer: "
                                       "abort the evaluation, or evaluate on partial data and warn.",
                                       "abort", choices=("abort", "warn")),
}, "Rule files for Thanos Ruler.")

MIMIR_OUTPUT = Struct({
    "namespace": Field("str", "Rule namespace (mimirtool rules load); obsgen-<catalog name> when unset."),
    "source_tenants": Field("strings", "Tenants whose series the rules read (Mimir federated rule groups); "
                            "empty means the tenant that loads the rules.", []),
}, "Rule files for the Grafana Mimir and Cortex rulers.")

OUTPUT = Struct({
    "formats": Field("formats", "Outputs to write, each into its own top-level folder; obsgen build "
                     "--format replaces this list for one run.", ["rules", "dashboards"],
                     choices=OUTPUT_FORMATS),
    "grafana": Field(GRAFANA_OUTPUT, GRAFANA_OUTPUT.doc),
    "kubernetes": Field(KUBERNETES_OUTPUT, KUBERNETES_OUTPUT.doc),
    "alertmanager": Field(ALERTMANAGER_OUTPUT, ALERTMANAGER_OUTPUT.doc),
    "thanos": Field(THANOS_OUTPUT, THANOS_OUTPUT.doc),
    "mimir": Field(MIMIR_OUTPUT, MIMIR_OUTPUT.doc),
}, "Which outputs obsgen build writes, and the settings of each.")

CATALOG = Struct({
    "apiVersion": Field("str", f"Catalog format version; must be {API_VERSION}.", required=True),
    "name": Field("name", "Catalog name, shown in dashboards; defaults to the file name."),
    "cluster_label": Field("label_name", "Label that tells clusters apart in a shared Prometheus.", "cluster"),
    "scrape_selectors": Field(SCRAPE_SELECTORS, SCRAPE_SELECTORS.doc),
    "defaults": Field(SETTINGS, SETTINGS.doc),
    "teams": Field(ListOf(TEAM, unique_key="name"), "Teams and their receivers.", required=True),
    "services": Field(ListOf(SERVICE, unique_key="name"), "Services to watch.", []),
    "fleet": Field(FLEET, FLEET.doc),
    "output": Field(OUTPUT, OUTPUT.doc),
})
