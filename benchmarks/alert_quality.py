"""Score obsgen's memory alerts against two common rule sets on labelled Kubernetes traces.

The yardstick is alertq (``evaluate.py``), found in ``shared/alertq`` next to the repository
folder. Set ``OBSGEN_ALERTQ`` or pass ``--alertq`` to use another copy. The script:

1. runs ``obsgen build benchmarks/alertq/fleet.yaml`` into a temporary folder;
2. merges the groups of every generated rule file into one file, because alertq reads one;
3. evaluates that file and both baselines of alertq on the same corpus, one after the other;
4. prints the comparison and, unless ``--no-write``, replaces the "Alert quality" section of
   ``docs/benchmarks.md`` with it.

Without alertq it prints why it skipped and exits with status 0, because this is a benchmark, not
a test.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
CATALOG = REPO / "benchmarks" / "alertq" / "fleet.yaml"
FAMILIES = REPO / "benchmarks" / "alertq" / "families.yaml"
DOC = REPO / "docs" / "benchmarks.md"
SECTION = "## Alert quality"
BASELINES = (("naive predict_linear", "baseline_naive.yaml"),
             ("kubernetes-mixin / awesome-prometheus-alerts", "baseline_mixin_like.yaml"))
FAMILY_ORDER = ("leak", "oom", "usage")


def default_alertq() -> Path:
    """Return the alertq folder: ``$OBSGEN_ALERTQ``, else ``shared/alertq`` next to the repository folder."""
    return Path(os.environ.get("OBSGEN_ALERTQ") or REPO.parent / "shared" / "alertq")


def build_rules(catalog: Path, out_dir: Path) -> list[Path]:
    """Run ``obsgen build`` from this checkout and return the generated rule files, sorted."""
    command = [sys.executable, "-c", "from obsgen.cli import main; main()", "build", str(catalog),
               "--out", str(out_dir)]
    subprocess.run(command, check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    return sorted((out_dir / "alerts").rglob("*.rules.yaml"))


def merge_rule_files(paths: list[Path]) -> dict[str, object]:
    """Return one rule document holding the groups of every file, in file order.

    Group names are unique across obsgen's files, which Prometheus requires within one file.
    """
    groups: list[object] = []
    for path in paths:
        groups.extend((yaml.safe_load(path.read_text()) or {}).get("groups", []))
    names = [group["name"] for group in groups]  # type: ignore[index]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise SystemExit(f"rule groups appear in more than one file: {', '.join(duplicates)}")
    return {"groups": groups}


def evaluate(alertq: Path, rules: Path, corpus: str, report: Path, families: Path | None,
             containers: bool) -> dict[str, object]:
    """Run alertq on one rule file and return its JSON report; alertq's table goes to stdout."""
    command = [sys.executable, str(alertq / "evaluate.py"), str(rules), "--scenarios", str(alertq / corpus),
               "--out", str(report)]
    if families is not None:
        command += ["--families", str(families)]
    if containers:
        command.append("--containers")
    subprocess.run(command, check=True)
    return json.loads(report.read_text())


def _count(done: int, total: int) -> str:
    return f"{done}/{total}"


def summary_row(name: str, family: str, summary: dict[str, object]) -> list[str]:
    """Return one table row of the family's alertq summary."""
    s = summary
    lead = "-" if s["lead_h_median"] is None else f"{s['lead_h_median']:.1f}/{s['lead_h_min']:.1f}"
    last = "-" if s["lead_last_h_median"] is None else f"{s['lead_last_h_median']:.1f}"
    return [name, family, _count(s["leak_detected"], s["leak_containers"]), lead, last,  # type: ignore[arg-type]
            _count(s["leak_oom_cycles_warned"], s["leak_oom_cycles"]),  # type: ignore[arg-type]
            _count(s["nonleak_fp_containers"], s["nonleak_containers"]),  # type: ignore[arg-type]
            f"{s['nonleak_firing_minutes']:.0f}",
            _count(s["kills_fired_within_10m"], s["kills"]), _count(s["kills_noticed"], s["kills"]),  # type: ignore[arg-type]
            str(s["firings_not_following_a_kill"]), f"{s['firings_per_container_day']:.2f}",
            f"{s['firings_per_container_day_max']:.2f}", str(s["unmapped_firings"])]


HEADER = ["rules", "family", "leak recall", "lead h med/min", "last-warn lead h med", "OOM cycles warned",
          "healthy FP ctrs", "FP firing min", "kills fired <=10m", "kills noticed", "firings w/o kill",
          "firings/ctr/day", "max firings/ctr/day", "unmapped"]


def comparison_table(results: list[tuple[str, dict[str, object]]]) -> str:
    """Return a Markdown table with one row per (rule set, family)."""
    rows = []
    for name, report in results:
        summaries = report["summary"]  # type: ignore[index]
        for family in FAMILY_ORDER:
            if family in summaries and summaries[family]["alerts"]:  # type: ignore[index, operator]
                rows.append(summary_row(name, family, summaries[family]))  # type: ignore[index]
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> str:
    """Describe the machine the figures come from."""
    cpus = os.cpu_count() or 0
    memory = ""
    try:
        with open("/proc/meminfo") as meminfo:
            kib = int(meminfo.readline().split()[1])
        memory = f", {kib / 1024**2:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    prometheus = subprocess.run(["prometheus", "--version"], capture_output=True, text=True).stdout.splitlines()
    version = prometheus[0] if prometheus else "prometheus (unknown version)"
    return f"{platform.machine()}, {cpus} CPUs{memory}, Python {platform.python_version()}, {version}"


def section(table: str, command: str, corpus: str, per_alert: dict[str, str]) -> str:
    """Return the Markdown of the "Alert quality" section."""
    today = datetime.date.today().isoformat()
    mapping = ", ".join(f"`{alert}` -> {family}" for alert, family in sorted(per_alert.items()))
    return (
        f"{SECTION}\n\n"
        f"Memory alerts scored by alertq on the labelled traces of `{corpus}`, evaluated by a real "
        f"Prometheus. obsgen's rules are what `obsgen build benchmarks/alertq/fleet.yaml` generates; "
        f"the two baselines are alertq's reference rule files, measured in the same run.\n\n"
        f"{table}\n\n"
        f"obsgen alerts by family: {mapping}. The baselines use alertq's default families.\n"
        f"\"lead\" is the OOM time minus the first firing, \"last-warn lead\" the OOM time minus the "
        f"start of the last firing before it. \"firings w/o kill\" counts only for the oom family. "
        f"\"max firings/ctr/day\" is the busiest container's rate, which a short-lived container or "
        f"one with several real OOM kills raises.\n\n"
        f"- Command: `{command}`\n"
        f"- Machine: {machine()}\n"
        f"- Date: {today}\n"
    )


def replace_section(document: str, text: str) -> str:
    """Return ``document`` with its "Alert quality" section replaced by ``text`` (or appended)."""
    lines = document.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == SECTION), None)
    if start is None:
        head = document if document.endswith("\n") or not document else document + "\n"
        if not head:
            head = "# Benchmarks\n"
        return head + "\n" + text
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    tail = "".join(lines[end:])
    return "".join(lines[:start]) + text + ("\n" + tail if tail else "")


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that readers see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, prefix=f".{path.name}.") as handle:
        handle.write(text)
    os.replace(handle.name, path)


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; return the exit status (0 also when alertq is absent)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alertq", type=Path, default=default_alertq(),
                        help="alertq folder (default: $OBSGEN_ALERTQ, else shared/alertq next to the repository folder)")
    parser.add_argument("--corpus", default="corpus-dev", help="corpus folder inside alertq (default: corpus-dev)")
    parser.add_argument("--catalog", type=Path, default=CATALOG, help="catalog to build (default: %(default)s)")
    parser.add_argument("--obsgen-only", action="store_true", help="skip the baselines (for quick iterations)")
    parser.add_argument("--containers", action="store_true", help="print alertq's per-container tables")
    parser.add_argument("--keep", type=Path, help="keep the merged rules and the JSON reports in this folder")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args(argv)

    if not (args.alertq / "evaluate.py").is_file():
        print(f"alert_quality: skipped: no alertq at {args.alertq} (set OBSGEN_ALERTQ or --alertq)")
        return 0
    with tempfile.TemporaryDirectory(prefix="obsgen-alertq-") as scratch:
        work = args.keep or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        merged = work / "obsgen.rules.yaml"
        merged.write_text(yaml.safe_dump(merge_rule_files(build_rules(args.catalog, work / "build")),
                                         sort_keys=False, width=1000))
        runs = [("obsgen", merged, FAMILIES)]
        if not args.obsgen_only:
            runs += [(name, args.alertq / "baselines" / file, None) for name, file in BASELINES]
        results = []
        for name, rules, families in runs:
            print(f"== {name}: {rules.name}", flush=True)
            results.append((name, evaluate(args.alertq, rules, args.corpus, work / f"{rules.stem}.json",
                                           families, args.containers)))
    table = comparison_table(results)
    print(table)
    if args.no_write or args.obsgen_only:
        return 0
    per_alert = {alert["alert"]: alert["family"] for alert in results[0][1]["alerts"]}  # type: ignore[index]
    command = "python3 benchmarks/alert_quality.py"
    current = DOC.read_text() if DOC.exists() else ""
    write_atomically(DOC, replace_section(current, section(table, command, args.corpus, per_alert)))
    print(f"wrote the table to {DOC.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
