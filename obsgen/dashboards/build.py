"""Assemble the dashboard files of a catalog: one per service, the fleet overview and the nodes."""

from __future__ import annotations

import ctypes
import hashlib
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager

from obsgen.catalog.model import Catalog
from obsgen.dashboards import fleet, node, presets, service
from obsgen.errors import BuildError
from obsgen.writers.header import header

FLEET_FILE = "dashboards/obsgen-fleet.json"
NODE_FILE = "dashboards/obsgen-node.json"
FLEET_UID = "obsgen-fleet"
NODE_UID = "obsgen-node"
#: Grafana's limit on dashboard uids.
MAX_UID_LENGTH = 40
_SERVICE_UID_PREFIX = "obsgen-svc-"


def service_file(name: str) -> str:
    return f"dashboards/services/{name}.json"


def service_uid(name: str) -> str:
    """Return the uid of a service's dashboard, which stays the same across rebuilds.

    Names too long for Grafana's 40 characters are cut and given a hash of the whole name, so
    two long names that share a beginning still get different uids.
    """
    uid = _SERVICE_UID_PREFIX + name
    if len(uid) <= MAX_UID_LENGTH:
        return uid
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
    return f"{uid[:MAX_UID_LENGTH - len(digest) - 1]}-{digest}"


def description(catalog: Catalog, text: str = "") -> str:
    """Return a dashboard description: the generated-by header, then ``text``."""
    generated = " ".join(line.strip() for line in header("", catalog.name).splitlines())
    return f"{generated}\n\n{text}".rstrip() if text else generated


_PR_SET_PDEATHSIG = 1
#: Services each worker gets at least. An estimate: 50 dashboards take about 0.15 s, a few times what
#: starting a worker costs.
MIN_SERVICES_PER_WORKER = 50

# The catalog that forked workers read: set in the parent before the pool starts, so that it
# reaches the workers through fork instead of being pickled for every chunk.
_worker_catalog: Catalog | None = None


def dashboard_files(catalog: Catalog, jobs: int = 1) -> dict[str, bytes]:
    """Return every dashboard file of ``catalog`` as ``{relative path: JSON bytes}``.

    With ``jobs`` above 1, up to that many forked processes build the service dashboards, as
    long as each gets at least ``MIN_SERVICES_PER_WORKER`` services. The files are the same
    bytes either way.
    """
    with dashboard_files_started(catalog, jobs) as finish:
        return finish()


@contextmanager
def dashboard_files_started(catalog: Catalog, jobs: int = 1) -> Iterator[Callable[[], dict[str, bytes]]]:
    """Start building the dashboards of ``catalog`` and yield a function that returns them.

    Worker processes, when ``jobs`` allows them, build the service dashboards while the caller
    does other work; the function waits for them. Leaving the block stops any worker left.
    """
    workers = min(jobs, len(catalog.services) // MIN_SERVICES_PER_WORKER)
    # Only Linux forks safely here: macOS system libraries may not survive a fork.
    if workers < 2 or not sys.platform.startswith("linux"):
        yield lambda: _shared_files(catalog) | _service_files(catalog, 0, len(catalog.services))
        return

    global _worker_catalog
    count = len(catalog.services)
    # Several chunks per worker even out chunks that take longer than others.
    size = -(-count // (workers * 4))
    _worker_catalog = catalog
    # With the fork start method, ProcessPoolExecutor forks all its workers before it starts
    # its own thread. Unlike multiprocessing.Pool, it fails instead of waiting forever when a
    # worker dies, killed by the OOM killer for example.
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                               initializer=_start_worker)
    try:
        pending = [pool.submit(_service_files_of_worker_catalog, start, min(start + size, count))
                   for start in range(0, count, size)]

        def finish() -> dict[str, bytes]:
            files = _shared_files(catalog)
            try:
                for future in pending:
                    files.update(future.result())
            except BrokenProcessPool:
                raise BuildError("a process building dashboards exited unexpectedly (was it killed, for "
                                  "example by the OOM killer?); run again, with --jobs 1 to use one process") from None
            return files

        yield finish
    finally:
        _worker_catalog = None
        # Pending chunks are dropped; a running one takes well under a second to end.
        pool.shutdown(wait=True, cancel_futures=True)


def _start_worker() -> None:
    # Ctrl-C reaches the whole process group: the parent handles it, the workers stay quiet.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # End with the parent, whatever ends it, instead of finishing a chunk that no process will read.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:
        os._exit(1)  # the parent is already gone


def _shared_files(catalog: Catalog) -> dict[str, bytes]:
    return {
        FLEET_FILE: presets.render(fleet.build(catalog, FLEET_UID, description(catalog))),
        NODE_FILE: presets.render(node.build(catalog, NODE_UID, description(catalog))),
    }


def _service_files(catalog: Catalog, start: int, stop: int) -> dict[str, bytes]:
    files = {}
    for entry in catalog.services[start:stop]:
        board = service.build(catalog, entry, service_uid(entry.name), description(catalog, entry.description))
        files[service_file(entry.name)] = presets.render(board)
    return files


def _service_files_of_worker_catalog(start: int, stop: int) -> dict[str, bytes]:
    assert _worker_catalog is not None, "runs only in a worker forked by dashboard_files_started"
    return _service_files(_worker_catalog, start, stop)
