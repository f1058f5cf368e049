"""Start-up checks: refuse to serve empty or wrong numbers from a wrong cgroup mount."""

from __future__ import annotations

import os

_FIX = ("Mount the host's /sys/fs/cgroup (cgroup v2) into the exporter read-only and point "
        "--cgroup-root at it, e.g. a hostPath volume /sys/fs/cgroup mounted at /host/sys/fs/cgroup.")


class StartupError(Exception):
    """The cgroup root cannot give correct numbers. The message states why and how to fix it."""


def _v1_memory_mount(mountinfo: str) -> str | None:
    """Return where a cgroup v1 hierarchy with the memory controller is mounted, if any."""
    for line in mountinfo.splitlines():
        before, sep, after = line.partition(" - ")
        if not sep:
            continue
        fields, fs = before.split(), after.split()
        if len(fields) >= 5 and len(fs) >= 3 and fs[0] == "cgroup" and "memory" in fs[2].split(","):
            return fields[4]
    return None


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as file:
            return file.read()
    except OSError:
        return None


def check_cgroup_root(root: str, mountinfo_path: str = "/proc/self/mountinfo",
                      self_cgroup_path: str = "/proc/self/cgroup") -> None:
    """Raise StartupError unless ``root`` is a cgroup v2 tree with memory and other cgroups."""
    if not os.path.isdir(root):
        raise StartupError(f"cgroup root {root} does not exist or is not a directory. {_FIX}")

    mountinfo = _read(mountinfo_path) or ""
    v1_memory = _v1_memory_mount(mountinfo)
    controllers = _read(os.path.join(root, "cgroup.controllers"))
    if controllers is None:
        if v1_memory is not None:
            raise StartupError(
                f"{root} is not a cgroup v2 hierarchy (no cgroup.controllers), and this host has the "
                f"memory controller on cgroup v1 at {v1_memory}. The exporter reads only cgroup v2: run "
                "it on a host booted with the unified hierarchy (systemd.unified_cgroup_hierarchy=1, the "
                "default on current distributions). " + _FIX)
        raise StartupError(f"{root} is not a cgroup v2 hierarchy (no cgroup.controllers file). {_FIX}")

    if "memory" not in controllers.split():
        where = f" It is bound to cgroup v1 at {v1_memory}." if v1_memory else ""
        raise StartupError(
            f"the memory controller is not available in {root} (cgroup.controllers lists "
            f"{controllers.strip() or 'nothing'}).{where} Run the exporter on a host whose memory "
            "controller is on cgroup v2. " + _FIX)

    if _only_own_cgroup(root, _read(self_cgroup_path)):
        raise StartupError(
            f"{root} shows only the exporter's own cgroup: it runs in a private cgroup namespace "
            f"and sees no other cgroups. {_FIX}")


def _only_own_cgroup(root: str, self_cgroup: str | None) -> bool:
    """Return whether ``root`` looks like the exporter's own cgroup in a private namespace."""
    if self_cgroup is None or self_cgroup.strip() != "0::/":
        return False
    try:
        with os.scandir(root) as entries:
            return not any(entry.is_dir(follow_symlinks=False) for entry in entries)
    except OSError:
        return False
