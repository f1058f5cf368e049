"""Kubernetes names for pod UIDs and container IDs, from kubelet's log layout.

A cgroup path carries only the pod UID and the container ID. Kubelet writes
the names into two directories on every node, so the exporter reads them
there instead of asking the API server (no credentials, no network):

- ``/var/log/pods/<namespace>_<pod>_<uid>/<container>/``
- ``/var/log/containers/<pod>_<namespace>_<container>-<container id>.log``
  (symlinks into the first directory)

Only directory entry names are read, with ``os.scandir``: symlinks are never
followed and no log content is opened. Pod and namespace names cannot contain
``_`` and container names are DNS labels, so the names split unambiguously.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

_POD_DIR = re.compile(r"([a-z0-9][a-z0-9-]*)_([a-z0-9][a-z0-9.-]*)_([0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12})")
_CONTAINER_LOG = re.compile(
    r"([a-z0-9][a-z0-9.-]*)_([a-z0-9][a-z0-9-]*)_([a-z0-9][a-z0-9-]*)-([0-9a-f]{64})\.log"
)


@dataclass(frozen=True)
class PodName:
    """Namespace and name of a pod."""

    namespace: str
    pod: str


@dataclass(frozen=True)
class ContainerName:
    """Namespace, pod and container name of one container ID."""

    namespace: str
    pod: str
    container: str


@dataclass
class KubernetesNames:
    """Names found in one scan of the log directories."""

    pods: dict[str, PodName] = field(default_factory=dict)
    containers: dict[str, ContainerName] = field(default_factory=dict)


def parse_pod_dir_name(name: str) -> tuple[str, PodName] | None:
    """Return (pod UID, name) for a ``<namespace>_<pod>_<uid>`` directory name."""
    match = _POD_DIR.fullmatch(name)
    if not match:
        return None
    return match.group(3), PodName(namespace=match.group(1), pod=match.group(2))


def parse_container_log_name(name: str) -> tuple[str, ContainerName] | None:
    """Return (container ID, names) for a ``<pod>_<namespace>_<container>-<id>.log`` name."""
    match = _CONTAINER_LOG.fullmatch(name)
    if not match:
        return None
    pod, namespace, container, container_id = match.groups()
    return container_id, ContainerName(namespace=namespace, pod=pod, container=container)


def _entry_names(directory: str) -> list[str]:
    """List entry names of ``directory``; a missing or unreadable one has none."""
    try:
        with os.scandir(directory) as entries:
            return [entry.name for entry in entries]
    except OSError:
        return []


def scan_names(pod_log_dir: str | None, container_log_dir: str | None) -> KubernetesNames:
    """Scan the two kubelet log directories; a missing directory just yields no names."""
    names = KubernetesNames()
    if pod_log_dir:
        for entry in _entry_names(pod_log_dir):
            parsed = parse_pod_dir_name(entry)
            if parsed:
                names.pods[parsed[0]] = parsed[1]
    if container_log_dir:
        for entry in _entry_names(container_log_dir):
            parsed_container = parse_container_log_name(entry)
            if parsed_container:
                names.containers[parsed_container[0]] = parsed_container[1]
    return names
