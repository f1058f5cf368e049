"""Derive Kubernetes, runtime and systemd labels from a cgroup path.

The path is the only identity a cgroup has, so every label here comes
from the directory names that kubelet, the container runtimes and systemd
choose. Two kubelet cgroup drivers are understood:

- systemd: ``kubepods.slice/kubepods-burstable.slice/
  kubepods-burstable-pod<uid with underscores>.slice/cri-containerd-<id>.scope``
- cgroupfs: ``kubepods/burstable/pod<uid with dashes>/<id>``

Pod UIDs are always reported with dashes, whichever driver wrote them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

KIND_POD = "pod"
KIND_CONTAINER = "container"
KIND_CONMON = "conmon"
KIND_SYSTEMD = "systemd"
KIND_SLICE = "slice"
KIND_OTHER = "other"

RUNTIME_CONTAINERD = "containerd"
RUNTIME_CRIO = "cri-o"
RUNTIME_DOCKER = "docker"
RUNTIME_PODMAN = "podman"

_CONTAINER_ID = r"([0-9a-f]{64})"

# systemd driver: kubepods-pod<uid>.slice is a guaranteed pod.
_SYSTEMD_POD = re.compile(
    r"kubepods(?:-(burstable|besteffort))?-pod([0-9a-f]{8}(?:_[0-9a-f]{4}){3}_[0-9a-f]{12})\.slice"
)
_CGROUPFS_POD = re.compile(r"pod([0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12})")

# Runtime helper processes get cgroups of their own; they are not containers.
_CONMON = re.compile(r"(?:crio-conmon|libpod-conmon)-" + _CONTAINER_ID + r"(?:\.scope)?")

_RUNTIME_SCOPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"cri-containerd-" + _CONTAINER_ID + r"\.scope"), RUNTIME_CONTAINERD),
    (re.compile(r"crio-" + _CONTAINER_ID + r"(?:\.scope)?"), RUNTIME_CRIO),
    (re.compile(r"docker-" + _CONTAINER_ID + r"\.scope"), RUNTIME_DOCKER),
    (re.compile(r"libpod-" + _CONTAINER_ID + r"\.scope"), RUNTIME_PODMAN),
)
_BARE_ID = re.compile(_CONTAINER_ID)

_QOS_SLICES = {
    "kubepods-burstable.slice": "burstable",
    "kubepods-besteffort.slice": "besteffort",
}
_SYSTEMD_UNIT_SUFFIXES = (".service", ".scope", ".socket", ".mount", ".swap")


@dataclass(frozen=True)
class CgroupIdentity:
    """Labels derived from one cgroup path; empty strings mean unknown."""

    kind: str = KIND_OTHER
    pod_uid: str = ""
    qos_class: str = ""
    container_id: str = ""
    container_runtime: str = ""
    systemd_unit: str = ""


def _match_container(name: str) -> tuple[str, str] | None:
    """Return (container_id, runtime) when ``name`` is a runtime's container cgroup."""
    for pattern, runtime in _RUNTIME_SCOPES:
        match = pattern.fullmatch(name)
        if match:
            return match.group(1), runtime
    return None


def _in_cgroupfs_kubepods(parents: list[str]) -> bool:
    return bool(parents) and parents[0] == "kubepods"


def identify_component(parent: CgroupIdentity, name: str, parents: list[str]) -> CgroupIdentity:
    """Return the identity of cgroup ``name`` whose ancestors are ``parents``.

    ``parent`` is the identity of the direct parent: pod and container labels
    are inherited by nested cgroups, while ``kind`` always describes ``name``.
    """
    inherited = replace(parent, kind=KIND_OTHER, systemd_unit="")

    match = _SYSTEMD_POD.fullmatch(name)
    if match:
        qos = match.group(1) or "guaranteed"
        return replace(inherited, kind=KIND_POD, pod_uid=match.group(2).replace("_", "-"), qos_class=qos)

    match = _CGROUPFS_POD.fullmatch(name)
    if match and _in_cgroupfs_kubepods(parents):
        qos = parents[1] if len(parents) > 1 and parents[1] in ("burstable", "besteffort") else "guaranteed"
        return replace(inherited, kind=KIND_POD, pod_uid=match.group(1), qos_class=qos)

    match = _CONMON.fullmatch(name)
    if match:
        runtime = RUNTIME_CRIO if name.startswith("crio") else RUNTIME_PODMAN
        return replace(inherited, kind=KIND_CONMON, container_id=match.group(1), container_runtime=runtime)

    found = _match_container(name)
    if found:
        return replace(inherited, kind=KIND_CONTAINER, container_id=found[0], container_runtime=found[1])

    # cgroupfs driver: a bare id directly below a pod. containerd and Docker
    # both write it this way, so the path does not identify the runtime.
    if parent.kind == KIND_POD and _BARE_ID.fullmatch(name):
        return replace(inherited, kind=KIND_CONTAINER, container_id=name, container_runtime="")

    if name in _QOS_SLICES:
        return replace(inherited, kind=KIND_SLICE, qos_class=_QOS_SLICES[name], systemd_unit=name)
    if _in_cgroupfs_kubepods(parents) and len(parents) == 1 and name in ("burstable", "besteffort"):
        return replace(inherited, qos_class=name)
    if name.endswith(".slice"):
        return replace(inherited, kind=KIND_SLICE, systemd_unit=name)
    if name.endswith(_SYSTEMD_UNIT_SUFFIXES):
        return replace(inherited, kind=KIND_SYSTEMD, systemd_unit=name)
    return inherited


def identify_path(path: str) -> CgroupIdentity:
    """Return the identity of a cgroup given as ``/a/b/c`` relative to the cgroup root."""
    identity = CgroupIdentity()
    parents: list[str] = []
    for name in path.strip("/").split("/"):
        if not name:
            continue
        identity = identify_component(identity, name, parents)
        parents.append(name)
    return identity
