"""Assemble the rule files of a catalog: one for the contract, one per service, one for the fleet."""

from __future__ import annotations

from dataclasses import dataclass

from obsgen import conventions as names
from obsgen import promql
from obsgen.catalog.model import Catalog, FLEET_SERVICE, Settings
from obsgen.rules.alerts import Owner, alert_rules
from obsgen.rules.recording import derived_rules, membership_rules
from obsgen.rules.rightsizing import rightsizing_alerts, rollup_rules, statistics_rules
from obsgen.sources import RULES_BY_SOURCE

RECORDING_FILE = "alerts/obsgen-recording.rules.yaml"
FLEET_FILE = "alerts/obsgen-fleet.rules.yaml"


@dataclass(frozen=True)
class RuleFile:
    """One Prometheus rule file: its path under the output folder and its groups."""

    path: str
    groups: list[dict[str, object]]

    def alert_count(self) -> int:
        return sum(1 for group in self.groups for rule in group["rules"] if "alert" in rule)  # type: ignore[union-attr]


def service_file(service: str) -> str:
    return f"alerts/services/{service}.rules.yaml"


def settings_in_use(catalog: Catalog) -> list[Settings]:
    """Return the settings of every service and of the fleet entry when it is enabled."""
    used = [service.settings for service in catalog.services]
    if catalog.fleet.enabled:
        used.append(catalog.fleet.settings)
    return used or [catalog.defaults]


def _group(name: str, interval_s: int, rules: list[dict[str, object]]) -> dict[str, object]:
    return {"name": name, "interval": promql.duration(interval_s), "rules": rules}


def recording_file(catalog: Catalog) -> RuleFile:
    """Return the contract: source normalisation, derived series and membership."""
    used = settings_in_use(catalog)
    interval = min(s.evaluation_interval_s for s in used)
    oom_windows = tuple(sorted({s.oom.window_s for s in used}))
    groups = [
        _group(names.source_group(source), interval, RULES_BY_SOURCE[source](catalog, oom_windows))
        for source in catalog.sources()
    ]
    groups.append(_group(f"{names.GROUP_PREFIX}-derived", interval, derived_rules(catalog, used)))
    groups.append(_group(f"{names.GROUP_PREFIX}-membership", interval, membership_rules(catalog, oom_windows)))
    groups.append(_group(f"{names.GROUP_PREFIX}-rightsizing-rollup", names.ROLLUP_WINDOW_S, rollup_rules()))
    groups.append(_group(f"{names.GROUP_PREFIX}-rightsizing", interval, statistics_rules()))
    return RuleFile(RECORDING_FILE, groups)


def build_rule_files(catalog: Catalog) -> list[RuleFile]:
    """Return every rule file of ``catalog``, sorted by path."""
    files = [recording_file(catalog)]
    for service in catalog.services:
        owner = Owner(service.name, service.team, service.settings, catalog.cluster_label)
        group = _group(names.service_group(service.name), service.settings.evaluation_interval_s,
                       alert_rules(owner) + rightsizing_alerts(owner))
        files.append(RuleFile(service_file(service.name), [group]))
    if catalog.fleet.enabled:
        fleet = catalog.fleet
        owner = Owner(FLEET_SERVICE, fleet.team, fleet.settings, catalog.cluster_label)
        group = _group(f"{names.GROUP_PREFIX}-fleet", fleet.settings.evaluation_interval_s,
                       alert_rules(owner) + rightsizing_alerts(owner))
        files.append(RuleFile(FLEET_FILE, [group]))
    return sorted(files, key=lambda rule_file: rule_file.path)
