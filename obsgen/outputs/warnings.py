"""Settings that build valid output which still does not work as users expect; the CLI prints them."""

from __future__ import annotations

import difflib

from obsgen.catalog.model import Catalog
from obsgen.catalog.validation import output_of
from obsgen.outputs import alertmanager, grafana


def output_warnings(catalog: Catalog, formats: tuple[str, ...]) -> list[str]:
    """Return one sentence per problem of the chosen formats, in a fixed order."""
    output = output_of(catalog)
    found = shared_selector_warnings(catalog)
    if "kubernetes" in formats and not output.kubernetes.rule_labels:
        found.append("output.kubernetes.rule_labels is empty: prometheus-operator loads a PrometheusRule only "
                     "when its labels match the Prometheus ruleSelector (kube-prometheus-stack: "
                     "release: <helm release>), so these rules may be ignored without any error")
    if "alertmanager" in formats:
        listed = sorted(receiver.name for receiver in output.alertmanager.receivers)
        for name in alertmanager.unconfigured_receivers(catalog):
            guess = difflib.get_close_matches(name, listed, n=1)
            hint = f" (did you mean {guess[0]}?)" if guess else ""
            found.append(f"receiver {name} is not listed under output.alertmanager.receivers{hint}: the generated "
                         f"Alertmanager configuration sends its alerts nowhere")
        if not output.alertmanager.default_receiver:
            found.append("alerts of no known team go to the receiver obsgen-unrouted, which notifies nobody; "
                         "set fleet.team or output.alertmanager.default_receiver")
    if "grafana" in formats or "kubernetes" in formats:
        for uid in grafana.datasource_uids(catalog)[1:]:
            found.append(f"dashboards reference the datasource uid {uid}, which the Grafana provisioning "
                         f"does not create (it creates {catalog.defaults.datasource})")
    return found


def shared_selector_warnings(catalog: Catalog) -> list[str]:
    """Return a sentence for each group of services whose selectors are the same.

    Such services claim the same containers, so every alert about those containers fires once
    per service and pages each service's team.
    """
    by_selector: dict[object, list[str]] = {}
    for service in catalog.services:
        by_selector.setdefault(service.selector, []).append(service.name)
    return [f"services {', '.join(names)} have the same selector, so each alert about their containers fires "
            f"once per service and pages every one of their teams"
            for names in by_selector.values() if len(names) > 1]
