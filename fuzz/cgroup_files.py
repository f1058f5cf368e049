"""Fuzz the parser of one cgroup v2 memory file with the contract the collector relies on.

Usage: ``python3 -m fuzz.cgroup_files FILE CORPUS_DIR [libFuzzer flags]``, FILE being one of
the names in FILES, or ``--list`` to print them.

The collector reads each file as ASCII, hands the text to the file's parser, and catches and
counts only CgroupFileError. So for any input the parser must either return a value of its
documented type and range, or raise CgroupFileError with reason "parse" naming the file. Inputs
are tried as Latin-1 (one character per byte, a superset of the ASCII the collector passes) and,
when they differ, as UTF-8. A value that is returned must also survive a round trip through the
file's canonical format, and memory.stat's fast path must agree with its line-by-line parser.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fuzz import harness
from fuzz.harness import require

with harness.instrumented_imports("obsgen"):
    from obsgen.exporter import cgroupfs
    from obsgen.exporter import metrics as m
    from obsgen.exporter.cgroupfs import CgroupFileError, PressureTotals

KIND_U64 = "u64"
KIND_LIMIT = "limit"
KIND_FLAT_KEYED = "flat_keyed"
KIND_PRESSURE = "pressure"


@dataclass(frozen=True)
class FileParser:
    """The parser the collector applies to one file, and the kind of value it returns."""

    parse: Callable[[str, str], Any]
    kind: str


def collector_parsers() -> dict[str, FileParser]:
    """Return the parser of every file that obsgen.exporter.collector reads, by file name."""
    files = {
        "memory.current": FileParser(cgroupfs.parse_u64, KIND_U64),
        "memory.peak": FileParser(cgroupfs.parse_u64, KIND_U64),
        "memory.swap.current": FileParser(cgroupfs.parse_u64, KIND_U64),
        "memory.stat": FileParser(cgroupfs.parse_flat_keyed, KIND_FLAT_KEYED),
        "memory.events": FileParser(cgroupfs.parse_flat_keyed, KIND_FLAT_KEYED),
        "memory.events.local": FileParser(cgroupfs.parse_flat_keyed, KIND_FLAT_KEYED),
        "memory.swap.events": FileParser(cgroupfs.parse_flat_keyed, KIND_FLAT_KEYED),
        "memory.pressure": FileParser(cgroupfs.parse_pressure, KIND_PRESSURE),
    }
    for file, _metric, _help in m.LIMIT_FILES:
        files[file] = FileParser(cgroupfs.parse_limit, KIND_LIMIT)
    return files


FILES = collector_parsers()


def _is_u64(value: object) -> bool:
    return type(value) is int and 0 <= value <= cgroupfs.U64_MAX


def _canonical(kind: str, value: Any) -> str:
    """Render a parsed value in the format the kernel writes it."""
    if kind == KIND_LIMIT and value is None:
        return "max\n"
    if kind in (KIND_U64, KIND_LIMIT):
        return f"{value}\n"
    if kind == KIND_FLAT_KEYED:
        return "".join(f"{key} {number}\n" for key, number in value.items())
    text = f"some avg10=0.00 avg60=0.00 avg300=0.00 total={value.some}\n"
    if value.full is not None:
        text += f"full avg10=0.00 avg60=0.00 avg300=0.00 total={value.full}\n"
    return text


def check_value(name: str, parser: FileParser, text: str, value: Any) -> None:
    """Check a value that ``parser`` returned for ``text``: its type, range and round trip."""
    if parser.kind == KIND_U64:
        require(_is_u64(value), f"{name}: {value!r} is not an unsigned 64-bit integer")
    elif parser.kind == KIND_LIMIT:
        require(value is None or _is_u64(value), f"{name}: {value!r} is neither None nor an unsigned 64-bit integer")
    elif parser.kind == KIND_FLAT_KEYED:
        require(isinstance(value, dict) and bool(value), f"{name}: {value!r} is not a non-empty dict")
        for key, number in value.items():
            require(isinstance(key, str) and cgroupfs._KEY.fullmatch(key) is not None, f"{name}: invalid key {key!r}")
            require(_is_u64(number), f"{name}: {key} = {number!r} is not an unsigned 64-bit integer")
        by_line = cgroupfs._parse_flat_keyed_lines(text, name)
        require(list(by_line.items()) == list(value.items()),
                f"{name}: fast path returned {value!r}, line-by-line parser {by_line!r}")
    else:
        require(isinstance(value, PressureTotals), f"{name}: {value!r} is not PressureTotals")
        require(_is_u64(value.some), f"{name}: some total {value.some!r} is not an unsigned 64-bit integer")
        require(value.full is None or _is_u64(value.full), f"{name}: full total {value.full!r} is invalid")
    canonical = _canonical(parser.kind, value)
    again = parser.parse(canonical, name)
    require(again == value, f"{name}: {value!r} rendered as {canonical!r} parses back as {again!r}")


def check_input(name: str, parser: FileParser, data: bytes) -> None:
    """Run ``parser`` on ``data`` as the file ``name`` and check the result against the contract."""
    texts = [data.decode("latin-1")]
    try:
        as_utf8 = data.decode("utf-8")
    except UnicodeDecodeError:
        as_utf8 = texts[0]
    if as_utf8 != texts[0]:
        texts.append(as_utf8)
    for text in texts:
        try:
            value = parser.parse(text, name)
        except CgroupFileError as error:
            require(error.reason == cgroupfs.REASON_PARSE, f"{name}: reason {error.reason!r}, expected 'parse'")
            require(error.path == name, f"{name}: error names {error.path!r}")
            continue
        check_value(name, parser, text, value)


def seeds(name: str) -> Iterator[bytes]:
    """Yield every copy of file ``name`` in the fixture trees, then a few edge values."""
    for root in harness.cgroup_fixture_roots():
        for path in sorted(root.rglob(name)):
            if path.is_file():
                yield path.read_bytes()
    yield b""
    yield b"0\n"
    yield b"max\n"
    yield b"18446744073709551615\n"
    yield b"18446744073709551616\n"
    yield b"anon 0\nfile 18446744073709551615\n"
    yield b"some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"


def main(argv: list[str], files: dict[str, FileParser] = FILES) -> None:
    """Fuzz the parser of the file named by ``argv[1]``; ``files`` maps names to parsers."""
    if len(argv) > 1 and argv[1] == "--list":
        print("\n".join(files))
        return
    if len(argv) < 2 or argv[1] not in files:
        sys.exit(f"usage: {argv[0]} FILE CORPUS_DIR [libFuzzer flags]; FILE is one of: {', '.join(files)}")
    name, parser = argv[1], files[argv[1]]

    def test_one_input(data: bytes) -> None:
        check_input(name, parser, data)

    harness.fuzz([argv[0], *argv[2:]], test_one_input, lambda: seeds(name))


if __name__ == "__main__":
    main(sys.argv)
