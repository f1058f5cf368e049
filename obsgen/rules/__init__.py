"""Prometheus rule groups built from the catalog model, as plain data (no YAML here)."""

from __future__ import annotations

from obsgen.rules.build import RuleFile, build_rule_files

__all__ = ["RuleFile", "build_rule_files"]
