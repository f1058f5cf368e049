#!/usr/bin/env python3
"""Time ``obsgen build`` on generated catalogs of 10, 100, 1,000 and 5,000 services in one run.

Each size runs as a fresh ``obsgen build`` process (start-up included, as a user sees it), the
best of ``--repeat`` runs is kept, and the ratios between sizes show whether the cost grows
linearly. Targets: 1,000 services in under 3 s, and the 5,000 run at most 6 times the 1,000 run.

    python3 benchmarks/build.py [--sizes 10,100,1000,5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time

TEAMS = ("web", "payments", "search", "platform", "data")


def catalog_text(services: int) -> str:
    """Return a catalog of ``services`` services spread over five teams and namespaces."""
    lines = ["apiVersion: obsgen/v1", "name: benchmark", "teams:"]
    lines += [f"  - {{name: {team}, receiver: {team}-pager}}" for team in TEAMS]
    lines.append("services:")
    for index in range(services):
        team = TEAMS[index % len(TEAMS)]
        lines += [
            f"  - name: svc-{index:05d}",
            f"    team: {team}",
            f"    selector: {{namespace: {team}, workload: svc-{index:05d}, container: app}}",
            "    memory: {request: 128Mi, limit: 256Mi}",
        ]
        if index % 7 == 0:
            lines.append("    overrides: {near_limit: {warning: 0.85}, leak: {horizon: 1d}}")
    lines += ["fleet:", "  team: platform"]
    return "\n".join(lines) + "\n"


def time_build(catalog: str, out: str, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "obsgen", "build", catalog, "--out", out], check=True,
                       stdout=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000,5000", help="Comma-separated service counts.")
    parser.add_argument("--repeat", type=int, default=3, help="Runs per size; the fastest is kept.")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            catalog = os.path.join(folder, f"catalog-{size}.yaml")
            with open(catalog, "w") as handle:
                handle.write(catalog_text(size))
            results[size] = time_build(catalog, os.path.join(folder, f"out-{size}"), args.repeat)
            print(f"{size:>6} services: {results[size]:6.2f} s  ({results[size] / size * 1000:.2f} ms per service)")
    if 1000 in results and 5000 in results:
        print(f"5,000 / 1,000 services: {results[5000] / results[1000]:.2f}x (target at most 6x)")
    if 1000 in results:
        print(f"1,000 services: {results[1000]:.2f} s (target under 3 s)")


if __name__ == "__main__":
    main()
