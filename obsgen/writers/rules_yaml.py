"""Render rule files as YAML that Prometheus, promtool and GitOps diffs all read well.

The emitter is obsgen's own and handles only what generated files contain (mappings, lists,
strings, numbers, booleans): PyYAML's pure-Python emitter took about 50 ms per rule file, and its
C emitter is not installed everywhere, which would make output depend on the machine.
"""

from __future__ import annotations

import json
import re

from obsgen.writers.header import header

# Plain scalars: safe characters only, not starting with an indicator, and not readable as
# another type (numbers, booleans, null, dates).
_PLAIN = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./:=$@+-]*(?: [A-Za-z0-9_./:=$@+()-]+)*$")
_NOT_PLAIN = re.compile(r"^(?:true|false|yes|no|on|off|null|y|n|~)$", re.IGNORECASE)


def _scalar(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        # YAML 1.1 readers take a float only with a dot and a signed exponent: 1e+20 -> 1.0e+20.
        if "e" in text and "." not in text:
            text = text.replace("e", ".0e")
        return text
    text = str(value)
    if (_PLAIN.match(text) and not _NOT_PLAIN.match(text) and ": " not in text and " #" not in text
            and not text.endswith(":")):
        return text
    # A JSON string is a valid YAML double-quoted scalar; non-ASCII characters are escaped the
    # YAML way, because YAML readers do not pair JSON's surrogate escapes.
    return _NON_ASCII.sub(_escape, json.dumps(text, ensure_ascii=False))


_NON_ASCII = re.compile(r"[^\x00-\x7e]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\U{code:08x}" if code > 0xFFFF else f"\\u{code:04x}"


#: A character that a literal block cannot hold as it is: anything but newline and printable ASCII.
_NOT_BLOCK = re.compile(r"[^\n -~]")


def _fits_block(text: str) -> bool:
    """Tell whether a literal block keeps ``text`` exactly: several printable lines, one final newline at most."""
    return ("\n" in text and not text.isspace() and not text.startswith("\n") and not text.endswith("\n\n")
            and _NOT_BLOCK.search(text) is None)


def _block(text: str, indent: str) -> str:
    """Return a literal block scalar; ``|-`` drops the final newline, ``|`` keeps one."""
    indicator = "|" if text.endswith("\n") else "|-"
    if text[:1] == " ":
        indicator = indicator[0] + "2" + indicator[1:]
    body = text[:-1] if text.endswith("\n") else text
    if "\n\n" in body:
        # Empty lines stay empty: YAML does not need their indentation.
        body = "\n".join(f"{indent}{line}" if line else "" for line in body.split("\n"))
    else:
        body = indent + body.replace("\n", "\n" + indent)
    return f"{indicator}\n{body}"


def _emit(value: object, indent: str, out: list[str]) -> None:
    """Append the lines of ``value`` (a mapping or list) at ``indent``."""
    if isinstance(value, dict):
        if not value:
            out.append(f"{indent}{{}}")
        for key, item in value.items():
            _emit_entry(f"{indent}{_scalar(key)}:", item, indent + "  ", out)
    elif isinstance(value, list):
        if not value:
            out.append(f"{indent}[]")
        for item in value:
            if isinstance(item, dict) and item:
                first = True
                for key, child in item.items():
                    prefix = f"{indent}- " if first else f"{indent}  "
                    _emit_entry(f"{prefix}{_scalar(key)}:", child, indent + "    ", out)
                    first = False
            elif isinstance(item, list) and item:
                out.append(f"{indent}-")
                _emit(item, indent + "  ", out)
            else:
                _emit_entry(f"{indent}-", item, indent + "  ", out)
    else:
        out.append(f"{indent}{_scalar(value)}")


def _emit_entry(lead: str, value: object, indent: str, out: list[str]) -> None:
    if isinstance(value, dict) and value:
        out.append(lead)
        _emit(value, indent, out)
    elif isinstance(value, list) and value:
        out.append(lead)
        # Lists under a mapping key sit at the key's own indentation, as kubectl and promtool write them.
        _emit(value, indent[:-2], out)
    elif isinstance(value, dict):
        out.append(f"{lead} {{}}")
    elif isinstance(value, list):
        out.append(f"{lead} []")
    elif isinstance(value, str) and _fits_block(value):
        out.append(f"{lead} {_block(value, indent)}")
    else:
        out.append(f"{lead} {_scalar(value)}")


def dump_yaml(data: object) -> str:
    """Return ``data`` as block-style YAML, keys in insertion order, multi-line strings as literal blocks."""
    out: list[str] = []
    _emit(data, "", out)
    return "\n".join(out) + "\n"


def render_rule_file(groups: list[dict[str, object]], catalog_name: str) -> bytes:
    """Return the bytes of a Prometheus rule file with the obsgen header."""
    return (header("#", catalog_name) + dump_yaml({"groups": groups})).encode("utf-8")
