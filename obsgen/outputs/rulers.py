"""Rule files for Thanos Ruler and for the Mimir and Cortex rulers.

Both read Prometheus rule groups. Thanos Ruler adds ``partial_response_strategy`` to each group.
Mimir and Cortex take groups per tenant and per namespace: ``mimirtool rules load`` (or
``cortextool``) reads a file with a ``namespace`` key beside ``groups``, and Mimir's federated rule
groups add ``source_tenants``. promtool rejects both extra keys, so these files are for those rulers only.
"""

from __future__ import annotations


from obsgen.catalog.model import Catalog
from obsgen.catalog.validation import output_of
from obsgen.outputs.common import FORMAT_FOLDERS, Generated, render_yaml

THANOS_FOLDER = FORMAT_FOLDERS["thanos"]
MIMIR_FILE = f"{FORMAT_FOLDERS['mimir']}/obsgen.rules.yaml"


def thanos_files(catalog: Catalog, generated: Generated) -> dict[str, bytes]:
    """Return the rule files with ``partial_response_strategy`` set on every group, same layout as alerts/."""
    strategy = output_of(catalog).thanos_partial_response_strategy
    output = {}
    for rule_file in generated.rule_files:
        groups = [_with_key_before_rules(group, "partial_response_strategy", strategy) for group in rule_file.groups]
        output[f"{THANOS_FOLDER}/{rule_file.name}"] = render_yaml({"groups": groups}, catalog)
    return output


def mimir_namespace(catalog: Catalog) -> str:
    """Return the Mimir rule namespace of the catalog's groups."""
    return output_of(catalog).mimir_namespace or f"obsgen-{catalog.name}"


def mimir_files(catalog: Catalog, generated: Generated) -> dict[str, bytes]:
    """Return one file with every group under one namespace, for ``mimirtool rules load``."""
    tenants = list(output_of(catalog).mimir_source_tenants)
    groups = []
    for rule_file in generated.rule_files:
        for group in rule_file.groups:
            groups.append(_with_key_before_rules(group, "source_tenants", tenants) if tenants else group)
    return {MIMIR_FILE: render_yaml({"namespace": mimir_namespace(catalog), "groups": groups}, catalog)}


def _with_key_before_rules(group: dict[str, object], key: str, value: object) -> dict[str, object]:
    # Keep ``rules`` last, so that the group's settings read before its long list of rules.
    result = {name: item for name, item in group.items() if name != "rules"}
    result[key] = value
    result["rules"] = group.get("rules", [])
    return result
