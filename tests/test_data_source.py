"""Where MNIST comes from, with no internet: Keras cache, --data, or the embedded subset."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from autograder import Assignment, data, grade, locations
from autograder.errors import SetupError
from conftest import by_id, sha256

pytestmark = pytest.mark.slow  # real notebooks in real kernels

EMBEDDED_SHA256 = {  # printed by scripts/build_embedded_mnist.py
    "x_train": "05010eb906ea2600d8d11a7866f9a1c75429505fc1c2b174e75d0a4461dfe52d",
    "y_train": "760163352046325b63b45874c5ec9719fbe010ac425694157bf2d5f5febb9097",
    "x_test": "6f98b1b31687e7b6a3ce14a433e7b1e807786c1d39e09b23df36d8856a1c19af",
    "y_test": "48c807f0f24cd2cf0a172f8a673358492154b5bc8d39e1ddf78c3432a827c6bc",
}


def test_embedded_subset_is_the_documented_real_mnist():
    with np.load(locations.EMBEDDED_MNIST) as f:
        for key, digest in EMBEDDED_SHA256.items():
            assert hashlib.sha256(np.ascontiguousarray(f[key]).tobytes()).hexdigest() == digest
        assert f["x_train"].shape == (4000, 28, 28) and f["x_test"].shape == (1000, 28, 28)
        assert np.bincount(f["y_test"]).tolist() == [100] * 10


def test_default_is_the_embedded_subset():
    source = data.resolve(None)
    assert source.kind == "embedded" and "built into the grader" in source.description


def test_a_wrong_mnist_npz_in_the_keras_cache_is_ignored_and_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    fake = tmp_path / "datasets" / "mnist.npz"
    fake.parent.mkdir()
    fake.write_bytes(b"not really mnist")
    assert data.resolve(None).kind == "embedded"
    assert fake.read_bytes() == b"not really mnist"  # Keras would have deleted it


def test_user_file_must_have_the_four_arrays(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(SetupError, match="y_train"):
        data.resolve(bad)
    with pytest.raises(SetupError, match="does not exist"):
        data.resolve(tmp_path / "missing.npz")


def test_student_load_data_gets_the_users_file(tmp_path, graded):
    with np.load(locations.EMBEDDED_MNIST) as f:
        small = {"x_train": f["x_train"][:2500], "y_train": f["y_train"][:2500],
                 "x_test": f["x_test"][:500], "y_test": f["y_test"][:500]}
    path = tmp_path / "small.npz"
    np.savez(path, **small)
    before = sha256(path)
    result = grade(locations.REFERENCE, Assignment.load(data_file=path))
    assert result.data_source["kind"] == "user-file" and "small.npz" in result.data_source["description"]
    assert result.facts["fit"]["x"]["shape"] == [60000, 28, 28, 1]  # MNIST's sizes, filled from the file
    assert result.data_source["repeated"]
    assert result.facts["fit"]["validation_data"]["items"][0]["split"] == "test"
    assert result.full_marks
    assert sha256(path) == before
    assert not (Path(os.environ["KERAS_HOME"]) / "datasets").exists()  # the kernel never used the Keras cache
