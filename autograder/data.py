"""Which images the student's `load_data()` gets, with no internet: the assignment's dataset (datasets.py).

In order: a file the user names with --data (an explicit choice wins); else, for
MNIST, the genuine full mnist.npz in the Keras cache (checked by sha256 and only
ever read, so Keras can never delete it); else the real subset of that dataset
embedded in this package. A dataset with no embedded subset (CIFAR-10) needs --data.

Whatever the source, the student's code sees the dataset's real sizes (MNIST's
60,000 training and 10,000 test images, CIFAR-10's 50,000 and 10,000): a smaller
source is repeated in its own order to fill them (`sized`), so
`reshape(60000, 28, 28, 1)` or `train_images[59999]` work as on any machine.
The grader's brief training uses the source as it is.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import datasets, locations
from .errors import SetupError

FULL_MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
KEYS = ("x_train", "y_train", "x_test", "y_test")
HEADS = "heads.npz"  # in a sized folder: each array's first images, by which the kernel recognises the splits
HEAD = 200


@dataclass(frozen=True)
class DataSource:
    kind: str  # "keras-cache", "user-file" or "embedded"
    path: Path
    sha256: str
    description: str  # one line for the report
    train_images: int
    test_images: int
    dataset: str  # datasets.DATASETS: what load_data() the kernel serves these images to


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _shape(dataset: datasets.Dataset) -> str:
    return "(N, " + ", ".join(str(n) for n in dataset.image_shape) + ")"


def _sizes(path: Path, dataset: datasets.Dataset) -> tuple[int, int]:
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
        if array.ndim != 1 + len(dataset.image_shape) or array.shape[1:] != dataset.image_shape:
            raise SetupError(path, f"{name} has shape {array.shape}; {dataset.title} images are {_shape(dataset)}")
        if dataset.name != "mnist" and array.dtype != np.uint8:  # Keras' files hold bytes (MNIST: as before)
            raise SetupError(path, f"{name} holds {array.dtype}; {dataset.title} images are uint8 (0 to 255)")
    return x_train.shape[0], x_test.shape[0]


def _counts(train: int, test: int) -> str:
    return f"{train:,} training and {test:,} test images"


def resolve(user_file: Path | None = None, dataset: str = "mnist") -> DataSource:
    """The data source of the assignment's dataset, in the order of the module docstring."""
    about = datasets.named(dataset)
    cached = locations.keras_cache_mnist()
    if dataset == "mnist" and user_file is None and cached.is_file() and _sha256(cached) == FULL_MNIST_SHA256:
        train, test = _sizes(cached, about)
        return DataSource("keras-cache", cached, FULL_MNIST_SHA256,
                          f"the full MNIST from the Keras cache ({_counts(train, test)})", train, test, dataset)
    if user_file is not None:
        path = Path(user_file).resolve()
        if not path.is_file():
            raise SetupError(path, "the --data file does not exist")
        train, test = _sizes(path, about)
        return DataSource("user-file", path, _sha256(path),
                          f"{path.name}, named with --data ({_counts(train, test)})", train, test, dataset)
    if about.embedded is None:
        raise SetupError(None, f"the grader has no {about.title} images of its own, and this assignment is graded "
                               f"on {about.title}: pass --data FILE.npz with x_train {_shape(about)} uint8, y_train, "
                               "x_test and y_test, as numpy.savez writes them")
    path = locations.embedded(about.embedded)
    train, test = _sizes(path, about)
    return DataSource("embedded", path, _sha256(path),
                      f"the real {about.title} subset built into the grader ({_counts(train, test)})",
                      train, test, dataset)


def _real_sizes(source: DataSource) -> dict[str, np.ndarray]:
    """The source's arrays with the dataset's real sizes: its images repeated in order where it has fewer."""
    about = datasets.named(source.dataset)
    with np.load(source.path, allow_pickle=False) as f:
        return {"x_train": np.resize(f["x_train"], (about.train_size, *about.image_shape)),
                "y_train": np.resize(f["y_train"], (about.train_size,)),
                "x_test": np.resize(f["x_test"], (about.test_size, *about.image_shape)),
                "y_test": np.resize(f["y_test"], (about.test_size,))}


def _atomically(target: Path, write: Callable[[Path], None], folder: bool) -> Path:
    """target, built once: written under a temporary name beside it, made readable to all, then renamed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if folder:
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    else:
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}-", suffix=target.suffix)
        os.close(fd)
        tmp = Path(name)
    try:
        write(tmp)
        for path in [tmp, *tmp.rglob("*")] if folder else [tmp]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        os.replace(tmp, target)
    except OSError:
        if not target.exists():  # another grader that built it first is not a failure
            raise
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()
    return target


def sized(source: DataSource, cache: Path) -> Path:
    """What the kernel reads for the assignment's dataset, with its real sizes (datasets.Dataset), built once
    per source in the grader's cache, under a name with the dataset and the source's sha256.
    MNIST: an .npz file, the source itself when it has them and anyone may read it.
    Other datasets: a folder of the files Keras' load_data() reads, in Keras' own format (kernel_side serves
    them to it), and HEADS."""
    if source.dataset == "mnist":
        if not repeated(source) and source.path.stat().st_mode & 0o004:
            return source.path
        target = cache / f"mnist-sized-{source.sha256[:16]}.npz"
        if target.is_file():
            return target

        def write_npz(tmp: Path) -> None:  # uncompressed: load_data reads it in milliseconds
            np.savez(tmp, **_real_sizes(source))  # type: ignore[arg-type]  # numpy's stub misreads **arrays

        return _atomically(target, write_npz, folder=False)
    target = cache / f"{source.dataset}-sized-{source.sha256[:16]}"
    if (target / HEADS).is_file():
        return target

    def write_folder(tmp: Path) -> None:
        arrays = _real_sizes(source)
        KERAS_FORMAT[source.dataset](tmp, arrays)
        np.savez(tmp / HEADS, **{k: v[:HEAD] for k, v in arrays.items()})  # type: ignore[arg-type]

    return _atomically(target, write_folder, folder=True)


def _idx(array: np.ndarray) -> bytes:
    """An array as an IDX file (the format of LeCun's MNIST files, which Fashion-MNIST keeps): a magic number
    that says unsigned bytes and the number of dimensions, each dimension big-endian, then the bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def _fashion_mnist_files(folder: Path, arrays: dict[str, np.ndarray]) -> None:
    """The four gzip IDX files keras.datasets.fashion_mnist.load_data() reads, under the names it asks for."""
    for name, key in (("train-labels-idx1-ubyte.gz", "y_train"), ("train-images-idx3-ubyte.gz", "x_train"),
                      ("t10k-labels-idx1-ubyte.gz", "y_test"), ("t10k-images-idx3-ubyte.gz", "x_test")):
        (folder / name).write_bytes(gzip.compress(_idx(arrays[key]), compresslevel=1, mtime=0))


def _cifar10_files(folder: Path, arrays: dict[str, np.ndarray]) -> None:
    """The folder keras.datasets.cifar10.load_data() reads: five pickled training batches of 10,000 images and
    a test batch, each {b"data": (n, 3072) uint8, channels first, b"labels": [int]}, as Toronto's file has them."""
    batches = folder / "cifar-10-batches-py-target" / "cifar-10-batches-py"
    batches.mkdir(parents=True)

    def batch(name: str, x: np.ndarray, y: np.ndarray) -> None:
        flat = np.ascontiguousarray(x.transpose(0, 3, 1, 2)).reshape(len(x), -1)
        with open(batches / name, "wb") as out:
            pickle.dump({b"data": flat, b"labels": [int(v) for v in y.reshape(-1)]}, out, protocol=4)

    x, y = arrays["x_train"], arrays["y_train"]
    per = len(x) // 5
    for i in range(5):
        batch(f"data_batch_{i + 1}", x[i * per:(i + 1) * per], y[i * per:(i + 1) * per])
    batch("test_batch", arrays["x_test"], arrays["y_test"])


# The files each dataset's load_data() reads, written from its arrays; MNIST reads the .npz itself.
KERAS_FORMAT: dict[str, Callable[[Path, dict[str, np.ndarray]], None]] = {
    "fashion_mnist": _fashion_mnist_files, "cifar10": _cifar10_files}


def repeated(source: DataSource) -> bool:
    """Whether the student's code sees the source's images repeated to fill the dataset's real sizes."""
    about = datasets.named(source.dataset)
    return (source.train_images, source.test_images) != (about.train_size, about.test_size)
