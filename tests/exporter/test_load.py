"""The exporter under load: many cgroups, parallel scrapes while cgroups come and go, and the
cardinality limit.

CI runs a bounded version (OBSGEN_LOAD_CGROUPS, default 2,000 cgroups);
benchmarks/exporter_load.py runs 10,000 cgroups and a longer soak.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from prometheus_client.registry import CollectorRegistry

from obsgen.exporter.collector import CollectorOptions, MemoryCollector

from .helpers import parse_exposition, write_cgroup, write_root

CGROUPS = int(os.environ.get("OBSGEN_LOAD_CGROUPS", "2000"))
SCRAPERS = 4
SCRAPES_EACH = int(os.environ.get("OBSGEN_LOAD_SCRAPES", "3"))
#: Bound on one scrape (seconds) as a client sees it, waiting for the other scrapers included:
#: scrapes run one at a time, so this allows SCRAPERS scrapes of about 15 s each on a loaded machine.
MAX_SCRAPE_S = float(os.environ.get("OBSGEN_LOAD_MAX_SCRAPE_S", "60"))


def build_tree(root: Path, count: int) -> list[Path]:
    """Create a cgroup v2 root with ``count`` container-like cgroups under two levels of slices.

    Return the container-like cgroups. Every slice has memory files too, as with the memory
    controller enabled down the tree.
    """
    write_root(root)
    write_cgroup(root / "load.slice")
    for pod in range((count + 9) // 10):
        write_cgroup(root / "load.slice" / f"pod{pod}.slice")
    cgroups = []
    for index in range(count):
        cgroups.append(write_cgroup(root / "load.slice" / f"pod{index // 10}.slice" / f"c{index}.scope",
                                    current=1_000_000 + index))
    return cgroups


def collector_for(root: Path, max_cgroups: int) -> MemoryCollector:
    return MemoryCollector(CollectorOptions(root=str(root), max_cgroups=max_cgroups, pod_log_dir=None,
                                            container_log_dir=None), registry=CollectorRegistry())


def current_series(text: str) -> int:
    return sum(1 for name, _ in parse_exposition(text) if name == "obsgen_memory_current_bytes")


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# Removes and creates cgroups, as pods come and go during scrapes, until the stop file appears or
# every cgroup under load.slice was replaced once. Prints how many it replaced.
# It runs as its own process so that it does not compete with the scrapes for the GIL.
_CHURN = """
import os, shutil, sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from exporter.helpers import write_cgroup
root, stop = Path(sys.argv[1]), Path(sys.argv[2])
victims = sorted((root / "load.slice").glob("*/*.scope"))
created = 0
while not stop.exists() and created < len(victims):
    shutil.rmtree(victims[created])  # files vanish one by one, as if read mid-removal
    write_cgroup(root / "churn.slice" / f"new{created}.scope")
    created += 1
print(created)
"""


def start_churn(root: Path, stop: Path) -> subprocess.Popen[str]:
    tests = str(Path(__file__).resolve().parent.parent)
    return subprocess.Popen([sys.executable, "-c", _CHURN, str(root), str(stop), tests], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_parallel_scrapes_with_churn(tmp_path: Path) -> None:
    root = tmp_path / "root"
    build_tree(root, CGROUPS)
    collector = collector_for(root, max_cgroups=CGROUPS * 3)
    slices = 1 + (CGROUPS + 9) // 10
    assert current_series(collector.render_text().decode()) == CGROUPS + slices  # warm-up scrape
    descriptors_before = len(os.listdir("/proc/self/fd"))

    stop = tmp_path / "stop"
    churn = start_churn(root, stop)
    durations: list[float] = []
    failures: list[BaseException] = []

    def scraper() -> None:
        for _ in range(SCRAPES_EACH):
            started = time.monotonic()
            try:
                text = collector.render_text()
            except BaseException as error:  # reported by the test
                failures.append(error)
                continue
            durations.append(time.monotonic() - started)
            if not text.endswith(b"\n"):
                failures.append(AssertionError("truncated exposition"))

    threads = [threading.Thread(target=scraper) for _ in range(SCRAPERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.touch()
    output, errors = churn.communicate(timeout=300)

    assert failures == []
    assert churn.returncode == 0, errors
    assert int(output) > 0
    assert len(durations) == SCRAPERS * SCRAPES_EACH
    assert max(durations) < MAX_SCRAPE_S
    final = collector.render_text().decode()
    assert current_series(final) == CGROUPS + slices  # every removal was matched by a creation
    # Descriptors of removed cgroups are closed, not kept.
    assert len(os.listdir("/proc/self/fd")) <= descriptors_before + 2

    # After the parallel peak, more scrapes with more churn must not grow memory further.
    rss_before = rss_bytes()
    churn = start_churn(root, tmp_path / "stop-again")
    for _ in range(SCRAPES_EACH * 2):
        collector.render_text()
    (tmp_path / "stop-again").touch()
    churn.communicate(timeout=300)
    collector.render_text()
    assert rss_bytes() - rss_before < 16 * 1024 * 1024
    collector.close()


def exported_cgroups(text: str) -> set[str]:
    return set(re.findall(r'[{,]cgroup="([^"]*)"', text))


def test_cardinality_limit_drops_and_counts(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "root"
    build_tree(root, 300)
    everything = exported_cgroups(collector_for(root, max_cgroups=10_000).render_text().decode())
    assert len(everything) > 300
    collector = collector_for(root, max_cgroups=100)
    with caplog.at_level(logging.WARNING, logger="obsgen.exporter.collector"):
        texts = [collector.render_text().decode() for _ in range(3)]
    for text in texts:
        assert len(exported_cgroups(text)) == 100
    dropped = parse_exposition(texts[-1])[("obsgen_exporter_cgroups_dropped_total", frozenset())]
    assert dropped == 3 * (len(everything) - 100)
    warnings = [record for record in caplog.records if "--max-cgroups=100 reached" in record.getMessage()]
    assert len(warnings) == 1
    collector.close()
