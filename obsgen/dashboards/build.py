"""Assemble the dashboard files of a catalog: one per service, the fleet overview and the nodes."""

from __future__ import annotations

import hashlib
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from obsgen.catalog.model import Catalog
from obsgen.dashboards import fleet, node, presets, service
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


#: Below this many services, starting worker processes costs more than it saves.
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
    files = {
        FLEET_FILE: presets.render(fleet.build(catalog, FLEET_UID, description(catalog))),
        NODE_FILE: presets.render(node.build(catalog, NODE_UID, description(catalog))),
    }
    workers = min(jobs, len(catalog.services) // MIN_SERVICES_PER_WORKER)
    if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
        files.update(_service_files_in_workers(catalog, workers))
    else:
        files.update(_service_files(catalog, 0, len(catalog.services)))
    return files


def _service_files(catalog: Catalog, start: int, stop: int) -> dict[str, bytes]:
    files = {}
    for entry in catalog.services[start:stop]:
        board = service.build(catalog, entry, service_uid(entry.name), description(catalog, entry.description))
        files[service_file(entry.name)] = presets.render(board)
    return files


def _service_files_of_worker_catalog(start: int, stop: int) -> dict[str, bytes]:
    assert _worker_catalog is not None, "runs only in a worker forked by _service_files_in_workers"
    return _service_files(_worker_catalog, start, stop)


def _service_files_in_workers(catalog: Catalog, workers: int) -> dict[str, bytes]:
    global _worker_catalog
    count = len(catalog.services)
    # Several chunks per worker even out chunks that take longer than others.
    chunk = max(1, -(-count // (workers * 4)))
    _worker_catalog = catalog
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            parts = pool.map(_service_files_of_worker_catalog, range(0, count, chunk),
                             [min(start + chunk, count) for start in range(0, count, chunk)])
            files: dict[str, bytes] = {}
            for part in parts:
                files.update(part)
    finally:
        _worker_catalog = None
    return files
