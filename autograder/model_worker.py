"""The models' own process: every model a notebook saved is loaded, described, fingerprinted and trained
here, in a child of the grader, never in the grader itself.

A notebook decides what its model is: nine hundred layers, an image upsampled 64 times, a config Keras
takes minutes to build. Whatever it is, the grader's own memory and time stay bounded: this child runs
under its own memory limit, each request under its own time limit, and when it is exceeded (or the child
dies) the child is killed and the request answers ModelTooLarge with the reason, which the report gives as
"too much to grade". The next request starts a fresh child. One child per grading process, reused across
the grades of a batch worker; it imports TensorFlow once, with the brief training's arithmetic pinned
(arithmetic.py).

Requests and answers are JSON lines on the child's standard input and output (the child's own prints go
nowhere); what comes back is plain data. This module is the grader's end; the child's loop is
model_process.py (it imports the stages that touch Keras, which import this module to ask the child).
"""

from __future__ import annotations

import functools
import json
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from .facts import BriefTraining, Digit3, ModelDescription, SavedCompile, TrainingResult

from . import locations
from .errors import TOO_MUCH

DESCRIBE_S = 60  # one load and description; the lesson's model takes under a second
MAX_ANSWER = 64 << 20  # one answer line


class ModelTooLarge(RuntimeError):
    """The model's process ran out of memory or time for this request: a reason for the report."""


class ModelError(RuntimeError):
    """The model's own problem, raised in the model's process ("ValueError: ...")."""


class ModelWorker:
    """The grader's end: start(), then describe / compile_settings / fingerprint / train. One request at a
    time (a lock): the brief training started early and a description asked for later take turns."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._buffer = b""
        self._ready = False  # the child said it imported TensorFlow (_started resets it for each child)

    def start(self) -> None:
        """Start the child now (its TensorFlow import overlaps with the kernel running the notebook)."""
        with self._lock:
            self._started()

    def _started(self) -> subprocess.Popen[bytes]:
        if self._process is None or self._process.poll() is not None:
            env = dict(os.environ)
            # The grader's package, wherever it is imported from (a checkout or an installed wheel).
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(locations.PACKAGE.parent), env.get("PYTHONPATH")]))
            self._process = subprocess.Popen([sys.executable, "-m", "autograder.model_process"], env=env,
                                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                             stderr=subprocess.DEVNULL)
            self._buffer = b""
            self._ready = False
        return self._process

    def _line(self, process: subprocess.Popen[bytes], deadline: float) -> dict[str, Any] | None:
        """The child's next answer line, or None when it died or the deadline passed."""
        fd = _pipe(process.stdout).fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or len(self._buffer) > MAX_ANSWER or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        answer: dict[str, Any] = json.loads(line)  # serve() writes one JSON object a line
        return answer

    def _call(self, name: str, args: list[Any], seconds: float, what: str) -> Any:
        """The child's answer's value (plain JSON, as the handler in _requests returned it)."""
        with self._lock:
            process = self._started()
            started = time.monotonic()
            if not self._ready:  # the import is not the model's time
                if self._line(process, started + 300) is None:
                    self._stop()
                    raise RuntimeError("the grader's model process could not start (TensorFlow did not import)")
                self._ready, started = True, time.monotonic()
            try:
                stdin = _pipe(process.stdin)
                stdin.write((json.dumps({"name": name, "args": args}) + "\n").encode())
                stdin.flush()
            except OSError:
                answer = None
            else:
                answer = self._line(process, started + seconds)
            if answer is None:
                died = process.poll() is not None
                self._stop()
                raise ModelTooLarge(f"{TOO_MUCH}: {what} " + (
                    "needed more memory than the grader gives a model" if died
                    else f"took more than {seconds:.0f} seconds"))
        if "value" in answer:
            return answer["value"]
        if "too_large" in answer:
            raise ModelTooLarge(f"{TOO_MUCH}: {what}: {answer['too_large']}")
        raise _error(answer)

    def _stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    # What the grader asks. Each path is a snapshot in the grader's own folder (events.Channel).
    def describe(self, path: Path) -> ModelDescription:
        described: ModelDescription = self._call("describe", [str(path)], DESCRIBE_S, "loading your model")
        return described

    def compile_settings(self, path: Path) -> SavedCompile | None:
        settings: SavedCompile | None = self._call("compile_settings", [str(path)], DESCRIBE_S,
                                                     "reading your model's compile settings")
        return settings

    def fingerprint(self, path: Path) -> str:
        digest: str = self._call("fingerprint", [str(path)], DESCRIBE_S, "loading your trained model")
        return digest

    def train(self, path: Path, data_path: str, settings: dict[str, Any], digit3_path: str,
              origins: dict[str, str | None] | None, target: float | None, *,
              seconds: float) -> TrainingResult:
        """training.train_from_files in the child, with these arguments."""
        training: BriefTraining
        digit3: Digit3 | None
        training, digit3 = self._call("train", [str(path), data_path, settings, digit3_path, origins, target],
                                      seconds, "training a copy of your network")
        return training, digit3


def _error(answer: dict[str, Any]) -> Exception:
    """The child's exception, as the grader's own type where the stages tell them apart."""
    from .model_file import UnsafeModel

    if answer.get("error") == "UnsafeModel":
        return UnsafeModel(answer.get("message", ""))
    return ModelError(f"{answer.get('error')}: {answer.get('message', '')}")


def _pipe(stream: IO[bytes] | None) -> IO[bytes]:
    """One of the child's pipes: _started always opens both (stdin=PIPE, stdout=PIPE)."""
    if stream is None:
        raise RuntimeError("the model process was started without its pipes")
    return stream


@functools.lru_cache(maxsize=1)
def worker() -> ModelWorker:
    """This process's model worker (one per grading process, kept for the next grade)."""
    return ModelWorker()

