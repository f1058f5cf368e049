"""Settings that build valid output which still does not work as users expect; the CLI prints them."""

from __future__ import annotations

from obsgen.catalog.model import Catalog
from obsgen.catalog.validation import output_of
from obsgen.outputs import alertmanager, grafana


def output_warnings(catalog: Catalog, formats: tuple[str, ...]) -> list[str]:
    """Return one sentence per problem of the chosen formats, in a fixed order."""
    output = output_of(catalog)
    found = []
    if "kubernetes" in formats and not output.kubernetes.rule_labels:
        found.append("output.kubernetes.rule_labels is empty: prometheus-operator loads a PrometheusRule only "
                     "when its labels match the Prometheus ruleSelector (kube-prometheus-stack: "
                     "release: <helm release>), so these rules may be ignored without any error")
    if "alertmanager" in formats:
        for name in alertmanager.unconfigured_receivers(catalog):
            found.append(f"receiver {name} is not listed under output.alertmanager.receivers: the generated "
                         f"Alertmanager configuration sends its alerts nowhere")
        if not output.alertmanager.default_receiver:
            found.append("alerts of no known team go to the receiver obsgen-unrouted, which notifies nobody; "
                         "set fleet.team or output.alertmanager.default_receiver")
    if "grafana" in formats or "kubernetes" in formats:
        for uid in grafana.datasource_uids(catalog)[1:]:
            found.append(f"dashboards reference the datasource uid {uid}, which the Grafana provisioning "
                         f"does not create (it creates {catalog.defaults.datasource})")
    return found
