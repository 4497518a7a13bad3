"""Which MNIST the student's `mnist.load_data()` gets, with no internet.

In order: the genuine full mnist.npz in the Keras cache (checked by sha256 and
only ever read, so Keras can never delete it); else a file the user names with
--data; else the real-MNIST subset embedded in this package.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import locations
from .errors import SetupError

FULL_MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
KEYS = ("x_train", "y_train", "x_test", "y_test")


@dataclass(frozen=True)
class DataSource:
    kind: str  # "keras-cache", "user-file" or "embedded"
    path: Path
    sha256: str
    description: str  # one line for the report
    train_images: int
    test_images: int


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sizes(path: Path) -> tuple[int, int]:
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in KEYS if k not in f.files]
            if missing:
                raise SetupError(path, f"the data file has no {', '.join(missing)}; it needs the arrays "
                                       + ", ".join(KEYS) + " (as numpy.savez writes them)")
            x_train, x_test = f["x_train"], f["x_test"]
    except (OSError, ValueError) as exc:
        raise SetupError(path, f"cannot read it as a .npz file ({exc})") from None
    for name, array in (("x_train", x_train), ("x_test", x_test)):
        if array.ndim != 3 or array.shape[1:] != (28, 28):
            raise SetupError(path, f"{name} has shape {array.shape}; MNIST images are (N, 28, 28)")
    return x_train.shape[0], x_test.shape[0]


def resolve(user_file: Path | None = None) -> DataSource:
    cached = locations.keras_cache_mnist()
    if cached.is_file() and _sha256(cached) == FULL_MNIST_SHA256:
        train, test = _sizes(cached)
        return DataSource("keras-cache", cached, FULL_MNIST_SHA256,
                          f"the full MNIST from the Keras cache ({train:,} training and {test:,} test images)",
                          train, test)
    if user_file is not None:
        path = Path(user_file).resolve()
        if not path.is_file():
            raise SetupError(path, "the --data file does not exist")
        train, test = _sizes(path)
        return DataSource("user-file", path, _sha256(path),
                          f"{path.name}, named with --data ({train:,} training and {test:,} test images)",
                          train, test)
    path = locations.EMBEDDED_MNIST
    train, test = _sizes(path)
    return DataSource("embedded", path, _sha256(path),
                      f"the real-MNIST subset built into the grader ({train:,} training and {test:,} test images)",
                      train, test)
