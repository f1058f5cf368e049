"""Render rule files as YAML that Prometheus, promtool and GitOps diffs all read well."""

from __future__ import annotations

import yaml

from obsgen.writers.header import header


class _Dumper(yaml.SafeDumper):
    """A YAML dumper that writes multi-line strings (PromQL) as literal blocks."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_yaml(data: object) -> str:
    """Return ``data`` as block-style YAML, keys in insertion order, no line folding."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1_000_000,
                     allow_unicode=False)


def render_rule_file(groups: list[dict[str, object]], catalog_name: str) -> bytes:
    """Return the bytes of a Prometheus rule file with the obsgen header."""
    return (header("#", catalog_name) + dump_yaml({"groups": groups})).encode("utf-8")
