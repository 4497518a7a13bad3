"""The models' own process, its side (model_worker.py is the grader's side): JSON-line requests on standard
input, answers on standard output, one at a time, under its own memory limit. It imports TensorFlow once,
with the brief training's arithmetic pinned, before the first request. Run as `python -m autograder.model_process`."""

from __future__ import annotations

import json
import os
import resource
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .facts import SavedCompile

MEMORY_LIMIT = 3 * 2**30  # RLIMIT_DATA of the child; the lesson's network trains in well under 1 GiB


def _requests() -> dict[str, Callable[..., Any]]:
    from . import describe, model_file, training
    from .harness.kernel_side import weights_fingerprint  # the very digest the harness takes after fit

    def compile_settings(path: str) -> SavedCompile | None:
        return describe.compile_settings(model_file.read_config(Path(path)).get("compile_config"))

    def fingerprint(path: str) -> str:
        model, _ = model_file.load_safely(Path(path))
        digest: str = weights_fingerprint(model.weights)
        return digest

    return {"describe": lambda path: describe.describe_model(Path(path)), "compile_settings": compile_settings,
            "fingerprint": fingerprint, "train": training.train_from_files}


def serve() -> None:
    """The child's loop: one request at a time, until its input closes."""
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # a print anywhere below must not break the protocol
    resource.setrlimit(resource.RLIMIT_DATA, (MEMORY_LIMIT, MEMORY_LIMIT))
    from . import quiet

    quiet.import_keras_quietly()  # TensorFlow once, with the arithmetic pinned, before any request
    handlers = _requests()
    answers.write("{\"ready\": true}\n")
    answers.flush()
    for line in sys.stdin:
        request = json.loads(line)
        try:
            answer = {"value": handlers[request["name"]](*request["args"])}
        except Exception as exc:  # the model's own problem: the grader reports it
            if isinstance(exc, MemoryError) or type(exc).__name__ == "ResourceExhaustedError":  # TensorFlow's
                answer = {"too_large": "it needs more memory than the grader gives a model"}
            else:
                answer = {"error": type(exc).__name__, "message": str(exc)[:2000]}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    serve()
