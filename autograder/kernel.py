"""How a grading kernel is launched: the one place to wrap it (sandboxing, limits).

Each submission gets a fresh ipykernel running the grader's own Python, so the
kernel has the same TensorFlow, Keras and matplotlib as the grader. The kernel
spec is written into the submission's scratch directory rather than looked up
by name, so a `python3` kernel installed elsewhere on the machine (another
Python, no TensorFlow) can never be picked by mistake.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import zmq
from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager

from . import forking
from .forking import server_env  # the kernel's environment starts from the server's
from .sandbox import HOME_INSIDE, Sandbox

KERNEL_NAME = "cnn-autograder"
# One message from the kernel (an output, an error with its traceback). A larger one is refused by ZeroMQ
# before it is read, so a 200 MB exception message or display costs the grader nothing: it never arrives
# (the cell then ends by its time limit). The lesson's largest message, a plot, is well under 1 MB.
MAX_MESSAGE_BYTES = 32 << 20
SEND_TIMEOUT_MS = 10_000


class _CappedManager(AsyncKernelManager):
    """A kernel manager whose clients' sockets refuse messages over MAX_MESSAGE_BYTES."""

    def client(self, **kwargs: Any) -> AsyncKernelClient:  # type: ignore[override]  # typed blocking upstream
        client = super().client(**kwargs)
        client.context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)  # for the sockets it opens from now on
        # A kernel the grader can no longer reach (gone, or cut off for a message too large) must not hold a
        # request forever: a send waits at most this long, then fails like any dead kernel.
        client.context.setsockopt(zmq.SNDTIMEO, SEND_TIMEOUT_MS)
        client.context.setsockopt(zmq.LINGER, 0)
        return client


def kernel_env(sandbox: Sandbox) -> dict[str, str]:
    """The kernel's whole environment, allow-listed: none of the grader's variables reach it."""
    home = HOME_INSIDE if sandbox.active("filesystem") else str(sandbox.home)
    return {**server_env(),
            "HOME": home,
            "TMPDIR": "/tmp" if sandbox.active("filesystem") else str(sandbox.root / "tmp"),
            "KERAS_HOME": f"{home}/.keras",  # never the user's ~/.keras
            "MPLCONFIGDIR": f"{home}/.config/matplotlib"}


def forks(sandbox: Sandbox, fork: bool) -> bool:
    """Whether this kernel is forked from the fork server (see forking.py) rather than started afresh."""
    return fork and forking.usable(sandbox.enabled)


def kernel_manager(sandbox: Sandbox, fork: bool = True) -> AsyncKernelManager:
    """A manager for one kernel, confined by `sandbox` (see sandbox.py): a fork of this process's fork
    server (forking.py) when `fork` and it can hold every layer here, else a command line of its own."""
    spec_dir = sandbox.grader_dir / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    confined = sandbox.enabled and sandbox.active("filesystem") or sandbox.active("network")
    forked = forks(sandbox, fork)
    spec: dict[str, Any] = {
        "argv": argv if forked else sandbox.wrap(argv),  # forked: the plan below confines it instead
        "display_name": "cnn-autograder",
        "language": "python",
        # A signal would reach the sandbox's wrapper, not the kernel: interrupt with a message instead.
        "interrupt_mode": "message" if confined else "signal",
    }
    if forked:
        spec["metadata"] = {"kernel_provisioner": {"provisioner_name": forking.PROVISIONER},
                            "autograder": forking.plan(sandbox)}
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    specs = KernelSpecManager(kernel_dirs=[str(spec_dir.parent)], ensure_native_kernel=False)
    km = _CappedManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)
    # The kernel reads its connection file and binds its sockets in the one folder it shares with the grader.
    km.connection_file = str(sandbox.ipc_dir / "connection.json")
    if sandbox.isolates_network:
        # No TCP across a network namespace: Unix sockets (paths < 108 bytes).
        km.transport = "ipc"
        km.ip = str(sandbox.ipc_dir / "k")
    km.write_connection_file()  # written now (0600, the grader's), so it can be handed to the kernel's user
    sandbox.give_to_kernel(Path(km.connection_file))
    return km
