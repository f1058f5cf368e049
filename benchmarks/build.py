#!/usr/bin/env python3
"""Time ``obsgen build`` on generated catalogs of 10, 100, 1,000 and 5,000 services in one run.

Each size runs as a fresh ``obsgen build`` process (start-up included, as a user sees it), the
best of ``--repeat`` runs is kept, and the ratios between sizes show whether the cost grows
linearly. Targets: 1,000 services in under 3 s, and the 5,000 run at most 6 times the 1,000 run.
Each size is built twice: with the catalog's default formats (rules and dashboards), which the
targets are about, and with every format. CPU time is that of the build and its worker processes.

    python3 benchmarks/build.py [--sizes 10,100,1000,5000] [--repeat 3] [--jobs N]
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


ALL_FORMATS = ("rules", "dashboards", "grafana", "kubernetes", "alertmanager", "mixin", "thanos", "mimir")


def time_build(catalog: str, out: str, repeat: int, options: list[str]) -> tuple[float, float]:
    """Return the best wall-clock seconds and the best CPU seconds (user + system) of ``repeat`` builds.

    CPU time is printed beside wall time because it does not grow when other work shares the machine.
    """
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "obsgen", "build", catalog, "--out", out, *options], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        best_wall, best_cpu = min(best_wall, wall), min(best_cpu, cpu)
    return best_wall, best_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000,5000", help="Comma-separated service counts.")
    parser.add_argument("--repeat", type=int, default=3, help="Timed runs per size and format set; the fastest is kept.")
    parser.add_argument("--jobs", type=int, default=None,
                        help="obsgen build --jobs; default: obsgen's own default (the CPUs it may use).")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    jobs = ["--jobs", str(args.jobs)] if args.jobs else []
    variants = {"default formats": jobs, "every format": jobs + [f"--format={name}" for name in ALL_FORMATS]}

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.2f} at the start")
    print("Each timed run rebuilds into a folder that holds the previous build's output, as a GitOps "
          "pipeline does; one untimed build comes first.")
    results: dict[tuple[str, int], tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            catalog = os.path.join(folder, f"catalog-{size}.yaml")
            with open(catalog, "w") as handle:
                handle.write(catalog_text(size))
            for variant, options in variants.items():
                out = os.path.join(folder, f"out-{size}-{len(options)}")
                time_build(catalog, out, 1, options)
                wall, cpu = time_build(catalog, out, args.repeat, options)
                results[variant, size] = (wall, cpu)
                print(f"{size:>6} services, {variant:<15}: {wall:6.2f} s wall, {cpu:6.2f} s CPU "
                      f"({wall / size * 1000:.2f} ms per service)", flush=True)
    for variant in variants:
        if (variant, 1000) in results and (variant, 5000) in results:
            wall_1000, cpu_1000 = results[variant, 1000]
            wall_5000, cpu_5000 = results[variant, 5000]
            print(f"{variant}: 5,000 / 1,000 services: {wall_5000 / wall_1000:.2f}x wall, "
                  f"{cpu_5000 / cpu_1000:.2f}x CPU (target at most 6x)")
    if ("default formats", 1000) in results:
        print(f"1,000 services, default formats: {results['default formats', 1000][0]:.2f} s wall (target under 3 s)")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
