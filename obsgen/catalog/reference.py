"""Render the catalog spec as a Markdown reference (``docs/catalog.md``), so the docs cannot drift."""

from __future__ import annotations

from obsgen.catalog import spec

KIND_NAMES = {
    "str": "string", "name": "name (DNS label)", "label_name": "label name", "regex": "regex (RE2, anchored)",
    "duration": "duration (15m, 6h, 7d)", "size": "size (64Mi, 1Gi, bytes)", "fraction": "fraction (0 to 1]",
    "number": "number", "bool": "true or false", "enum": "one of", "sources": "list of sources",
    "labels": "mapping of label to value", "url_pattern": "URL pattern", "matchers": "PromQL label matchers",
    "url": "http(s) URL", "absolute_path": "absolute file path", "absolute_paths": "list of absolute file paths",
    "label_names": "list of label names", "strings": "list of strings", "formats": "list of formats",
    "kubernetes_label_name": "Kubernetes label or annotation name",
    "kubernetes_labels": "mapping of Kubernetes label to value",
}


def _kind(field: spec.Field) -> str:
    if isinstance(field.kind, spec.Struct):
        return "mapping"
    if isinstance(field.kind, spec.ListOf):
        return "list of mappings"
    text = KIND_NAMES[field.kind]
    if field.choices:
        text += ": " + ", ".join(field.choices)
    return text


def _default(field: spec.Field) -> str:
    if field.required:
        return "required"
    if field.default is None or isinstance(field.kind, (spec.Struct, spec.ListOf)):
        return ""
    return f"`{field.default}`"


def _table(struct: spec.Struct, prefix: str, sections: list[str], first_path: dict[int, str]) -> None:
    """Append the table of ``struct`` and then of each nested mapping; a mapping shown once is referenced."""
    rows = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    nested = []
    for key, field in struct.fields.items():
        rows.append(f"| `{key}` | {_kind(field)} | {_default(field)} | {field.doc} |")
        inner = field.kind.item if isinstance(field.kind, spec.ListOf) else field.kind
        if isinstance(inner, spec.Struct):
            nested.append((f"{prefix}{key}" + ("[]" if isinstance(field.kind, spec.ListOf) else ""), inner))
    sections.append(f"## `{prefix.rstrip('.') or 'catalog'}`\n\n" + "\n".join(rows) + "\n")
    for path, inner in nested:
        if id(inner) in first_path:
            sections.append(f"## `{path}`\n\nSame keys as `{first_path[id(inner)]}`.\n")
            continue
        first_path[id(inner)] = path
        _table(inner, path + ".", sections, first_path)


def render() -> str:
    """Return the Markdown reference of the catalog format."""
    sections = [f"# Catalog reference ({spec.API_VERSION})\n\n"
                "Generated from `obsgen/catalog/spec.py` by `python3 -m obsgen.catalog.reference`; "
                "do not edit.\nA service's `overrides` and the fleet's `overrides` take any key of "
                "`defaults` and replace only the keys they set.\n"]
    _table(spec.CATALOG, "", sections, {})
    return "\n".join(sections)


if __name__ == "__main__":
    print(render(), end="")
