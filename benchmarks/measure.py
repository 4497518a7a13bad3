"""What the benchmarks measure besides wall time: CPU time of a process and everything it starts, and
the peak memory of each worker slot.

CPU: a kernel started through the sandbox's wrappers, or forked by the fork server, is not a child this
process waits for, so getrusage() misses it. A cgroup's cpuacct counts every process in it, wherever in
the tree: the benchmark moves itself into a new group at start, and everything started later is counted.
Where that is impossible (not root, no cgroup v1 cpuacct), the numbers fall back to getrusage and say so.
"""

from __future__ import annotations

import os
import resource
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import psutil

CPUACCT = Path("/sys/fs/cgroup/cpuacct")
ROOT = Path(__file__).resolve().parent.parent  # the repository: older graders are its worktrees


def cpu_seconds() -> float:
    """CPU seconds used so far by this process's cpuacct cgroup (a CpuClock's group, inherited by a
    process it started), else by this process and the children it reaped."""
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if "cpuacct" in controllers.split(",") and path.startswith("/autograder-bench-"):
                return int((CPUACCT / path.lstrip("/") / "cpuacct.usage").read_text()) / 1e9
    except (OSError, ValueError):
        pass
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class CpuClock:
    """Seconds of CPU used by this process and all it starts from now on."""

    def __init__(self):
        self.group = CPUACCT / f"autograder-bench-{os.getpid()}"
        try:
            self.group.mkdir()
            (self.group / "cgroup.procs").write_text(str(os.getpid()))
            self.how = "cgroup cpuacct: every process started, kernels included"
        except OSError:
            self.group = None
            self.how = "getrusage: kernels not reaped by the grader are missed (run as root for cgroups)"

    def seconds(self) -> float:
        return cpu_seconds()  # this process is in the group now

    def close(self) -> None:
        if self.group is not None:
            (CPUACCT / "cgroup.procs").write_text(str(os.getpid()))
            for _ in range(50):
                try:
                    self.group.rmdir()
                    return
                except OSError:  # a process of ours is still leaving
                    time.sleep(0.1)


def tree_pss(process: psutil.Process) -> int:
    """Bytes of memory a process and its descendants use, shared pages divided among their users (PSS):
    a forked kernel's pages shared with its fork server count once, not twice."""
    total = 0
    try:
        tree = [process, *process.children(recursive=True)]
    except psutil.Error:  # it ended while we looked
        return 0
    for p in tree:
        try:
            total += p.memory_full_info().pss
        except psutil.Error:
            pass
    return total


class PeakMemory:
    """Samples, twice a second, the memory of each worker slot: a direct child of this process (a worker)
    with everything under it (its fork server, its kernels). `peak` is the largest slot ever seen."""

    def __init__(self, interval: float = 0.5):
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def _run(self, interval: float) -> None:
        me = psutil.Process()
        while not self._stop.wait(interval):
            try:
                workers = me.children()
            except psutil.Error:
                continue
            for worker in workers:
                self.peak = max(self.peak, tree_pss(worker))

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def checkout(revision: str) -> Path:
    """The grader at an older git revision, checked out beside this one (for a before/after measure)."""
    folder = Path(tempfile.mkdtemp(prefix="bench-before-"))
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(folder), revision], check=True,
                   capture_output=True)
    return folder


def drop_checkout(folder: Path) -> None:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(folder)], capture_output=True)
