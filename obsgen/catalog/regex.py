"""Check that a regular expression means the same to Prometheus (RE2 syntax, Go) as it can be checked here.

Python's ``re`` compiles most RE2 patterns, but it also accepts constructs that RE2 rejects
(backreferences, lookaround, atomic groups, possessive quantifiers, conditionals, comments, some
escapes and inline flags), and Prometheus would then fail to load the rules. The check parses
the pattern with Python's own parser to find those constructs, and scans the text for the
escapes and flags that the parser does not keep.

NOTE: RE2 accepts some syntax that Python rejects, such as ``\\pL``, ``\\z``, ``\\Q...\\E`` and
``(?U)``, so such patterns are rejected here although Prometheus would take them.
"""

from __future__ import annotations

import re

try:  # Python 3.11 renamed the module; both expose the same parser.
    import re._parser as _sre_parse  # type: ignore[import-not-found]
    import re._constants as _sre_constants  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants as _sre_constants  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

_UNSUPPORTED_NODES = {
    "GROUPREF": "backreferences",
    "GROUPREF_EXISTS": "conditional groups",
    "ASSERT": "lookahead or lookbehind",
    "ASSERT_NOT": "lookahead or lookbehind",
    "ATOMIC_GROUP": "atomic groups",
    "POSSESSIVE_REPEAT": "possessive quantifiers",
}
#: Escapes that Python accepts and Go's regexp/syntax rejects.
_UNSUPPORTED_ESCAPES = {"Z": r"\Z anchor (use $ or \z)", "u": r"\u escapes (use \x{...})",
                        "U": r"\U escapes (use \x{...})", "N": r"\N{...} escapes"}
#: Inline flags of Python that RE2 lacks (RE2 has i, m, s and U).
_UNSUPPORTED_FLAGS = {"x": "(?x) verbose mode", "a": "(?a) ASCII mode", "L": "(?L) locale mode",
                      "u": "(?u) Unicode flag"}
#: RE2's limit on a counted repetition such as a{1000}.
MAX_REPEAT = 1000


def _operations(parsed: object) -> list[tuple[str, object]]:
    """Return every (operation name, argument) of a parsed pattern, at any depth."""
    found: list[tuple[str, object]] = []
    stack = [parsed]
    while stack:
        item = stack.pop()
        if hasattr(item, "data"):  # a SubPattern: a list of (operation, argument) pairs
            for operation, argument in item.data:  # type: ignore[attr-defined]
                found.append((str(operation), argument))
                stack.append(argument)
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return found


def _scan_text(pattern: str) -> str | None:
    """Find escapes, comments and inline flags that the parser does not report."""
    index = 0
    in_class = False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            escaped = pattern[index + 1]
            if escaped in _UNSUPPORTED_ESCAPES:
                return _UNSUPPORTED_ESCAPES[escaped]
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if pattern[index + 1:index + 2] == "]" or pattern[index + 1:index + 3] == "^]":
                index += 2 if pattern[index + 1] == "]" else 3  # a leading ] is a literal in the class
                continue
        elif re.match(r"\{,\d+\}", pattern[index:]):
            return "{,n} repetition (write {0,n})"
        elif pattern.startswith("(?#", index):
            return "(?#...) comments"
        elif pattern.startswith("(?", index):
            flags = re.match(r"\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?[:)]", pattern[index:])
            if flags:
                for flag in (flags.group(1) or "") + (flags.group(2) or ""):
                    if flag in _UNSUPPORTED_FLAGS:
                        return _UNSUPPORTED_FLAGS[flag]
        index += 1
    return None


def re2_problem(pattern: str) -> str | None:
    """Return why Prometheus would reject ``pattern`` or read it differently, or None if it would not.

    The reason is a short sentence such as ``invalid regular expression: ...`` or
    ``Prometheus regular expressions (RE2) have no backreferences``.
    """
    try:
        re.compile(pattern)
        parsed = _sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError) as error:
        return f"invalid regular expression: {error}"
    for operation, argument in _operations(parsed):
        if operation in _UNSUPPORTED_NODES:
            return f"Prometheus regular expressions (RE2) have no {_UNSUPPORTED_NODES[operation]}"
        if operation in ("MAX_REPEAT", "MIN_REPEAT"):
            low, high = argument[0], argument[1]  # type: ignore[index]
            if max(low, high if high != _sre_constants.MAXREPEAT else 0) > MAX_REPEAT:
                return f"Prometheus regular expressions (RE2) allow at most {MAX_REPEAT} repetitions"
    unsupported = _scan_text(pattern)
    if unsupported:
        return f"Prometheus regular expressions (RE2) have no {unsupported}"
    return None
