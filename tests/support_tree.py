"""Helpers shared by the robustness tests: run obsgen as a real process and snapshot folders."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: Runs the obsgen command line from this checkout, whatever obsgen is installed.
OBSGEN = [sys.executable, "-c", "from obsgen.cli import main; main()"]


def obsgen_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Return an environment that imports obsgen from this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    return env


def run_obsgen(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``obsgen ARGS`` in a child process and return its exit status and output."""
    return subprocess.run([*OBSGEN, *args], capture_output=True, text=True, env=obsgen_env(env), timeout=timeout)


Entry = tuple[str, bytes | str, int]


def snapshot(root: Path, ignore_prefix: str | None = None, identity: bool = False) -> dict[str, tuple[object, ...]]:
    """Return every entry under ``root``: its kind, content (or link target) and mode.

    With ``identity`` the inode and modification time are included too, so a file rewritten
    with the same bytes still shows as changed. Names starting with ``ignore_prefix`` are left out.
    """
    result: dict[str, tuple[object, ...]] = {}
    for folder, dirs, names in os.walk(root):
        if ignore_prefix:
            dirs[:] = [d for d in dirs if not d.startswith(ignore_prefix)]
            names = [n for n in names if not n.startswith(ignore_prefix)]
        for name in dirs + names:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            relative = os.path.relpath(path, root)
            if stat.S_ISLNK(info.st_mode):
                entry: tuple[object, ...] = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                entry = ("dir", stat.S_IMODE(info.st_mode))
            else:
                entry = ("file", Path(path).read_bytes(), stat.S_IMODE(info.st_mode))
            if identity and not stat.S_ISDIR(info.st_mode):
                entry += (info.st_ino, info.st_mtime_ns)
            result[relative] = entry
    return result
