"""Load and soak run of the exporter's collector, printing the figures for docs/reliability.md.

    python benchmarks/exporter_load.py [--cgroups 10000] [--scrapers 4] [--soak-minutes 60]

It builds a cgroup v2 tree of --cgroups container-like cgroups (plus their slices) under
/dev/shm. Then --scrapers threads scrape it back to back while another process removes and
creates cgroups. It prints the scrape times and the process RSS at the start and end of the soak.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests"), str(REPO)]

from exporter.test_load import build_tree, collector_for, current_series, rss_bytes, start_churn  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cgroups", type=int, default=10_000, help="container-like cgroups in the tree")
    parser.add_argument("--scrapers", type=int, default=4, help="threads scraping in parallel")
    parser.add_argument("--soak-minutes", type=float, default=60.0, help="how long the scrapes run, in minutes")
    args = parser.parse_args()
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(prefix="obsgen-load-", dir=base) as work:
        root = Path(work) / "root"
        started = time.monotonic()
        build_tree(root, args.cgroups)
        print(f"tree: {args.cgroups} cgroups built in {time.monotonic() - started:.1f} s")
        collector = collector_for(root, max_cgroups=args.cgroups * 2)
        started = time.monotonic()
        first = collector.render_text()
        print(f"first scrape: {time.monotonic() - started:.2f} s, {len(first) / 1e6:.1f} MB, "
              f"{current_series(first.decode())} cgroups with memory.current")
        rss_start = rss_bytes()
        deadline = time.monotonic() + args.soak_minutes * 60
        durations: list[float] = []
        failures: list[BaseException] = []
        stop = Path(work) / "stop"
        churn = start_churn(root, stop)

        def scrape_until_deadline() -> None:
            while time.monotonic() < deadline:
                begun = time.monotonic()
                try:
                    collector.render_text()
                except BaseException as error:  # counted and printed below
                    failures.append(error)
                durations.append(time.monotonic() - begun)

        threads = [threading.Thread(target=scrape_until_deadline) for _ in range(args.scrapers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        stop.touch()
        churned, _ = churn.communicate(timeout=600)
        rss_end = rss_bytes()
        print(f"soak: {args.soak_minutes:g} min, {args.scrapers} parallel scrapers, {len(durations)} scrapes, "
              f"{len(failures)} failed, {churned.strip()} cgroups removed and created meanwhile")
        print(f"scrape time seen by a client (waiting for the others included): median "
              f"{statistics.median(durations):.2f} s, max {max(durations):.2f} s")
        print(f"RSS: {rss_start / 2**20:.1f} MiB after the first scrape, {rss_end / 2**20:.1f} MiB at the end "
              f"({(rss_end - rss_start) / 2**20:+.1f} MiB)")
        collector.close()


if __name__ == "__main__":
    main()
