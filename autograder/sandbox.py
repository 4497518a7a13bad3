"""How a student's kernel is confined. Every layer is optional, probed once, and reported.

Layers (each used when this machine supports it; `autograder doctor` lists them):
- network:    no network for the kernel (bubblewrap's, else unshare's, network namespace); the
              kernel then talks to the grader over Unix sockets (IPC transport), which cross it;
- filesystem: bubblewrap shows the kernel a read-only system, a private /tmp, and its own scratch
              folder as the only writable place; the grader's cache, the reference notebook and the
              folder of submissions are hidden behind empty folders;
- user:       inside bubblewrap the kernel runs as nobody (uid 65534) with every capability dropped
              and no new privileges;
- limits:     prlimit caps memory (RLIMIT_DATA), file size, open files and CPU time;
- processes:  a cgroup (v1) caps the number of processes and threads (fork bombs) and memory;
- disk:       the scratch folder is a size-capped tmpfs of its own (as root), so many files cannot
              fill the disk either.
On a student's laptop (macOS, Windows, no root) none of this may exist: grading still works and the
report says which layers were active.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import locations
from .facts import Isolation, IsolationLayer

MEMORY_LIMIT = 3 * 2**30  # RLIMIT_DATA: the reference needs well under 1 GiB
CGROUP_MEMORY_LIMIT = 4 * 2**30  # whole kernel process tree, page cache included
FILE_SIZE_LIMIT = 256 * 2**20  # one file; model.keras is ~1.5 MB
MAX_PROCESSES = 512  # tasks (threads count): TensorFlow starts a few dozen
MAX_OPEN_FILES = 4096
KERNEL_UID = 65534  # nobody: the kernel's user inside and, with the filesystem layer, outside too
HOME_INSIDE = "/home/student"  # the kernel's home and working folder
READABLE_INSIDE = "/data"  # where the kernel finds the files the grader gives it to read (the MNIST copy)
# System files the kernel reads (the dynamic linker's cache, the time zone); nothing else of /etc.
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime", "/etc/nsswitch.conf")
SCRATCH_SIZE = 1 * 2**30  # all the kernel can write, when the scratch folder is a tmpfs of its own
CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class Layer:
    name: str
    active: bool
    how: str  # what provides it, or why it is missing


def _works(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


BWRAP_PROBE = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-net", "--unshare-pid",
               "--unshare-user", "--uid", "65534", "--gid", "65534", "--cap-drop", "ALL", "--die-with-parent"]


def _can_mount_tmpfs() -> bool:
    """Root can give each scratch folder a size-capped tmpfs of its own."""
    if not (sys.platform.startswith("linux") and os.geteuid() == 0 and shutil.which("mount")):
        return False
    import tempfile

    with tempfile.TemporaryDirectory(prefix="autograder-probe-") as folder:
        if not _works(["mount", "-t", "tmpfs", "-o", "size=1m", "autograder-probe", folder]):
            return False
        return _works(["umount", folder])


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _cgroup_writable(controller: str) -> bool:
    path = CGROUP_ROOT / controller
    return sys.platform.startswith("linux") and path.is_dir() and os.access(path, os.W_OK) \
        and (path / "cgroup.procs").exists()


@functools.lru_cache(maxsize=1)
def probe() -> tuple[Layer, ...]:
    """Which layers this machine supports, and why not when it does not."""
    bwrap = shutil.which("bwrap")
    has_bwrap = bwrap is not None and _works([bwrap, *BWRAP_PROBE, "true"])
    unshare = shutil.which("unshare")
    has_netns = has_bwrap or (unshare is not None and _works([unshare, "--net", "true"]))
    prlimit = shutil.which("prlimit")
    if not sys.platform.startswith("linux"):
        missing = f"not available on {sys.platform}"
        return tuple(Layer(n, False, missing) for n in ("network", "filesystem", "user", "limits", "processes",
                                                         "disk"))
    tmpfs = _can_mount_tmpfs()
    return (
        Layer("network", has_netns, "bubblewrap network namespace" if has_bwrap else
              "unshare --net" if has_netns else "no network namespaces here (install bubblewrap, or run as root)"),
        Layer("filesystem", has_bwrap, "bubblewrap: only the system and the Python runtime, read-only; the "
              "kernel's own root folder is its only writable place"
              if has_bwrap else "bubblewrap is not installed or cannot run here (apt-get install bubblewrap)"),
        Layer("user", has_bwrap, ("a real unprivileged user (uid 65534) with no capabilities" if _is_root() else
                                  "uid 65534 inside a user namespace, no capabilities (the grading user outside)")
              if has_bwrap else "needs bubblewrap"),
        Layer("limits", bool(prlimit), f"prlimit: memory {MEMORY_LIMIT // 2**30} GiB, files "
              f"{FILE_SIZE_LIMIT // 2**20} MB, CPU time" if prlimit else "prlimit (util-linux) is not installed"),
        Layer("processes", _cgroup_writable("pids"), f"cgroup v1: at most {MAX_PROCESSES} processes and "
              f"threads, {CGROUP_MEMORY_LIMIT // 2**30} GiB" if _cgroup_writable("pids")
              else "cgroup v1 pids controller not writable here (needs root)"),
        Layer("disk", tmpfs, f"the scratch folder is a {SCRATCH_SIZE // 2**30} GiB tmpfs: all the kernel can write"
              if tmpfs else "needs root to mount a size-capped tmpfs; only the per-file limit applies"),
    )


def stop_descendants() -> None:
    """Kill every process this one started, and theirs (worker processes, kernels, what they left)."""
    import psutil

    for child in psutil.Process().children(recursive=True):
        try:
            child.kill()
        except psutil.Error:
            pass


STALE_AFTER_S = 3600  # a folder or group this old, of a grader that named no owner, was left by a killed one
# Every name the grader makes in the temporary folder or the cgroups ends in its owner: PREFIX-PID.START-RANDOM
# (START: the process's start, whole seconds), so that a later start can tell a killed grader's leftovers
# from a live grader's, whose pid may be reused by then.
OWNER = re.compile(r"-(\d+)\.(\d+)-[a-z0-9_]+$")
# Temporary folders the grader makes, by prefix; True: one whose name has no owner (made by an older
# version) is judged by its age. The batch's folders live as long as a whole class: only by their owner.
TEMPORARY = {"autograder-records-": True, "autograder-forkserver-": True, "autograder-task-": False,
             "autograder-batch-": False}
SCRATCH = re.compile(r"^autograder-(\d+\.\d+-)?[a-z0-9_]{8}$")  # Sandbox.new's, apart from the prefixes above


def owner_tag() -> str:
    """This process, as the names of what it makes end: PID.START."""
    import psutil

    return f"{os.getpid()}.{int(psutil.Process().create_time())}"


def owned_tempdir(prefix: str) -> Path:
    """A new temporary folder whose name says which process made it (see OWNER)."""
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{owner_tag()}-"))


def _owner_gone(name: str) -> bool | None:
    """Whether the process a name ends in has ended (its pid gone, or now another process's); None
    when the name names no owner."""
    import psutil

    found = OWNER.search(name)
    if found is None:
        return None
    try:
        started: float = psutil.Process(int(found[1])).create_time()
        return abs(started - int(found[2])) > 1
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:  # cannot tell: someone's
        return False


def _stale(path: Path, by_age: bool = True) -> bool:
    """Left by a grader that was killed: its owner is gone, or, named by no owner, it is old."""
    gone = _owner_gone(path.name)
    if gone is not None:
        return gone
    return by_age and time.time() - path.stat().st_mtime > STALE_AFTER_S


def _remove_stale_cgroups() -> None:
    """Remove empty groups left by graders that were killed; a live grader's or a busy group is someone's."""
    for controller in ("pids", "memory"):
        for group in (CGROUP_ROOT / controller).glob("cnn-autograder-*"):
            try:
                if _stale(group) and not (group / "cgroup.procs").read_text().strip():
                    group.rmdir()
            except OSError:
                pass


def _remove_stale_mounts() -> None:
    """Unmount scratch tmpfs folders left by graders that were killed before cleaning up."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return
    for line in mounts:
        device, mount_point, kind = line.split()[:3]
        folder = Path(mount_point.replace("\\040", " "))
        if device != "cnn-autograder" or kind != "tmpfs" or not folder.name.startswith("autograder-"):
            continue
        try:
            if _stale(folder) and _works(["umount", "--lazy", str(folder)]):
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            pass


def _leftovers() -> list[tuple[Path, bool]]:
    """The grader's temporary folders on this machine, each with whether an unowned one goes by age."""
    found = []
    for folder in Path(tempfile.gettempdir()).glob("autograder-*"):
        by_age = next((age for prefix, age in TEMPORARY.items() if folder.name.startswith(prefix)), None)
        if by_age is None and SCRATCH.match(folder.name):
            by_age = True
        if by_age is not None:
            found.append((folder, by_age))
    return found


def _in_use(folder: Path) -> bool:
    """A process works in it (an older fork server's home is its working folder, and names no owner)."""
    import psutil

    for process in psutil.process_iter(["cwd"]):
        if process.info["cwd"] == str(folder):
            return True
    return False


def remove_stale_folders() -> None:
    """Remove the temporary folders of graders that were killed (kill -9, the OOM killer) before
    cleaning up; never a live grader's. Its scratch mounts go first (as root)."""
    _remove_stale_mounts()
    for folder, by_age in _leftovers():
        try:
            if _stale(folder, by_age) and not os.path.ismount(folder) and \
                    (OWNER.search(folder.name) or not _in_use(folder)):
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            pass


@dataclass
class Sandbox:
    """The confinement of one kernel, and its whole life, as a context manager:

        with Sandbox.new(readable=[data], hide=[...], cpu_seconds=600) as box:
            argv = box.wrap(kernel_argv)   # only builds a command line
            ...                            # run the kernel; box.cleanup() once it is stopped

    entering mounts the size-capped scratch folder, lays out the kernel's root and makes the cgroups;
    leaving kills whatever is left in them, removes them, unmounts and deletes the scratch folder."""

    scratch: Path
    readable: list[Path]  # files the kernel must read (the data), shown to it under READABLE_INSIDE
    hide: list[Path]  # files or folders inside the bound runtime that the kernel must not see
    cpu_seconds: int
    layers: tuple[Layer, ...] = field(default_factory=probe)
    enabled: bool = True
    cgroups: list[Path] = field(default_factory=list)
    mounted: bool = False
    owns_scratch: bool = False  # made by Sandbox.new: removed on leaving
    _records: Path | None = None

    def active(self, name: str) -> bool:
        return self.enabled and any(layer.name == name and layer.active for layer in self.layers)

    @property
    def isolates_network(self) -> bool:
        return self.active("network")

    def summary(self) -> Isolation:
        layers: list[IsolationLayer] = [{"name": l.name, "active": self.active(l.name),
                   "how": l.how if self.enabled else "switched off (--no-sandbox)"} for l in self.layers]
        on = [l.name for l in self.layers if self.active(l.name)]
        off = [l.name for l in self.layers if not self.active(l.name)]
        if not on:
            text = "none: the notebook ran with the grading user's files, network and limits"
        else:
            text = "active: " + ", ".join(on) + ("; missing: " + ", ".join(off) if off else "")
        return {"active": on, "missing": off, "layers": layers, "summary": text}

    # ------------------------------------------------------------ the kernel's file system
    # scratch/root is everything the kernel may write: with the filesystem layer it is the kernel's
    # whole "/" (so ~/x, /tmp/x and ../../x all work and stay here); without it, the kernel's home
    # and working folder live inside it all the same. scratch/grader holds what only the grader
    # writes (kernel spec, log, copies of saved models); scratch/grader/ipc the sockets both share.

    @property
    def root(self) -> Path:
        return self.scratch / "root"

    @property
    def records(self) -> Path:
        """Where the grader keeps what the kernel sent (its saved models): beside the scratch folder, not in
        it, so a kernel that fills all it may write cannot stop the grader keeping its record."""
        if self._records is None:
            self._records = owned_tempdir("autograder-records-")
        return self._records

    @property
    def grader_dir(self) -> Path:
        return self.scratch / "grader"

    @property
    def ipc_dir(self) -> Path:
        return self.grader_dir / "ipc"

    def readable_inside(self, path: Path) -> str:
        """Where the kernel reads one of the readable files: a folder of its own, not the grader's."""
        if self.active("filesystem"):
            return f"{READABLE_INSIDE}/{Path(path).name}"
        return str(path)

    @property
    def shm(self) -> Path:
        """The kernel's /dev/shm, as the host sees it: in the scratch folder, so it counts toward the one limit
        on all the kernel can write (a /dev/shm of the kernel's own /dev would be a second, uncapped disk)."""
        return self.scratch / "shm"

    @property
    def home(self) -> Path:
        """The kernel's home and working folder, as the host sees it."""
        return self.root / HOME_INSIDE.lstrip("/")

    @classmethod
    def new(cls, **kwargs: Any) -> Sandbox:
        """A sandbox in a fresh scratch folder of its own (removed when the sandbox is left)."""
        remove_stale_folders()
        scratch = owned_tempdir("autograder-")
        scratch.chmod(0o755)  # mkdtemp makes it 0700; the kernel's user must reach its root inside it
        return cls(scratch=scratch, owns_scratch=True, **kwargs)

    def __enter__(self) -> "Sandbox":
        try:
            self.prepare()
            if self.active("processes"):
                self.cgroups = self._make_cgroups()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
        self.unmount_scratch()
        if self.owns_scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)
        if self._records is not None:
            shutil.rmtree(self._records, ignore_errors=True)

    def prepare(self) -> None:
        """Before the kernel starts: cap the scratch folder and lay out the kernel's root."""
        if self.active("disk") and not self.mounted:
            _remove_stale_mounts()
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SCRATCH_SIZE},mode=755", "cnn-autograder",
                            str(self.scratch)], check=True, capture_output=True)
            self.mounted = True
        for folder in (self.home, self.root / "tmp", self.shm, self.root / "etc", self.ipc_dir):
            folder.mkdir(parents=True, exist_ok=True)
        for shared in (self.root / "tmp", self.shm):
            shared.chmod(0o1777)
        # Who the kernel is: a plain user, so getpass, matplotlib and pip --user behave as at home.
        (self.root / "etc" / "passwd").write_text(f"root:x:0:0:root:/root:/bin/sh\n"
                                                 f"student:x:{KERNEL_UID}:{KERNEL_UID}:student:{HOME_INSIDE}:/bin/sh\n")
        (self.root / "etc" / "group").write_text(f"root:x:0:\nstudent:x:{KERNEL_UID}:\n")
        if self.active("user") and _is_root():
            for path in (self.root, self.home, self.home.parent, self.ipc_dir):
                os.chown(path, KERNEL_UID, KERNEL_UID)

    def give_to_kernel(self, path: Path) -> None:
        """Let the kernel's user read a file the grader wrote for it."""
        if self.active("user") and _is_root():
            os.chown(path, KERNEL_UID, KERNEL_UID)

    def unmount_scratch(self) -> None:
        """After the grader has read what it needs from the scratch folder."""
        if self.mounted:
            subprocess.run(["umount", "--lazy", str(self.scratch)], capture_output=True)
            self.mounted = False

    def wrap(self, argv: list[str]) -> list[str]:
        """The kernel's command with every active layer around it."""
        if self.active("filesystem"):
            # bwrap's --die-with-parent ties the sandbox to bwrap; pdeathsig ties bwrap to the grader,
            # so a grader killed with SIGKILL leaves no kernel behind. Inside, setpriv drops to a real
            # unprivileged uid: a file only the host's root may read stays unreadable.
            drop = ["setpriv", f"--reuid={KERNEL_UID}", f"--regid={KERNEL_UID}", "--clear-groups",
                    "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"] if _is_root() else []
            argv = ["setpriv", "--pdeathsig", "KILL", "--"] + self.bwrap_args() + ["--"] + drop + argv
        elif self.active("network"):
            argv = ["unshare", "--net"] + argv
        if self.active("limits"):
            argv = ["prlimit", *(f"--{name}={value}" for name, value in self.limits().items()), "--"] + argv
        if self.cgroups:  # made on entering the sandbox
            joins = " ".join(f'echo $$ > "{g}/cgroup.procs" &&' for g in self.cgroups)
            argv = ["sh", "-c", f'{joins} exec "$@"', "sandbox"] + argv
        return self._tied_to_grader(argv)

    def limits(self) -> dict[str, int]:
        """The kernel's resource limits, by prlimit's names (the fork server sets the same with setrlimit)."""
        return {"data": MEMORY_LIMIT, "fsize": FILE_SIZE_LIMIT, "nofile": MAX_OPEN_FILES, "core": 0,
                "cpu": self.cpu_seconds}

    @staticmethod
    def _tied_to_grader(argv: list[str]) -> list[str]:
        """Kill the launch if the grader dies, from its first instruction: a grader killed between
        forking the launcher and bwrap's own pdeathsig (Ctrl-C in a batch) left an orphan kernel idling
        forever. The signal is set first, then the parent is checked: if it is no longer the grader,
        the grader died before the signal was armed, and the launch stops there."""
        if not shutil.which("setpriv"):
            return argv
        guard = f'[ "$PPID" = "{os.getpid()}" ] || exit 1; exec "$@"'
        return ["setpriv", "--pdeathsig", "KILL", "--", "sh", "-c", guard, "guard"] + argv

    def runtime(self) -> list[Path]:
        """What the kernel needs of the host, read-only: the Python runtime and its packages."""
        import site

        paths = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, locations.PACKAGE)}
        # Packages may also come from the user's site or a .pth file: every site-packages on the path.
        paths |= {Path(p).resolve() for p in [site.getusersitepackages(), *sys.path]
                  if Path(p).name in ("site-packages", "dist-packages") and Path(p).is_dir()}
        return sorted((p for p in paths if p.exists()), key=lambda p: len(p.parts))

    def bwrap_args(self) -> list[str]:
        """Nothing of the host but the system's programs and libraries and the Python runtime, all
        read-only: no checkout, no .git, no other submissions, no /var, /run or host sockets."""
        args = ["bwrap", "--bind", str(self.root), "/", "--ro-bind", "/usr", "/usr"]
        for link in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            host = Path("/") / link
            if host.is_symlink():
                args += ["--symlink", os.readlink(host), f"/{link}"]
            elif host.is_dir():
                args += ["--ro-bind", str(host), f"/{link}"]
        for name in SYSTEM_FILES:
            if Path(name).exists():
                args += ["--ro-bind", name, name]
        bound: list[Path] = []
        for path in self.runtime():
            if not any(b in path.parents for b in bound):
                self._mountpoint(path)
                args += ["--ro-bind", str(path), str(path)]
                bound.append(path)
        for seen, real in self.linked_runtime():  # the kernel is started by the path the grader was
            self._mountpoint(real, at=seen)
            args += ["--ro-bind", str(real), str(seen)]
        for secret in self.hide:  # grader files inside a bound folder (the reference ships in the package)
            secret = Path(secret).resolve()
            if secret.exists() and any(b in secret.parents for b in bound):
                args += ["--ro-bind", "/dev/null", str(secret)] if secret.is_file() else ["--tmpfs", str(secret)]
        for path in self.readable:  # the data, kept in the grader's cache: the kernel sees the file, not the folder
            self._mountpoint(Path(path), at=Path(self.readable_inside(path)))
            args += ["--ro-bind", str(Path(path).resolve()), self.readable_inside(path)]
        self._mountpoint(self.ipc_dir)
        args += ["--bind", str(self.ipc_dir), str(self.ipc_dir),
                 "--dev", "/dev", "--bind", str(self.shm), "/dev/shm", "--proc", "/proc", "--chdir", HOME_INSIDE,
                 # ipykernel exits when its parent looks gone, and in a PID namespace its parent is pid 1;
                 # --die-with-parent does that job here.
                 "--unsetenv", "JPY_PARENT_PID",
                 "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", "student",
                 "--die-with-parent", "--new-session"]
        if not _is_root():  # no real uid to drop to: nobody inside a user namespace
            args += ["--unshare-user", "--uid", str(KERNEL_UID), "--gid", str(KERNEL_UID), "--cap-drop", "ALL"]
        # As root, the setpriv inside needs CAP_SETUID once; it then drops every capability with the uid.
        return args

    @staticmethod
    def linked_runtime() -> list[tuple[Path, Path]]:
        """(path as the grader knows it, real path) for a Python runtime reached through a symbolic link
        (`~/venv -> /data/venv`): sys.executable and sys.path name the first, so the kernel needs it too."""
        pairs = []
        for prefix in sorted({sys.prefix, sys.exec_prefix}):
            seen, real = Path(os.path.abspath(prefix)), Path(prefix).resolve()
            if seen != real and real.is_dir():
                pairs.append((seen, real))
        return pairs

    def _mountpoint(self, host_path: Path, at: Path | None = None) -> None:
        """Create the folders a bind mount lands on, traversable by the kernel's user (bwrap's own are 0700)."""
        host_path = Path(host_path).resolve()
        current = self.root
        for part in (at or host_path).parts[1:]:
            current = current / part
            if current.exists():
                continue
            if current.name == host_path.name and host_path.is_file():
                current.touch(mode=0o644)  # a file is bound onto a file
            else:
                current.mkdir(mode=0o755)
                current.chmod(0o755)

    def _make_cgroups(self) -> list[Path]:
        _remove_stale_cgroups()
        name = f"cnn-autograder-{owner_tag()}-{uuid.uuid4().hex[:12]}"
        made = []
        for controller, settings in (("pids", {"pids.max": str(MAX_PROCESSES)}),
                                     ("memory", {"memory.limit_in_bytes": str(CGROUP_MEMORY_LIMIT)})):
            if not _cgroup_writable(controller):
                continue
            group = CGROUP_ROOT / controller / name
            try:
                group.mkdir()
                for key, value in settings.items():
                    (group / key).write_text(value)
                made.append(group)
            except OSError:
                continue
        return made

    def cleanup(self) -> None:
        """After the kernel is gone: kill anything left in its cgroups, then remove them (again on leaving:
        a second call finds nothing to do)."""
        for group in self.cgroups:
            try:
                for pid in (group / "cgroup.procs").read_text().split():
                    try:
                        os.kill(int(pid), 9)
                    except ProcessLookupError:
                        pass
                for _ in range(50):
                    try:
                        group.rmdir()
                        break
                    except OSError:  # still emptying
                        time.sleep(0.1)
            except OSError:
                pass
        self.cgroups = []
