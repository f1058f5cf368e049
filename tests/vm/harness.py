"""Boot a real Linux kernel with cgroup v2 under qemu and run a host command inside it.

The machines obsgen is developed and tested on may have the memory controller on cgroup v1, so
tests that need real cgroup v2 behaviour (memory.events, OOM kills, memory.high throttling) run
in a throw-away VM instead:

- the kernel is the newest ``/boot/vmlinuz-*`` whose ``/lib/modules`` folder exists (Debian
  package linux-image-amd64). qemu runs it with software emulation (``-accel tcg``), so no KVM
  is needed;
- the initramfs holds a static busybox (busybox-static) and the virtio, 9p, overlay and
  virtio-net modules of that kernel; it is built once per kernel and cached;
- the host root is shared read-only over virtio-9p under a tmpfs overlay, so host programs
  (the host Python and its site-packages included) run unchanged and writes vanish at power-off;
- cgroup2 is mounted at ``/sys/fs/cgroup`` with ``+memory +cpu +io +pids`` enabled at the root;
- the command runs as root in a chroot of that root, from the caller's working directory, with
  stdin from /dev/null; the exchange folder (``/xchg`` in the guest, env ``OBSGEN_VM_EXCHANGE``)
  is the one writable share whose files come back to the host;
- with ``forward=(host_port, guest_port)`` the guest gets qemu's user-mode network with
  ``restrict=on`` (no route out of the VM) and exactly one forward from 127.0.0.1:host_port on
  the host to guest_port in the guest (address 10.0.2.15).

Python API: :func:`run` (boot, run, power off, return a :class:`VMResult`) and :func:`start`
(return a :class:`VM` handle while the command keeps running; :meth:`VM.stop` or
:func:`stop_pid` end it). Command line::

    python -m tests.vm.harness run [--memory MB] [--timeout S] [--forward H:G] -- CMD...
    python -m tests.vm.harness start [...] -- CMD...     # prints the qemu pid, returns
    python -m tests.vm.harness stop PID

Only the standard library is used, so the harness runs before any project dependency is
installed.
"""

from __future__ import annotations

import argparse
import fcntl
import gzip
import hashlib
import lzma
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

EXIT_TIMEOUT = 124
"""Exit status of a command that ran out of time, or of a VM killed by the host."""

EXIT_VM_FAILED = 125
"""Exit status when the VM ended without reporting the command's exit status."""

GUEST_EXCHANGE = "/xchg"
GUEST_ADDRESS = "10.0.2.15"
CONTROL_DIR = ".obsgen-vm"
"""Folder inside the exchange folder for the harness' own files (config, command, output)."""

MODULES = ("virtio_pci", "9pnet_virtio", "9p", "overlay", "virtio_net")
INIT_SCRIPT = Path(__file__).with_name("init.sh")

# Host variables that make the host's Python and tools behave the same inside the VM.
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV", "PYENV_ROOT", "PYENV_VERSION")

KERNEL_COMMAND_LINE = "console=ttyS0 quiet loglevel=3 panic=-1 cgroup_no_v1=all"


class VMUnavailable(RuntimeError):
    """Raised when the host lacks what the VM needs; the message names the Debian package."""


@dataclass(frozen=True)
class Kernel:
    """A bootable kernel image and the modules folder of the same version."""

    image: Path
    version: str
    modules: Path


@dataclass(frozen=True)
class VMResult:
    """Outcome of one command run in a VM.

    ``returncode`` is the command's own exit status, :data:`EXIT_TIMEOUT` when it ran out of
    time or the host had to kill the VM, :data:`EXIT_VM_FAILED` when the VM ended without one.
    ``boot_seconds`` is the guest uptime when the command started, or None if it never did.
    """

    returncode: int
    stdout: str
    stderr: str
    console: str
    timed_out: bool
    boot_seconds: float | None


# ---- requirements ---------------------------------------------------------------------------


def _version_key(version: str) -> list[int | str]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", version)]


def find_kernel(boot: Path = Path("/boot"), modules_root: Path = Path("/lib/modules")) -> Kernel:
    """Return the newest readable ``vmlinuz-*`` under ``boot`` whose modules folder exists.

    Raises VMUnavailable when there is none.
    """
    candidates = []
    for image in boot.glob("vmlinuz-*"):
        version = image.name.removeprefix("vmlinuz-")
        modules = modules_root / version
        if os.access(image, os.R_OK) and (modules / "modules.dep").is_file():
            candidates.append(Kernel(image, version, modules))
    if not candidates:
        raise VMUnavailable(
            f"no readable {boot}/vmlinuz-* with modules under {modules_root} "
            "(install the Debian package linux-image-amd64)"
        )
    return max(candidates, key=lambda kernel: _version_key(kernel.version))


def find_busybox() -> Path:
    """Return a statically linked busybox, which the initramfs needs without a libc."""
    found = shutil.which("busybox") or ("/bin/busybox" if os.path.exists("/bin/busybox") else None)
    if found is None or not _is_static(Path(found)):
        raise VMUnavailable("no static busybox found (install the Debian package busybox-static)")
    return Path(found)


def _is_static(executable: Path) -> bool:
    # A dynamically linked ELF file has a PT_INTERP program header naming its loader.
    with executable.open("rb") as handle:
        data = handle.read(1 << 16)
    return data[:4] == b"\x7fELF" and b"/ld-linux" not in data and b"ld-musl" not in data


def find_qemu() -> Path:
    """Return the qemu-system-x86_64 executable."""
    found = shutil.which("qemu-system-x86_64")
    if found is None:
        raise VMUnavailable("qemu-system-x86_64 not found (install the Debian package qemu-system-x86)")
    return Path(found)


def missing_requirement() -> str | None:
    """Return why a VM cannot be booted here, naming the package to install, or None."""
    try:
        find_qemu()
        find_kernel()
        find_busybox()
    except VMUnavailable as error:
        return str(error)
    return None


# ---- initramfs --------------------------------------------------------------------------------


def _module_name(path: str) -> str:
    base = path.rsplit("/", 1)[-1]
    base = re.sub(r"\.ko(\.(xz|zst|gz))?$", "", base)
    return base.replace("-", "_")


def module_load_order(modules_dep: str, names: Iterable[str]) -> tuple[list[str], list[str]]:
    """Resolve module names to paths from a ``modules.dep`` text, dependencies first.

    Returns (paths in load order, names not found). Names compare with '-' and '_' equal, as
    the kernel does.
    """
    dependencies: dict[str, list[str]] = {}
    by_name: dict[str, str] = {}
    for line in modules_dep.splitlines():
        if ":" not in line:
            continue
        path, _, rest = line.partition(":")
        dependencies[path] = rest.split()
        by_name[_module_name(path)] = path

    order: list[str] = []
    missing: list[str] = []

    def visit(path: str) -> None:
        if path in order:
            return
        for dependency in dependencies.get(path, []):
            visit(dependency)
        order.append(path)

    for name in names:
        path = by_name.get(name.replace("-", "_"))
        if path is None:
            missing.append(name)
        else:
            visit(path)
    return order, missing


def _read_module(path: Path) -> tuple[str, bytes]:
    """Return (file name without compression suffix, uncompressed bytes) of a module file."""
    name = path.name
    if name.endswith(".ko.xz"):
        return name[:-3], lzma.decompress(path.read_bytes())
    if name.endswith(".ko.gz"):
        return name[:-3], gzip.decompress(path.read_bytes())
    if name.endswith(".ko.zst"):
        if shutil.which("zstd") is None:
            raise VMUnavailable(f"{path} is zstd-compressed (install the Debian package zstd)")
        data = subprocess.run(["zstd", "-qdc", str(path)], check=True, capture_output=True).stdout
        return name[:-4], data
    return name, path.read_bytes()


@dataclass(frozen=True)
class CpioEntry:
    """One member of a newc cpio archive: a folder, a regular file or a character device."""

    name: str
    mode: int
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)


def cpio_newc(entries: Sequence[CpioEntry]) -> bytes:
    """Serialise entries as a newc ("070701") cpio archive, the format the kernel unpacks."""
    chunks: list[bytes] = []

    def pad(length: int) -> bytes:
        return b"\0" * (-length % 4)

    for inode, entry in enumerate([*entries, CpioEntry("TRAILER!!!", 0)], start=1):
        name = entry.name.encode() + b"\0"
        fields = (
            inode, entry.mode, 0, 0, 2 if entry.mode & 0o040000 else 1, 0, len(entry.data),
            0, 0, entry.rdev[0], entry.rdev[1], len(name), 0,
        )
        header = b"070701" + b"".join(b"%08X" % value for value in fields)
        chunks += [header, name, pad(len(header) + len(name)), entry.data, pad(len(entry.data))]
    return b"".join(chunks)


def default_cache_root() -> Path:
    """Return the initramfs cache folder: ``$OBSGEN_VM_CACHE`` or one under the temp folder."""
    return Path(os.environ.get("OBSGEN_VM_CACHE") or Path(tempfile.gettempdir()) / "obsgen-vm-cache")


def build_initramfs(kernel: Kernel, cache_root: Path | None = None) -> Path:
    """Return the gzip'd initramfs for ``kernel``, building it into the cache if needed.

    The cache key covers the kernel version, the init script, busybox and the module files, so a
    changed input never reuses a stale image. Concurrent builders are serialised by a lock file.
    """
    busybox = find_busybox()
    init = INIT_SCRIPT.read_bytes()
    order, missing = module_load_order((kernel.modules / "modules.dep").read_text(), MODULES)
    builtin_path = kernel.modules / "modules.builtin"
    builtin = {_module_name(line) for line in builtin_path.read_text().split()} if builtin_path.exists() else set()
    absent = [name for name in missing if name.replace("-", "_") not in builtin]
    if absent:
        raise VMUnavailable(f"kernel {kernel.version} lacks the modules {', '.join(absent)}")

    digest = hashlib.sha256(init + busybox.read_bytes())
    for relative in order:
        stat = (kernel.modules / relative).stat()
        digest.update(f"{relative}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    root = cache_root or default_cache_root()
    target = root / f"{kernel.version}-{digest.hexdigest()[:12]}" / "initrd.gz"
    if target.is_file():
        return target

    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_file():
            return target
        entries = [CpioEntry(folder, 0o040755) for folder in ("bin", "dev", "proc", "sys", "modules")]
        entries.append(CpioEntry("dev/console", 0o020600, rdev=(5, 1)))
        entries.append(CpioEntry("bin/busybox", 0o100755, busybox.read_bytes()))
        entries.append(CpioEntry("init", 0o100755, init))
        loaded = []
        for relative in order:
            name, data = _read_module(kernel.modules / relative)
            entries.append(CpioEntry(f"modules/{name}", 0o100644, data))
            loaded.append(name)
        entries.append(CpioEntry("modules.order", 0o100644, "".join(f"{n}\n" for n in loaded).encode()))

        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".partial-{os.getpid()}")
        partial.write_bytes(gzip.compress(cpio_newc(entries), compresslevel=6))
        os.replace(partial, target)
    return target


# ---- one VM -----------------------------------------------------------------------------------


def free_local_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago (for ``forward``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def qemu_command(
    qemu: Path,
    kernel: Kernel,
    initrd: Path,
    exchange: Path,
    *,
    memory_mb: int,
    cpus: int,
    forward: tuple[int, int] | None,
) -> list[str]:
    """Return the qemu argument list for one VM; ``forward`` is (host port, guest port)."""
    control = exchange / CONTROL_DIR
    command = [
        str(qemu), "-nodefaults", "-no-user-config", "-accel", "tcg", "-cpu", "max",
        "-smp", str(cpus), "-m", str(memory_mb), "-display", "none", "-monitor", "none",
        "-serial", f"file:{control / 'console.log'}", "-no-reboot",
        "-kernel", str(kernel.image), "-initrd", str(initrd), "-append", KERNEL_COMMAND_LINE,
        "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
        "-virtfs", f"local,path={exchange},mount_tag=xchg,security_model=none",
    ]
    if forward is None:
        command += ["-nic", "none"]
    else:
        host_port, guest_port = forward
        # restrict=on cuts the guest off from the host and every other network; the one
        # hostfwd rule is the only way in.
        command += [
            "-netdev", f"user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{host_port}-:{guest_port}",
            "-device", "virtio-net-pci,netdev=n0",
        ]
    return command


def guest_script(argv: Sequence[str], env: Mapping[str, str], cwd: str) -> str:
    """Return the shell script the guest runs in its chroot: environment, folder, command."""
    lines = ["# generated by obsgen's VM harness, do not edit"]
    for name in PASSED_ENV:
        if name in os.environ:
            lines.append(f"export {name}={shlex.quote(os.environ[name])}")
    lines.append(f"export TERM=dumb OBSGEN_VM=1 OBSGEN_VM_EXCHANGE={GUEST_EXCHANGE}")
    for name, value in env.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"invalid environment variable name {name!r}")
        lines.append(f"export {name}={shlex.quote(value)}")
    lines.append(f"cd {shlex.quote(cwd)} 2>/dev/null || cd /")
    lines.append("exec " + " ".join(shlex.quote(arg) for arg in argv))
    return "\n".join(lines) + "\n"


def _process_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def _owns_exchange(pid: int, exchange: Path | None) -> bool:
    """Tell whether ``pid`` is a qemu started by this harness (for ``exchange`` if given)."""
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return False
    joined = b" ".join(arguments)
    if b"qemu-system" not in arguments[0] or b"mount_tag=xchg" not in joined:
        return False
    return exchange is None or f"path={exchange},".encode() in joined


def stop_pid(pid: int, exchange: Path | None = None, grace: float = 5.0) -> None:
    """Stop a harness VM by the pid of its qemu: SIGTERM, then SIGKILL after ``grace`` seconds.

    Raises ValueError when ``pid`` is not a qemu started by this harness (for ``exchange`` if
    given), so a reused pid is never signalled.
    """
    if not _process_alive(pid):
        return
    if not _owns_exchange(pid, exchange):
        raise ValueError(f"pid {pid} is not a VM started by obsgen's harness")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _process_alive(pid):
        os.kill(pid, signal.SIGKILL)


@dataclass
class VM:
    """A running VM started by :func:`start`; the command's output lands in the exchange folder."""

    process: subprocess.Popen[bytes]
    exchange: Path
    owns_exchange: bool
    killed: bool = field(default=False)

    @property
    def pid(self) -> int:
        """The qemu process id."""
        return self.process.pid

    @property
    def control(self) -> Path:
        """The harness' own folder inside the exchange folder."""
        return self.exchange / CONTROL_DIR

    def running(self) -> bool:
        """Tell whether qemu is still running."""
        return self.process.poll() is None

    def read(self, name: str) -> str:
        """Return a control file (stdout, stderr, console.log, ...) so far, or '' if absent."""
        path = self.control / name
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_for(self, relative: str, timeout: float) -> Path:
        """Wait until ``relative`` exists in the exchange folder and return its host path.

        Raises TimeoutError after ``timeout`` seconds, RuntimeError (with the guest's stderr)
        if the VM ends first.
        """
        path = self.exchange / relative
        deadline = time.monotonic() + timeout
        while not path.exists():
            if not self.running():
                raise RuntimeError(f"VM ended before {relative} appeared; stderr:\n{self.read('stderr')}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{relative} did not appear in the VM's exchange folder within {timeout} s")
            time.sleep(0.1)
        return path

    def wait(self, timeout: float | None = None) -> VMResult:
        """Wait for the VM to power off; after ``timeout`` seconds, kill it. Return the result."""
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
        return self.result()

    def stop(self) -> VMResult:
        """Kill the VM (SIGTERM, then SIGKILL) and return what it left."""
        if self.running():
            self.killed = True
            stop_pid(self.pid, self.exchange)
        self.process.wait()
        return self.result()

    def result(self) -> VMResult:
        """Collect the exit status and output of a VM that has ended."""
        rc_text = self.read("rc").strip()
        boot_text = self.read("boot-seconds").strip()
        boot_seconds = float(boot_text) if boot_text else None
        stderr = self.read("stderr")
        if rc_text:
            returncode = int(rc_text)
            timed_out = returncode in (EXIT_TIMEOUT, 128 + signal.SIGKILL)
        elif self.killed:
            returncode, timed_out = EXIT_TIMEOUT, True
            stderr += "obsgen-vm: the VM was killed before the command reported an exit status\n"
        else:
            returncode, timed_out = EXIT_VM_FAILED, False
            stderr += self._failure_report()
        return VMResult(returncode, self.read("stdout"), stderr, self.read("console.log"), timed_out, boot_seconds)

    def _failure_report(self) -> str:
        lines = [f"obsgen-vm: the VM ended (qemu exit status {self.process.returncode}) without the command's exit status"]
        lines += [f"obsgen-vm: init: {line}" for line in self.read("init-error").splitlines()]
        lines += [f"obsgen-vm: qemu: {line}" for line in self.read("qemu.log").splitlines()]
        console = self.read("console.log").replace("\r", "").splitlines()
        lines += [f"obsgen-vm: console: {line}" for line in console[-20:]]
        return "\n".join(lines) + "\n"

    def cleanup(self) -> None:
        """Remove the exchange folder if the harness created it."""
        if self.owns_exchange and not self.running():
            shutil.rmtree(self.exchange, ignore_errors=True)


def start(
    argv: Sequence[str],
    *,
    memory_mb: int = 768,
    cpus: int = 1,
    timeout: float = 600,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    exchange: Path | None = None,
    forward: tuple[int, int] | None = None,
    detach: bool = False,
) -> VM:
    """Boot a VM that runs ``argv`` and return at once with its handle.

    ``timeout`` caps the command's run time in seconds (the guest kills it and powers off);
    ``exchange`` is the host folder shared writable as ``/xchg`` (a new temporary folder when
    None); ``detach`` puts qemu in its own session so that it outlives the caller.
    Raises VMUnavailable when qemu, a kernel or busybox is missing.
    """
    if not argv:
        raise ValueError("no command given")
    if memory_mb < 128 or cpus < 1 or timeout <= 0:
        raise ValueError(f"invalid VM size or timeout: memory_mb={memory_mb}, cpus={cpus}, timeout={timeout}")
    qemu = find_qemu()
    kernel = find_kernel()
    initrd = build_initramfs(kernel)

    owns_exchange = exchange is None
    exchange = Path(tempfile.mkdtemp(prefix="obsgen-vm-")) if exchange is None else exchange.resolve()
    if "," in str(exchange):
        raise ValueError(f"the exchange folder path must not contain a comma (qemu option syntax): {exchange}")
    control = exchange / CONTROL_DIR
    shutil.rmtree(control, ignore_errors=True)
    control.mkdir(parents=True)

    (control / "cmd").write_text(guest_script(argv, env or {}, cwd or os.getcwd()))
    (control / "config").write_text(
        f"COMMAND_TIMEOUT={max(1, round(timeout))}\nGUEST_NETWORK={0 if forward is None else 1}\n"
    )
    command = qemu_command(qemu, kernel, initrd, exchange, memory_mb=memory_mb, cpus=cpus, forward=forward)
    with open(control / "qemu.log", "wb") as qemu_log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=qemu_log, stderr=subprocess.STDOUT, start_new_session=detach
        )
    return VM(process, exchange, owns_exchange)


def run(
    argv: Sequence[str],
    *,
    memory_mb: int = 768,
    cpus: int = 1,
    timeout: float = 300,
    boot_allowance: float = 60,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    exchange: Path | None = None,
    forward: tuple[int, int] | None = None,
    keep: bool = False,
) -> VMResult:
    """Boot a VM, run ``argv`` in it and return its result once the VM is off.

    The guest stops the command after ``timeout`` seconds; the host kills the VM if it is
    still running ``timeout + boot_allowance`` seconds after start (boot under TCG takes several
    seconds, more on a busy machine). A temporary exchange folder is removed unless ``keep``.
    """
    vm = start(
        argv, memory_mb=memory_mb, cpus=cpus, timeout=timeout, env=env, cwd=cwd, exchange=exchange, forward=forward
    )
    try:
        return vm.wait(timeout + boot_allowance)
    finally:
        if vm.running():
            vm.stop()
        if not keep:
            vm.cleanup()


# ---- command line -----------------------------------------------------------------------------


def _forward(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+):(\d+)", text)
    if match is None:
        raise argparse.ArgumentTypeError(f"expected HOSTPORT:GUESTPORT, got {text!r}")
    return int(match[1]), int(match[2])


def _env_pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.vm.harness", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="action", required=True)
    for action in ("run", "start"):
        sub = commands.add_parser(action, help=f"{action} CMD in a new VM")
        sub.add_argument("--memory", type=int, default=768, help="guest memory in MiB (default 768)")
        sub.add_argument("--cpus", type=int, default=1, help="guest CPUs (default 1)")
        sub.add_argument("--timeout", type=float, default=300, help="command time limit in seconds (default 300)")
        sub.add_argument("--exchange", type=Path, help="host folder shared writable as /xchg (default: a temp folder)")
        sub.add_argument("--forward", type=_forward, help="forward 127.0.0.1:HOSTPORT on the host to GUESTPORT")
        sub.add_argument("--env", type=_env_pair, action="append", default=[], help="NAME=VALUE for the command")
        sub.add_argument("command", nargs="+", help="command and arguments (after --)")
        if action == "run":
            sub.add_argument("--console", action="store_true", help="print the serial console log to stderr")
            sub.add_argument("--keep", action="store_true", help="keep the temporary exchange folder")
    stop = commands.add_parser("stop", help="stop a VM started with 'start'")
    stop.add_argument("pid", type=int, help="the qemu pid printed by 'start'")
    commands.add_parser("initramfs", help="build (or find) the cached initramfs and print its path")
    return parser


def main(arguments: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (the guest command's own, for 'run')."""
    options = _parser().parse_args(arguments)
    try:
        if options.action == "initramfs":
            print(build_initramfs(find_kernel()))
            return 0
        if options.action == "stop":
            stop_pid(options.pid)
            return 0
        common = dict(
            memory_mb=options.memory, cpus=options.cpus, timeout=options.timeout, env=dict(options.env),
            exchange=options.exchange, forward=options.forward,
        )
        if options.action == "start":
            vm = start(options.command, detach=True, **common)
            print(f"pid={vm.pid} exchange={vm.exchange}")
            return 0
        result = run(options.command, keep=options.keep, **common)
    except (VMUnavailable, ValueError) as error:
        print(f"obsgen-vm: {error}", file=sys.stderr)
        return EXIT_VM_FAILED
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    if options.console:
        sys.stderr.write("----- serial console -----\n" + result.console.replace("\r", ""))
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
