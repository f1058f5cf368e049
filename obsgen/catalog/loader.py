"""Read a catalog file into plain Python values and remember where each value was written.

YAML is composed into nodes first, so every key and value keeps its line and column. The
validation step uses them to point at the exact spot of a problem. Jsonnet catalogs are evaluated with the
jsonnet library and carry no positions (every problem points at line 1).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from obsgen.errors import CatalogError, Problem

#: A YAML or jsonnet catalog larger than this is rejected before parsing (bytes).
MAX_CATALOG_BYTES = 8 * 1024 * 1024
#: Upper bound on the values a catalog may expand to, so that nested YAML aliases
#: ("billion laughs") cannot exhaust memory.
MAX_NODES = 200_000

Path = tuple[str | int, ...]
#: libyaml's parser when PyYAML was built with it (about ten times faster); both give the same nodes.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class Document:
    """A parsed catalog: its values and the position of every mapping key and value."""

    file: str
    data: Any
    marks: dict[Path, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def position(self, path: Path, at_key: bool = False) -> tuple[int, int]:
        """Return the (line, column) of the value at ``path`` (or of its key), else of its nearest ancestor."""
        if at_key and path in self.key_marks:
            return self.key_marks[path]
        while True:
            if path in self.marks:
                return self.marks[path]
            if not path:
                return (1, 1)
            path = path[:-1]


def format_path(path: Path) -> str:
    """Render ``("services", 2, "memory")`` as ``services[2].memory``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


class _Converter:
    """Turn a composed YAML node tree into Python values, recording marks and limits."""

    def __init__(self, file: str):
        self.file = file
        self.marks: dict[Path, tuple[int, int]] = {}
        self.key_marks: dict[Path, tuple[int, int]] = {}
        self.count = 0
        self.constructor = yaml.SafeLoader("")

    def fail(self, node: yaml.Node, message: str, fix: str | None = None, got: str | None = None) -> None:
        mark = node.start_mark
        raise CatalogError([Problem(self.file, mark.line + 1, mark.column + 1, "", message, got, fix)])

    def convert(self, node: yaml.Node, path: Path) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            self.fail(node, f"catalog expands to more than {MAX_NODES} values",
                      "remove nested YAML aliases or split the catalog")
        self.marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, path + (index,)) for index, item in enumerate(node.value)]
        return self._scalar(node)

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.fail(key_node, "YAML merge keys (<<) are not supported",
                          "write the keys out, or use a jsonnet catalog to compute them")
            if not isinstance(key_node, yaml.ScalarNode):
                self.fail(key_node, "mapping keys must be plain strings")
            key = str(key_node.value)
            if key in result:
                self.fail(key_node, f"duplicate key {key!r}", "remove one of the two entries", got=repr(key))
            child = path + (key,)
            self.key_marks[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            result[key] = self.convert(value_node, child)
        return result

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        # Resolve the scalar with PyYAML's own safe constructors (int, float, bool, null, str).
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as error:
            self.fail(node, f"invalid value: {error}", got=repr(node.value))
        return None


def load_yaml(text: str, file: str) -> Document:
    """Parse one YAML document, keeping positions; raise CatalogError on any syntax problem."""
    try:
        nodes = list(yaml.compose_all(text, Loader=_LOADER))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = f"invalid YAML: {error.problem or error.context}"
        raise CatalogError([Problem(file, line, column, "", message, fix="fix the YAML syntax")]) from None
    except yaml.YAMLError as error:
        raise CatalogError([Problem(file, 1, 1, "", f"invalid YAML: {error}")]) from None
    nodes = [node for node in nodes if node is not None]
    if not nodes:
        raise CatalogError([Problem(file, 1, 1, "", "the catalog is empty",
                                    fix="start from examples/online-boutique/obsgen.yaml")])
    if len(nodes) > 1:
        mark = nodes[1].start_mark
        raise CatalogError([Problem(file, mark.line + 1, mark.column + 1, "",
                                    "the catalog holds more than one YAML document",
                                    fix="keep one catalog per file")])
    converter = _Converter(file)
    data = converter.convert(nodes[0], ())
    return Document(file, data, converter.marks, converter.key_marks)


def load_jsonnet(path: str, ext_vars: dict[str, str] | None = None) -> Document:
    """Evaluate a jsonnet catalog with the jsonnet library; values carry no line numbers."""
    import _jsonnet  # the jsonnet package's module; imported here so YAML users never load it

    try:
        output = _jsonnet.evaluate_file(path, ext_vars=ext_vars or {}, max_stack=200, max_trace=5)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else "evaluation failed"
        fix = "run `jsonnet` on the file to see the full trace"
        missing = re.search(r"undefined external variable: (\S+)", first)
        if missing:
            fix = f"pass it with --ext-str {missing.group(1)}=VALUE"
        raise CatalogError([Problem(path, 1, 1, "", f"jsonnet evaluation failed: {first}", fix=fix)]) from None
    return Document(path, json.loads(output))


def read_catalog(path: str, ext_vars: dict[str, str] | None = None) -> Document:
    """Read a catalog from ``path``: jsonnet when it ends in .jsonnet or .libsonnet, else YAML."""
    try:
        size = os.path.getsize(path)
        if size > MAX_CATALOG_BYTES:
            raise CatalogError([Problem(path, 1, 1, "", f"the catalog is {size} bytes, over the limit of "
                                        f"{MAX_CATALOG_BYTES}", fix="split it or remove generated bulk")])
        if path.endswith((".jsonnet", ".libsonnet")):
            return load_jsonnet(path, ext_vars)
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as error:
        raise CatalogError([Problem(path, 0, 0, "", f"cannot read the catalog: {error.strerror}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        raise CatalogError([Problem(path, line, column, "", "the catalog is not valid UTF-8",
                                    got=repr(raw[error.start:error.start + 4]),
                                    fix="save the file as UTF-8")]) from None
    return load_yaml(text, path)
