"""Quiet Keras: TensorFlow's C++ start-up chatter goes to file descriptor 2 whatever its log level;
the grader hides it so its own output stays readable."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any

_STDERR_LOCK = threading.Lock()


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """TensorFlow's C++ start-up logging ignores TF_CPP_MIN_LOG_LEVEL and writes to file
    descriptor 2; hide it so the grader's own output stays readable."""
    with _STDERR_LOCK:
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)


_IMPORTING = threading.Lock()


def import_keras_quietly() -> Any:
    """Keras for the grader's own work, with the brief training's arithmetic pinned (arithmetic.pin)
    before this process runs its first TensorFlow op."""
    with _IMPORTING, native_stderr_silenced():
        import keras
        import tensorflow as tf

        from . import arithmetic

        arithmetic.pin(tf)
    return keras
