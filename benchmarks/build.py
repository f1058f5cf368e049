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
import resource
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


def time_build(catalog: str, out: str, repeat: int) -> tuple[float, float]:
    """Return the best wall-clock seconds and the best CPU seconds (user + system) of ``repeat`` builds.

    CPU time is printed beside wall time because it does not grow when other work shares the machine.
    """
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "obsgen", "build", catalog, "--out", out], check=True,
                       stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        best_wall, best_cpu = min(best_wall, wall), min(best_cpu, cpu)
    return best_wall, best_cpu


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
            wall, cpu = time_build(catalog, os.path.join(folder, f"out-{size}"), args.repeat)
            results[size] = (wall, cpu)
            print(f"{size:>6} services: {wall:6.2f} s wall, {cpu:6.2f} s CPU ({wall / size * 1000:.2f} ms per service)")
    if 1000 in results and 5000 in results:
        print(f"5,000 / 1,000 services: {results[5000][0] / results[1000][0]:.2f}x wall, "
              f"{results[5000][1] / results[1000][1]:.2f}x CPU (target at most 6x)")
    if 1000 in results:
        print(f"1,000 services: {results[1000][0]:.2f} s wall (target under 3 s)")


if __name__ == "__main__":
    main()
