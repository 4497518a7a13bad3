"""Which MNIST the student's `mnist.load_data()` gets, with no internet.

In order: a file the user names with --data (an explicit choice wins); else the
genuine full mnist.npz in the Keras cache (checked by sha256 and only ever read,
so Keras can never delete it); else the real-MNIST subset embedded in this package.

Whatever the source, the student's code sees MNIST's real sizes (60,000 training
and 10,000 test images): a smaller source is repeated in its own order to fill
them (`mnist_sized`), so `reshape(60000, 28, 28, 1)` or `train_images[59999]`
work as on any machine. The grader's brief training uses the source as it is.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import locations
from .errors import SetupError

FULL_MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
KEYS = ("x_train", "y_train", "x_test", "y_test")
MNIST_TRAIN, MNIST_TEST = 60_000, 10_000


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
    """The data source, in the order of the module docstring."""
    cached = locations.keras_cache_mnist()
    if user_file is None and cached.is_file() and _sha256(cached) == FULL_MNIST_SHA256:
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


def mnist_sized(source: DataSource, cache: Path) -> Path:
    """A file the kernel can read whose arrays have MNIST's real sizes: the source itself when it has
    them and anyone may read it, else a copy in the grader's cache with the source's images repeated
    in order (built once per source, written atomically)."""
    readable = source.path.stat().st_mode & 0o004
    if (source.train_images, source.test_images) == (MNIST_TRAIN, MNIST_TEST) and readable:
        return source.path
    target = cache / f"mnist-sized-{source.sha256[:16]}.npz"
    if target.is_file():
        return target
    with np.load(source.path, allow_pickle=False) as f:
        arrays = {"x_train": np.resize(f["x_train"], (MNIST_TRAIN, 28, 28)),
                  "y_train": np.resize(f["y_train"], (MNIST_TRAIN,)),
                  "x_test": np.resize(f["x_test"], (MNIST_TEST, 28, 28)),
                  "y_test": np.resize(f["y_test"], (MNIST_TEST,))}
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".mnist-sized-", suffix=".npz")
    with os.fdopen(fd, "wb") as out:
        np.savez(out, **arrays)  # type: ignore[arg-type]  # numpy's stub misreads **arrays; uncompressed: load_data reads it in milliseconds
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)
    return target


def repeated(source: DataSource) -> bool:
    """Whether the student's code sees the source's images repeated to fill MNIST's sizes."""
    return (source.train_images, source.test_images) != (MNIST_TRAIN, MNIST_TEST)
