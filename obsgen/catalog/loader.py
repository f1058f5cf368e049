"""Read a catalog file into plain Python values and remember where each value was written.

YAML is composed into nodes first so that every key keeps its line and column; the validation
step uses them to point at the exact spot of a problem. Jsonnet catalogs are evaluated with the
jsonnet library and carry no positions (every problem points at line 1).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

import yaml

from obsgen.errors import CatalogError, Problem

#: A YAML or jsonnet catalog larger than this is rejected before parsing (bytes).
MAX_CATALOG_BYTES = 8 * 1024 * 1024
#: Upper bound on the values a catalog may expand to, so that nested YAML aliases
#: ("billion laughs") cannot exhaust memory.
MAX_NODES = 200_000
#: Deepest nesting of mappings and lists; a catalog needs about 6 levels, and a deeper document
#: would exhaust Python's recursion limit in the YAML composer.
MAX_DEPTH = 64
#: Wall-clock time (seconds) and address space (bytes) that a jsonnet catalog may use while it is
#: evaluated, so that a looping or exploding jsonnet program ends with an error. The environment
#: variable OBSGEN_JSONNET_TIMEOUT (seconds) replaces the time limit.
JSONNET_TIMEOUT_S = 20.0
JSONNET_TIMEOUT_ENV = "OBSGEN_JSONNET_TIMEOUT"
JSONNET_MAX_MEMORY_BYTES = 2 * 1024**3

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


_PLAIN_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def format_path(path: Path) -> str:
    """Render ``("services", 2, "memory")`` as ``services[2].memory``.

    A key that is not a plain word is quoted, as in ``labels["a b"]``, so that a key holding
    dots, brackets or a newline cannot disguise the path or break the message into lines.
    """
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not _PLAIN_KEY_RE.fullmatch(part):
            text += f"[{json.dumps(part)}]"
        else:
            text += f".{part}" if text else part
    return text


_COLLECTION_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


class _Converter:
    """Turn a composed YAML node tree into Python values, recording marks and limits."""

    def __init__(self, file: str):
        self.file = file
        self.marks: dict[Path, tuple[int, int]] = {}
        self.key_marks: dict[Path, tuple[int, int]] = {}
        self.count = 0
        self.open_nodes: set[int] = set()  # ids of the collections being converted, to catch alias cycles
        self.constructor = yaml.SafeLoader("")

    def fail(self, node: yaml.Node, path: Path, message: str, fix: str | None = None, got: str | None = None) -> None:
        mark = node.start_mark
        raise CatalogError([Problem(self.file, mark.line + 1, mark.column + 1, format_path(path), message, got, fix)])

    def convert(self, node: yaml.Node, path: Path) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            # Aliased nodes carry the position of their anchor; name the top-level key being expanded.
            line, column = self.key_marks.get(path[:1], (1, 1))
            raise CatalogError([Problem(self.file, line, column, format_path(path[:1]),
                                        f"the catalog expands to more than {MAX_NODES} values",
                                        fix="remove nested YAML aliases or split the catalog")])
        self.marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if not isinstance(node, yaml.ScalarNode) and node.tag not in _COLLECTION_TAGS:
            # PyYAML's safe constructors would build sets and ordered maps from these tags,
            # and other tags name types a catalog cannot hold.
            self.fail(node, path, "YAML tags are not supported", got=node.tag, fix="remove the tag")
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        if id(node) in self.open_nodes:
            self.fail(node, path, "a YAML alias refers to a collection that contains it",
                      fix="remove the recursive alias")
        self.open_nodes.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            return [self.convert(item, path + (index,)) for index, item in enumerate(node.value)]
        finally:
            self.open_nodes.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.fail(key_node, path, "YAML merge keys (<<) are not supported",
                          "write the keys out, or use a jsonnet catalog to compute them")
            if not isinstance(key_node, yaml.ScalarNode):
                self.fail(key_node, path, "mapping keys must be plain strings")
            key = str(key_node.value)
            if key in result:
                self.fail(key_node, path + (key,), f"duplicate key {key!r}", "remove one of the two entries")
            child = path + (key,)
            self.key_marks[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            result[key] = self.convert(value_node, child)
            if not isinstance(value_node, yaml.ScalarNode):
                # A whole mapping or list is reported at its key, where a reader looks for it.
                self.marks[child] = self.key_marks[child]
        return result

    def _scalar(self, node: yaml.ScalarNode, path: Path) -> Any:
        # Resolve the scalar with PyYAML's own safe constructors (int, float, bool, null, str).
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as error:
            reason = getattr(error, "problem", None) or str(error).splitlines()[0]
            self.fail(node, path, f"invalid value: {reason}", got=repr(node.value), fix="quote the value as a string")
        return None


def _check_depth(text: str) -> None:
    """Reject nesting deeper than MAX_DEPTH from the parser's events, before any recursive composing."""
    depth = 0
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels",
                                                  event.start_mark)
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def _reader_problem(error: yaml.reader.ReaderError, text: str, file: str) -> Problem:
    """Return the located problem for a character that the YAML reader rejects, such as a control character.

    The error's ``position`` counts characters in PyYAML's pure Python reader but UTF-8 bytes in
    libyaml's, so the character is looked up instead. The reader checks every character in
    order, so the first occurrence of the rejected one is where it stopped.
    """
    character = error.character if isinstance(error.character, int) else 0
    index = text.find(chr(character))
    line, column = (1, 1)
    if index >= 0:
        line = text.count("\n", 0, index) + 1
        column = index - (text.rfind("\n", 0, index) + 1) + 1
    return Problem(file, line, column, "", f"invalid YAML: {error.reason}", got=f"U+{character:04X}",
                   fix="remove the character, or write it as an escape such as \\x01 in a double-quoted string")


def load_yaml(text: str, file: str) -> Document:
    """Parse one YAML document, keeping positions; raise CatalogError on any syntax problem."""
    try:
        _check_depth(text)
        nodes = list(yaml.compose_all(text, Loader=_LOADER))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = f"invalid YAML: {error.problem or error.context}"
        raise CatalogError([Problem(file, line, column, "", message, fix="fix the YAML syntax")]) from None
    except yaml.reader.ReaderError as error:
        raise CatalogError([_reader_problem(error, text, file)]) from None
    except yaml.YAMLError as error:
        # Keep the message on one line: the CLI prints one line per problem.
        raise CatalogError([Problem(file, 1, 1, "", f"invalid YAML: {' '.join(str(error).split())}")]) from None
    # A document of only "---", "~" or "null" holds no catalog either.
    nodes = [node for node in nodes if node is not None and node.tag != "tag:yaml.org,2002:null"]
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


# Runs in a child process so that a looping program can be stopped; reads the request as JSON on stdin.
_JSONNET_CHILD = """
import json, sys, _jsonnet
request = json.load(sys.stdin)
try:
    output = _jsonnet.evaluate_file(request["path"], ext_vars=request["ext_vars"], max_stack=200, max_trace=5)
except RuntimeError as error:
    sys.stderr.write(str(error))
    sys.exit(3)
sys.stdout.write(output)
"""


def _limit_child_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (JSONNET_MAX_MEMORY_BYTES, JSONNET_MAX_MEMORY_BYTES))


def _jsonnet_error_position(message: str, path: str) -> tuple[int, int]:
    """Return the first (line, column) that a jsonnet error message gives for ``path``, else (1, 1)."""
    for name in (path, os.path.basename(path)):
        match = re.search(re.escape(name) + r":\(?(\d+):(\d+)", message)
        if match:
            return int(match.group(1)), int(match.group(2))
    return (1, 1)


def _jsonnet_timeout() -> float:
    try:
        value = float(os.environ.get(JSONNET_TIMEOUT_ENV, JSONNET_TIMEOUT_S))
    except ValueError:
        return JSONNET_TIMEOUT_S
    return value if value > 0 else JSONNET_TIMEOUT_S


def evaluate_jsonnet(path: str, ext_vars: dict[str, str] | None = None) -> str:
    """Evaluate a jsonnet file in a child process bounded in time, memory and output; return its JSON.

    Raise CatalogError, located where jsonnet's message allows, when evaluation fails or exceeds
    JSONNET_TIMEOUT_S, JSONNET_MAX_MEMORY_BYTES or an output of MAX_CATALOG_BYTES.
    """
    request = json.dumps({"path": path, "ext_vars": ext_vars or {}})
    timeout = _jsonnet_timeout()
    try:
        child = subprocess.run([sys.executable, "-I", "-c", _JSONNET_CHILD], input=request.encode(),
                               capture_output=True, timeout=timeout, preexec_fn=_limit_child_memory)
    except subprocess.TimeoutExpired:
        raise CatalogError([Problem(path, 1, 1, "", f"jsonnet evaluation timed out after {timeout:g} s",
                                    fix="look for unbounded recursion or very large ranges")]) from None
    if child.returncode != 0:
        message = child.stderr.decode("utf-8", "replace").strip()
        if child.returncode == 3:
            first = message.splitlines()[0] if message else "evaluation failed"
            line, column = _jsonnet_error_position(message, path)
            problem = f"jsonnet evaluation failed: {first}"
        else:
            line, column = 1, 1
            last = message.splitlines()[-1] if message else f"exit status {child.returncode}"
            problem = f"jsonnet evaluation failed (out of memory, over {JSONNET_MAX_MEMORY_BYTES} bytes?): {last}"
        fix = "run `jsonnet` on the file to see the full trace"
        missing = re.search(r"undefined external variable: (\S+)", message)
        if missing:
            fix = f"pass it with --ext-str {missing.group(1)}=VALUE"
        raise CatalogError([Problem(path, line, column, "", problem, fix=fix)])
    if len(child.stdout) > MAX_CATALOG_BYTES:
        raise CatalogError([Problem(path, 1, 1, "", f"the jsonnet catalog evaluates to {len(child.stdout)} bytes, "
                                    f"over the limit of {MAX_CATALOG_BYTES}", fix="generate less")])
    return child.stdout.decode("utf-8")


def _depth(value: Any) -> int:
    """Return the nesting depth of lists and mappings in ``value``, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def load_jsonnet(path: str, ext_vars: dict[str, str] | None = None) -> Document:
    """Evaluate a jsonnet catalog with the jsonnet library; values carry no line numbers."""
    output = evaluate_jsonnet(path, ext_vars)
    try:
        data = json.loads(output)
    except RecursionError:
        data = None
    if data is None or _depth(data) > MAX_DEPTH:
        raise CatalogError([Problem(path, 1, 1, "", f"the jsonnet catalog is nested deeper than {MAX_DEPTH} levels",
                                    fix="flatten the catalog")])
    return Document(path, data)


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
