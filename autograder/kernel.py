"""How a grading kernel is launched: the one place to wrap it (sandboxing, limits).

Each submission gets a fresh ipykernel running the grader's own Python, so the
kernel has the same TensorFlow, Keras and matplotlib as the grader. The kernel
spec is written into the submission's scratch directory rather than looked up
by name, so a `python3` kernel installed elsewhere on the machine (another
Python, no TensorFlow) can never be picked by mistake.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager

from .sandbox import Sandbox

KERNEL_NAME = "cnn-autograder"


def kernel_env(scratch: Path) -> dict[str, str]:
    """The kernel's environment: quiet TensorFlow, Keras' cache inside the scratch directory."""
    env = dict(os.environ)
    env.update({
        "KERAS_HOME": str(scratch / ".keras"),  # never read or write the user's ~/.keras
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONHASHSEED": "0",
        "MPLBACKEND": "agg",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "AUTOGRADER_GRADING": "1",  # self_check() inside a graded notebook does nothing
    })
    return env


def kernel_manager(scratch: Path, sandbox: Sandbox | None = None) -> AsyncKernelManager:
    """A manager for one kernel, confined by `sandbox` when given (see sandbox.py)."""
    spec_dir = scratch / ".kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    confined = sandbox is not None and sandbox.enabled
    spec = {
        "argv": sandbox.wrap(argv) if confined else argv,
        "display_name": "cnn-autograder",
        "language": "python",
        # A signal would reach the sandbox's wrapper, not the kernel: interrupt with a message instead.
        "interrupt_mode": "message" if confined else "signal",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    specs = KernelSpecManager(kernel_dirs=[str(spec_dir.parent)], ensure_native_kernel=False)
    km = AsyncKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)
    km.connection_file = str(scratch / "connection.json")  # inside the scratch folder the kernel can see
    if confined and sandbox.isolates_network:
        # No TCP across a network namespace: Unix sockets in the scratch folder (paths < 108 bytes).
        (scratch / "ipc").mkdir(exist_ok=True)
        km.transport = "ipc"
        km.ip = str(scratch / "ipc" / "k")
    return km
