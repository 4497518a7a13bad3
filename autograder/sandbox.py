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
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from . import locations

MEMORY_LIMIT = 3 * 2**30  # RLIMIT_DATA: the reference needs well under 1 GiB
CGROUP_MEMORY_LIMIT = 4 * 2**30  # whole kernel process tree, page cache included
FILE_SIZE_LIMIT = 256 * 2**20  # one file; model.keras is ~1.5 MB
MAX_PROCESSES = 512  # tasks (threads count): TensorFlow starts a few dozen
MAX_OPEN_FILES = 4096
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


def _cgroup_writable(controller: str) -> bool:
    path = CGROUP_ROOT / controller
    return sys.platform.startswith("linux") and path.is_dir() and os.access(path, os.W_OK) \
        and (path / "cgroup.procs").exists()


@functools.lru_cache(maxsize=1)
def probe() -> tuple[Layer, ...]:
    """Which layers this machine supports, and why not when it does not."""
    bwrap = shutil.which("bwrap")
    has_bwrap = bool(bwrap) and _works([bwrap, *BWRAP_PROBE, "true"])
    unshare = shutil.which("unshare")
    has_netns = has_bwrap or (bool(unshare) and _works([unshare, "--net", "true"]))
    prlimit = shutil.which("prlimit")
    if not sys.platform.startswith("linux"):
        missing = f"not available on {sys.platform}"
        return tuple(Layer(n, False, missing) for n in ("network", "filesystem", "user", "limits", "processes",
                                                         "disk"))
    tmpfs = _can_mount_tmpfs()
    return (
        Layer("network", has_netns, "bubblewrap network namespace" if has_bwrap else
              "unshare --net" if has_netns else "no network namespaces here (install bubblewrap, or run as root)"),
        Layer("filesystem", has_bwrap, "bubblewrap: read-only system, private /tmp, hidden grader files"
              if has_bwrap else "bubblewrap is not installed or cannot run here (apt-get install bubblewrap)"),
        Layer("user", has_bwrap, "bubblewrap: uid 65534, no capabilities" if has_bwrap else
              "needs bubblewrap"),
        Layer("limits", bool(prlimit), f"prlimit: memory {MEMORY_LIMIT // 2**30} GiB, files "
              f"{FILE_SIZE_LIMIT // 2**20} MB, CPU time" if prlimit else "prlimit (util-linux) is not installed"),
        Layer("processes", _cgroup_writable("pids"), f"cgroup v1: at most {MAX_PROCESSES} processes and "
              f"threads, {CGROUP_MEMORY_LIMIT // 2**30} GiB" if _cgroup_writable("pids")
              else "cgroup v1 pids controller not writable here (needs root)"),
        Layer("disk", tmpfs, f"the scratch folder is a {SCRATCH_SIZE // 2**30} GiB tmpfs: all the kernel can write"
              if tmpfs else "needs root to mount a size-capped tmpfs; only the per-file limit applies"),
    )


STALE_AFTER_S = 3600  # a group this old whose grader was killed (kill -9) before cleaning up


def _remove_stale_cgroups() -> None:
    """Remove empty groups left by graders that were killed; a young or busy group is someone's."""
    for controller in ("pids", "memory"):
        for group in (CGROUP_ROOT / controller).glob("cnn-autograder-*"):
            try:
                if time.time() - group.stat().st_mtime > STALE_AFTER_S and not (group / "cgroup.procs").read_text().strip():
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
            if time.time() - folder.stat().st_mtime > STALE_AFTER_S:
                subprocess.run(["umount", "--lazy", str(folder)], capture_output=True)
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            pass


@dataclass
class Sandbox:
    """The confinement of one kernel: wraps its command, and cleans up after it."""

    scratch: Path
    readable: list[Path]  # files the kernel must read even inside hidden folders (the data)
    hide: list[Path]  # folders the kernel must not see
    cpu_seconds: int
    layers: tuple[Layer, ...] = field(default_factory=probe)
    enabled: bool = True
    cgroups: list[Path] = field(default_factory=list)
    mounted: bool = False

    def active(self, name: str) -> bool:
        return self.enabled and any(layer.name == name and layer.active for layer in self.layers)

    @property
    def isolates_network(self) -> bool:
        return self.active("network")

    def summary(self) -> dict:
        layers = [{"name": l.name, "active": self.active(l.name),
                   "how": l.how if self.enabled else "switched off (--no-sandbox)"} for l in self.layers]
        on = [l["name"] for l in layers if l["active"]]
        off = [l["name"] for l in layers if not l["active"]]
        if not on:
            text = "none: the notebook ran with the grading user's files, network and limits"
        else:
            text = "active: " + ", ".join(on) + ("; missing: " + ", ".join(off) if off else "")
        return {"active": on, "missing": off, "layers": layers, "summary": text}

    def mount_scratch(self) -> None:
        """Before anything is written into it: cap what the kernel can write in total."""
        if self.active("disk") and not self.mounted:
            _remove_stale_mounts()
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SCRATCH_SIZE},mode=755", "cnn-autograder",
                            str(self.scratch)], check=True, capture_output=True)
            self.mounted = True

    def unmount_scratch(self) -> None:
        """After the grader has read what it needs from the scratch folder."""
        if self.mounted:
            subprocess.run(["umount", "--lazy", str(self.scratch)], capture_output=True)
            self.mounted = False

    def wrap(self, argv: list[str]) -> list[str]:
        """The kernel's command with every active layer around it."""
        if self.active("filesystem"):
            # bwrap's --die-with-parent ties the sandbox to bwrap; pdeathsig ties bwrap to the grader,
            # so a grader killed with SIGKILL leaves no kernel behind.
            argv = ["setpriv", "--pdeathsig", "KILL", "--"] + self._bwrap() + ["--"] + argv
        elif self.active("network"):
            argv = ["unshare", "--net"] + argv
        if self.active("limits"):
            argv = ["prlimit", f"--data={MEMORY_LIMIT}", f"--fsize={FILE_SIZE_LIMIT}",
                    f"--nofile={MAX_OPEN_FILES}", "--core=0", f"--cpu={self.cpu_seconds}", "--"] + argv
        if self.active("processes"):
            self.cgroups = self._make_cgroups()
            joins = " ".join(f'echo $$ > "{g}/cgroup.procs" &&' for g in self.cgroups)
            argv = ["sh", "-c", f'{joins} exec "$@"', "sandbox"] + argv
        return argv

    def _bwrap(self) -> list[str]:
        needed = [Path(p).resolve() for p in (sys.prefix, sys.base_prefix, locations.PACKAGE, *self.readable)]
        hide = {Path(p).resolve() for p in (Path.home(), *self.hide, locations.cache_dir(), locations.REFERENCE.parent)
                if Path(p).exists()}
        hide = sorted((h for h in hide if h not in needed and h != Path("/")), key=lambda p: len(p.parts))
        covered = [Path("/tmp"), *hide]
        args = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
        for folder in hide:
            args += ["--tmpfs", str(folder)]
        for path in needed:  # put back what the kernel needs from inside hidden folders
            if any(c in path.parents for c in covered):
                args += ["--ro-bind", str(path), str(path)]
        for folder in hide:  # and hide again what lies inside those
            if any(n in folder.parents for n in needed):
                args += ["--tmpfs", str(folder)]
        args += ["--bind", str(self.scratch), str(self.scratch), "--chdir", str(self.scratch),
                 "--setenv", "HOME", str(self.scratch), "--setenv", "MPLCONFIGDIR", str(self.scratch / ".mpl"),
                 # ipykernel exits when its parent looks gone, and in a PID namespace its parent is pid 1;
                 # --die-with-parent does that job here.
                 "--unsetenv", "JPY_PARENT_PID",
                 "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
                 "--unshare-user", "--uid", "65534", "--gid", "65534", "--cap-drop", "ALL",
                 "--die-with-parent", "--new-session"]
        return args

    def _make_cgroups(self) -> list[Path]:
        _remove_stale_cgroups()
        name = f"cnn-autograder-{uuid.uuid4().hex[:12]}"
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
        """After the kernel is gone: kill anything left in its cgroups, then remove them."""
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
