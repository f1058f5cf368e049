"""Assemble the dashboard files of a catalog: one per service, the fleet overview and the nodes."""

from __future__ import annotations

import hashlib

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


def dashboard_files(catalog: Catalog) -> dict[str, bytes]:
    """Return every dashboard file of ``catalog`` as ``{relative path: JSON bytes}``."""
    files = {
        FLEET_FILE: presets.render(fleet.build(catalog, FLEET_UID, description(catalog))),
        NODE_FILE: presets.render(node.build(catalog, NODE_UID, description(catalog))),
    }
    for entry in catalog.services:
        board = service.build(catalog, entry, service_uid(entry.name), description(catalog, entry.description))
        files[service_file(entry.name)] = presets.render(board)
    return files
