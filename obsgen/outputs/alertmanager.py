"""The Alertmanager configuration: one route per team to the team's receiver, and an inhibition.

The catalog accepts secrets only as file paths (``*_file`` fields and ``credentials_file``), which
Alertmanager reads itself, so no secret value reaches the output. The one exception is a webhook
``url``, written as given, which must therefore carry no token. A receiver that the catalog does
not configure is written with no integration; users who template their Alertmanager
configuration fill it in there.
"""

from __future__ import annotations


from obsgen import promql
from obsgen.catalog.model import AlertmanagerOutput, Catalog, Receiver
from obsgen.catalog.validation import output_of
from obsgen.conventions import TEAM_LABEL, container_labels
from obsgen.outputs.common import FORMAT_FOLDERS, Generated, render_yaml
from obsgen.rules.alerts import NEAR_LIMIT

CONFIG_FILE = f"{FORMAT_FOLDERS['alertmanager']}/alertmanager.yml"


def _matcher(label: str, value: str) -> str:
    return f"{label}={promql.quote(value)}"


def _critical_route(settings: AlertmanagerOutput) -> dict[str, object]:
    """Return a child route that repeats critical alerts sooner, to its parent's receiver."""
    return {"matchers": [_matcher("severity", "critical")],
            "repeat_interval": promql.duration(settings.critical_repeat_interval_s)}


def route(catalog: Catalog) -> dict[str, object]:
    """Return the route tree: the root groups and times, then one child route per team."""
    settings = output_of(catalog).alertmanager
    team_routes = [
        {"receiver": team.receiver, "matchers": [_matcher(TEAM_LABEL, team.name)], "routes": [_critical_route(settings)]}
        for team in catalog.teams
    ]
    return {
        "receiver": default_receiver(catalog),
        "group_by": list(settings.group_by),
        "group_wait": promql.duration(settings.group_wait_s),
        "group_interval": promql.duration(settings.group_interval_s),
        "repeat_interval": promql.duration(settings.repeat_interval_s),
        # The last child catches critical alerts of no known team, for the root receiver.
        "routes": team_routes + [_critical_route(settings)],
    }


def default_receiver(catalog: Catalog) -> str:
    """Return the root route's receiver: the configured one, the fleet team's, or a silent one."""
    return output_of(catalog).alertmanager.default_receiver or "obsgen-unrouted"


def inhibit_rules(catalog: Catalog) -> list[dict[str, object]]:
    """Silence the near-limit warning of a container while its critical near-limit alert fires."""
    return [{
        "source_matchers": [_matcher("alertname", NEAR_LIMIT), _matcher("severity", "critical")],
        "target_matchers": [_matcher("alertname", NEAR_LIMIT), _matcher("severity", "warning")],
        "equal": list(container_labels(catalog.cluster_label)),
    }]


def _slack(fields: dict[str, object]) -> dict[str, object]:
    config = {"api_url_file": fields["api_url_file"], "send_resolved": fields["send_resolved"]}
    if "channel" in fields:
        config["channel"] = fields["channel"]
    return config


def _pagerduty(fields: dict[str, object]) -> dict[str, object]:
    return {"routing_key_file": fields["routing_key_file"], "send_resolved": fields["send_resolved"]}


def _webhook(fields: dict[str, object]) -> dict[str, object]:
    config: dict[str, object] = {"url": fields["url"], "send_resolved": fields["send_resolved"]}
    if "bearer_token_file" in fields:
        config["http_config"] = {"authorization": {"type": "Bearer",
                                                   "credentials_file": fields["bearer_token_file"]}}
    return config


def _email(fields: dict[str, object]) -> dict[str, object]:
    config = {key: fields[key] for key in ("to", "from", "smarthost", "auth_username", "auth_password_file")
              if key in fields}
    config["send_resolved"] = fields["send_resolved"]
    return config


_INTEGRATIONS = {"slack": ("slack_configs", _slack), "pagerduty": ("pagerduty_configs", _pagerduty),
                 "webhook": ("webhook_configs", _webhook), "email": ("email_configs", _email)}


def receiver(name: str, configured: Receiver | None) -> dict[str, object]:
    """Return one receiver in Alertmanager's format; without a configuration it notifies nobody."""
    document: dict[str, object] = {"name": name}
    for kind, fields in configured.integrations if configured else ():
        key, render = _INTEGRATIONS[kind]
        document[key] = [render(dict(fields))]
    return document


def receiver_names(catalog: Catalog) -> list[str]:
    """Return every receiver the configuration needs, sorted."""
    settings = output_of(catalog).alertmanager
    names = {team.receiver for team in catalog.teams} | {r.name for r in settings.receivers}
    names.add(default_receiver(catalog))
    return sorted(names)


def unconfigured_receivers(catalog: Catalog) -> list[str]:
    """Return the teams' receivers that ``output.alertmanager.receivers`` does not list."""
    listed = {r.name for r in output_of(catalog).alertmanager.receivers}
    return sorted({team.receiver for team in catalog.teams} - listed)


def config(catalog: Catalog) -> dict[str, object]:
    """Return the whole Alertmanager configuration."""
    settings = output_of(catalog).alertmanager
    configured = {r.name: r for r in settings.receivers}
    document: dict[str, object] = {
        "route": route(catalog),
        "inhibit_rules": inhibit_rules(catalog),
        "receivers": [receiver(name, configured.get(name)) for name in receiver_names(catalog)],
    }
    if settings.templates:
        document["templates"] = list(settings.templates)
    return document


def files(catalog: Catalog, generated: Generated) -> dict[str, bytes]:
    """Return ``alertmanager/alertmanager.yml``."""
    return {CONFIG_FILE: render_yaml(config(catalog), catalog)}
