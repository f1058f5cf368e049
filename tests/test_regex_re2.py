"""obsgen's RE2 check agrees with Prometheus: patterns it accepts load in promtool, and the
patterns it rejects fail in promtool or would match something else there."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from obsgen.catalog.regex import re2_problem
from obsgen.promql import quote

PROMTOOL = shutil.which("promtool")

#: (pattern, what Prometheus does with it): "ok", "rejects", or "differs" where RE2 loads the
#: pattern but reads it differently from Python (so obsgen must reject it too). "python-only-rejects"
#: marks RE2 syntax that Python's parser lacks: Prometheus loads it, obsgen rejects it (a known gap).
CASES = [
    ("shop", "ok"), ("shop|cart", "ok"), ("cart-.*", "ok"), (r"cart-[a-z0-9]{5}", "ok"), ("(?i)cart", "ok"),
    ("(?i:cart)-x", "ok"), (r"a\.b", "ok"), (r"\d+", "ok"), (r"[\w-]+", "ok"), ("(?P<name>x)", "ok"),
    ('say"hi', "ok"), (r"back\\slash", "ok"), ("a{2,1000}", "ok"), ("(?s).", "ok"), ("(?m)^a$", "ok"),
    ("[]a]", "ok"), ("[^]a]", "ok"), ("café", "ok"), (r"\x41", "ok"), (r"\A", "ok"),
    (r"(a)\1", "rejects"), ("(?P<x>a)(?P=x)", "rejects"), ("a(?=b)", "rejects"), ("a(?!b)", "rejects"),
    ("(?<=a)b", "rejects"), ("(?<!a)b", "rejects"), ("(?>a)", "rejects"), ("a*+", "rejects"),
    ("a++", "rejects"), ("a?+", "rejects"), ("(a)?(?(1)b|c)", "rejects"), ("(?#note)a", "rejects"),
    (r"a\Z", "rejects"), (r"\u0041", "rejects"), ("(?x)a b", "rejects"), ("a{1001}", "rejects"),
    ("(", "rejects"), ("[a-", "rejects"), ("*a", "rejects"), ("a{,3}", "differs"),
    ("(?U)a+", "python-only-rejects"), (r"\pL+", "python-only-rejects"), (r"a\z", "python-only-rejects"),
    (r"\Q*\E", "python-only-rejects"),
]


def _promtool_verdicts(patterns: list[str], folder: Path) -> list[bool]:
    """Return, per pattern, whether promtool loads a rule that matches a label against it."""
    files = []
    for index, pattern in enumerate(patterns):
        path = folder / f"pattern-{index}.rules.yaml"
        expr = "up{job=~" + quote(pattern) + "}"
        path.write_text("groups:\n  - name: g\n    rules:\n      - record: job:up:regex\n        expr: '"
                        + expr.replace("'", "''") + "'\n")
        files.append(str(path))
    result = subprocess.run([PROMTOOL, "check", "rules", *files], capture_output=True, text=True)
    text = result.stdout + result.stderr
    return [re.search(rf"{re.escape(path)}: .*(?:parse error|error parsing regexp|invalid)", text) is None
            for path in files]


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")
def test_re2_check_agrees_with_promtool(tmp_path: Path) -> None:
    verdicts = _promtool_verdicts([pattern for pattern, _ in CASES], tmp_path)
    wrong_table = [pattern for (pattern, prometheus), loads in zip(CASES, verdicts)
                   if loads != (prometheus in ("ok", "differs", "python-only-rejects"))]
    assert not wrong_table, "promtool disagrees with the table"
    disagreements = [pattern for pattern, prometheus in CASES if (re2_problem(pattern) is None) != (prometheus == "ok")]
    assert not disagreements, "obsgen's check disagrees with Prometheus"
