"""Labels derived from real cgroup path shapes of kubelet, runtimes and systemd."""

from __future__ import annotations

import pytest

from obsgen.exporter.identity import CgroupIdentity, identify_path

UID = "c2b9546e-0f02-40f3-adb7-f1d5cbf15150"
UID_SYSTEMD = UID.replace("-", "_")
CID = "60973af4e709" + "a" * 52
SYSTEMD_POD = f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_SYSTEMD}.slice"

CASES = [
    ("/", CgroupIdentity(kind="other")),
    ("/kubepods.slice", CgroupIdentity(kind="slice", systemd_unit="kubepods.slice")),
    ("/kubepods.slice/kubepods-burstable.slice",
     CgroupIdentity(kind="slice", qos_class="burstable", systemd_unit="kubepods-burstable.slice")),
    (SYSTEMD_POD, CgroupIdentity(kind="pod", pod_uid=UID, qos_class="burstable")),
    (f"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_SYSTEMD}.slice",
     CgroupIdentity(kind="pod", pod_uid=UID, qos_class="besteffort")),
    (f"/kubepods.slice/kubepods-pod{UID_SYSTEMD}.slice",
     CgroupIdentity(kind="pod", pod_uid=UID, qos_class="guaranteed")),
    (f"{SYSTEMD_POD}/cri-containerd-{CID}.scope",
     CgroupIdentity(kind="container", pod_uid=UID, qos_class="burstable", container_id=CID,
                    container_runtime="containerd")),
    (f"{SYSTEMD_POD}/crio-{CID}.scope",
     CgroupIdentity(kind="container", pod_uid=UID, qos_class="burstable", container_id=CID, container_runtime="cri-o")),
    (f"{SYSTEMD_POD}/crio-conmon-{CID}.scope",
     CgroupIdentity(kind="conmon", pod_uid=UID, qos_class="burstable", container_id=CID, container_runtime="cri-o")),
    (f"{SYSTEMD_POD}/docker-{CID}.scope",
     CgroupIdentity(kind="container", pod_uid=UID, qos_class="burstable", container_id=CID, container_runtime="docker")),
    # cgroupfs driver
    ("/kubepods", CgroupIdentity(kind="other")),
    ("/kubepods/burstable", CgroupIdentity(kind="other", qos_class="burstable")),
    (f"/kubepods/burstable/pod{UID}", CgroupIdentity(kind="pod", pod_uid=UID, qos_class="burstable")),
    (f"/kubepods/pod{UID}", CgroupIdentity(kind="pod", pod_uid=UID, qos_class="guaranteed")),
    (f"/kubepods/besteffort/pod{UID}/{CID}",
     CgroupIdentity(kind="container", pod_uid=UID, qos_class="besteffort", container_id=CID)),
    (f"/kubepods/besteffort/pod{UID}/crio-{CID}",
     CgroupIdentity(kind="container", pod_uid=UID, qos_class="besteffort", container_id=CID, container_runtime="cri-o")),
    (f"/kubepods/besteffort/pod{UID}/crio-conmon-{CID}",
     CgroupIdentity(kind="conmon", pod_uid=UID, qos_class="besteffort", container_id=CID, container_runtime="cri-o")),
    # Standalone runtimes and systemd units
    (f"/system.slice/docker-{CID}.scope", CgroupIdentity(kind="container", container_id=CID, container_runtime="docker")),
    (f"/system.slice/crio-{CID}.scope", CgroupIdentity(kind="container", container_id=CID, container_runtime="cri-o")),
    (f"/machine.slice/libpod-{CID}.scope",
     CgroupIdentity(kind="container", container_id=CID, container_runtime="podman")),
    (f"/machine.slice/libpod-conmon-{CID}.scope",
     CgroupIdentity(kind="conmon", container_id=CID, container_runtime="podman")),
    ("/system.slice/containerd.service", CgroupIdentity(kind="systemd", systemd_unit="containerd.service")),
    ("/user.slice/user-1000.slice/session-3.scope", CgroupIdentity(kind="systemd", systemd_unit="session-3.scope")),
    ("/init.scope", CgroupIdentity(kind="systemd", systemd_unit="init.scope")),
    # Nested cgroups inherit pod and container labels but not the kind.
    (f"{SYSTEMD_POD}/cri-containerd-{CID}.scope/init",
     CgroupIdentity(kind="other", pod_uid=UID, qos_class="burstable", container_id=CID, container_runtime="containerd")),
    ("/docker/" + CID, CgroupIdentity(kind="other")),
]


@pytest.mark.parametrize(("path", "expected"), CASES, ids=[case[0][-40:] for case in CASES])
def test_identify_path(path, expected):
    assert identify_path(path) == expected


def test_pod_dir_outside_kubepods_is_not_a_pod():
    assert identify_path(f"/system.slice/pod{UID}").kind == "other"


def test_short_container_id_is_not_a_container():
    assert identify_path(f"{SYSTEMD_POD}/cri-containerd-abc123.scope").kind == "systemd"


def test_identity_of_shared_fixture_trees(shared_fixtures):
    """Every container and pod directory in the captured 6.1 trees gets the expected kind."""
    kinds: dict[str, int] = {}
    for directory in (shared_fixtures / "k8s-cgroupfs").rglob("*"):
        if directory.is_dir():
            identity = identify_path("/" + str(directory.relative_to(shared_fixtures / "k8s-cgroupfs")))
            kinds[identity.kind] = kinds.get(identity.kind, 0) + 1
    # 3 pods; 5 containers in pods plus the docker, crio and libpod scopes; one conmon.
    assert kinds["pod"] == 3
    assert kinds["container"] == 8
    assert kinds["conmon"] == 1
