"""Kernels forked from a per-process fork server (harness/fork_server.py) instead of started afresh.

A fresh kernel spends ~3 s importing TensorFlow and Keras before the student's first cell; every
submission pays it again. The fork server pays it once per grading process: each submission's kernel is
a fresh fork of it, confined as bubblewrap would confine it (same arguments, carried out in the child),
in its own scratch folder and cgroups. jupyter_client starts kernels through a provisioner; the kernel
spec names ours ("autograder-fork", an entry point in pyproject.toml) and carries the confinement plan.

Used where it can hold every layer (Linux; as root, or with no layer that needs root); elsewhere, and
with --no-fork-server, the kernel is started as a command line wrapped by the sandbox (kernel.py).
"""

from __future__ import annotations

import atexit
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.provisioning.local_provisioner import LocalProvisioner

from .sandbox import KERNEL_UID, Sandbox, _is_root, owned_tempdir, probe, remove_stale_folders

SERVER_SOURCE = Path(__file__).with_name("harness") / "fork_server.py"
PROVISIONER = "autograder-fork"
ROOT_LAYERS = ("filesystem", "network", "processes", "disk")  # what only root can set up in-process


def usable(confined: bool) -> bool:
    """Whether a forked kernel here can be confined exactly as a started one would be (`confined`:
    the sandbox is on)."""
    if not (sys.platform.startswith("linux") and hasattr(os, "pidfd_open") and hasattr(socket, "send_fds")):
        return False
    return _is_root() or not confined or not any(l.active for l in probe() if l.name in ROOT_LAYERS)


# Passed through to the kernel when set: thread and BLAS settings that change speed or correctness.
PASS_THROUGH = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS", "TF_NUM_INTEROP_THREADS",
                "TF_NUM_INTRAOP_THREADS", "TF_ENABLE_ONEDNN_OPTS")


def server_env() -> dict[str, str]:
    """What the kernel's environment has in common with the fork server's, which imports TensorFlow
    for it: the variables read once at start or import (hash seed, TensorFlow's logging) must agree."""
    env = {k: os.environ[k] for k in PASS_THROUGH if k in os.environ}
    env.update({
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        "LANG": "C.UTF-8",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONHASHSEED": "0",
        "MPLBACKEND": "agg",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "AUTOGRADER_GRADING": "1",  # self_check() inside a graded notebook does nothing
    })
    return env


def plan(sandbox: Sandbox) -> dict[str, Any]:
    """What the fork server's child does before it becomes the kernel: the sandbox's own layers. Read
    here as the child will read them, so that an option it cannot carry out stops the grade at once,
    naming the option, instead of a kernel less confined than the report says."""
    bwrap = sandbox.bwrap_args() if sandbox.active("filesystem") else None
    if bwrap is not None:
        from .harness.fork_server import Confinement  # Linux only, as the filesystem layer is

        Confinement(bwrap)
    return {
        "bwrap": bwrap,
        "network": sandbox.active("network"),
        "uid": KERNEL_UID if sandbox.active("user") and _is_root() else None,
        "limits": sandbox.limits() if sandbox.active("limits") else None,
        "cgroups": [str(group) for group in sandbox.cgroups],
        "log": str(sandbox.grader_dir / "kernel.log"),
    }


class ForkServer:
    """One fork server process, owned by this grading process and tied to it (it dies with it)."""

    def __init__(self, env: dict[str, str]):
        remove_stale_folders()  # a killed grader's server left its home behind
        self.home = owned_tempdir("autograder-forkserver-")
        env = {**env, "HOME": str(self.home), "KERAS_HOME": str(self.home / ".keras"),
               "MPLCONFIGDIR": str(self.home / "matplotlib"), "TMPDIR": str(self.home),
               "AUTOGRADER_GRADER_PID": str(os.getpid())}
        ours, theirs = socket.socketpair()
        self.log = open(self.home / "server.log", "wb")
        self.process = subprocess.Popen([sys.executable, str(SERVER_SOURCE), str(theirs.fileno())],
                                        pass_fds=[theirs.fileno()], env=env, stdin=subprocess.DEVNULL,
                                        stdout=self.log, stderr=self.log, cwd=self.home)
        theirs.close()
        self.socket = ours
        self.lock = threading.Lock()

    def alive(self) -> bool:
        return self.process.poll() is None

    def fork(self, request: dict[str, Any]) -> tuple[int, int]:
        """A new kernel process for `request`: its pid and a pidfd for it."""
        with self.lock:
            try:
                self.socket.sendall(json.dumps(request).encode() + b"\n")
                reply, fds, _, _ = socket.recv_fds(self.socket, 1024, 1)
            except OSError:
                self._settle()
                raise
        words = reply.decode().split(" ", 1)
        if not reply or words[0] != "ok" or not fds:
            raise RuntimeError(f"the fork server did not start a kernel: {reply.decode() or self._tail()}")
        return int(words[1]), fds[0]

    def _settle(self) -> None:
        """Its socket broke: the server is ending (killed). Wait until it has, so that lost() says so."""
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def _tail(self) -> str:
        self.log.flush()
        lines = (self.home / "server.log").read_text(errors="replace").strip().splitlines()
        return " ".join(lines[-3:]) or "it stopped"

    def close(self) -> None:
        if self.log.closed:
            return
        self.socket.close()  # the server exits when its socket closes
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
        shutil.rmtree(self.home, ignore_errors=True)


_SERVER: ForkServer | None = None
_STARTING = threading.Lock()


def server() -> ForkServer:
    """This process's fork server, started on first use (and again if it died)."""
    global _SERVER
    with _STARTING:
        if _SERVER is None or not _SERVER.alive():
            if _SERVER is not None:
                _SERVER.close()
            _SERVER = ForkServer(server_env())
            atexit.register(_SERVER.close)
        return _SERVER


def lost() -> bool:
    """Whether this process's fork server has stopped since it was started (the next use restarts it)."""
    return _SERVER is not None and not _SERVER.alive()


def shutdown() -> None:
    """Stop this process's fork server, if it has one."""
    global _SERVER
    with _STARTING:
        if _SERVER is not None:
            _SERVER.close()
            _SERVER = None


def start_early(confined: bool) -> None:
    """Start the server now, when it will be used, so its imports overlap with the grader's own work."""
    if usable(confined):
        server()


class ForkedKernel:
    """The Popen-like handle jupyter_client's LocalProvisioner expects, for a process that is not our
    child: a pidfd says when it ended and takes the signals, so a reused pid is never hit."""

    def __init__(self, pid: int, pidfd: int):
        self.pid, self.pidfd = pid, pidfd
        self.returncode: int | None = None
        self.stdin = self.stdout = self.stderr = None

    def poll(self) -> int | None:
        if self.returncode is None and select.select([self.pidfd], [], [], 0)[0]:
            self.returncode = -1  # ended; its status went to the fork server, which reaps it
            os.close(self.pidfd)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None and not select.select([self.pidfd], [], [], timeout)[0]:
            raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)  # only a timeout ends select unready
        code = self.poll()
        return -1 if code is None else code

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            signal.pidfd_send_signal(self.pidfd, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class ForkProvisioner(LocalProvisioner):
    """Launches the kernel as a fork of this process's fork server; the rest is LocalProvisioner's."""

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        env = {k: v for k, v in kwargs["env"].items() if not k.startswith("JPY_")}
        manager: Any = self.parent  # the kernel manager that launches it
        request = {**self.kernel_spec.metadata["autograder"], "env": env,
                   "connection_file": manager.connection_file, "cwd": str(kwargs.get("cwd") or "")}
        try:
            pid, pidfd = server().fork(request)
        except (OSError, RuntimeError):
            if not lost():
                raise
            pid, pidfd = server().fork(request)  # it had stopped since its last use: a new one
        self.process = ForkedKernel(pid, pidfd)  # type: ignore[assignment]  # Popen-like: all LocalProvisioner uses
        self.pid, self.pgid = pid, None
        self.cwd = kwargs.get("cwd")
        return self.connection_info
