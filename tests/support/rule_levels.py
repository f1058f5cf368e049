"""Pick recording rules out of a generated rule file, to backfill them one dependency level at a time."""

from __future__ import annotations

import yaml


def rules_named(recording_file: bytes, records: list[str], group_prefix: str = "") -> list[dict]:
    """Return the rules of the file whose record is in ``records``, from groups whose name starts with ``group_prefix``."""
    document = yaml.safe_load(recording_file)
    return [rule for group in document["groups"] if group["name"].startswith(group_prefix)
            for rule in group["rules"] if rule.get("record") in records]


def write_level(path: str, rules: list[dict], interval: str) -> str:
    """Write ``rules`` as a one-group rule file evaluated every ``interval``; return ``path``."""
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump({"groups": [{"name": "backfill", "interval": interval, "rules": rules}]}, handle,
                       sort_keys=False)
    return path
