"""Where the assignment's images come from, with no internet: Keras cache (MNIST), --data, or the embedded
subset of its dataset; and what the student's load_data() returns in the real kernel."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder import Assignment, data, datasets, execute, grade, locations, rubric
from autograder.errors import SetupError
from autograder.pipeline import other_assignment
from conftest import CELL_TIMEOUT, by_id, sha256

# The tests that run real notebooks in real kernels are marked slow one by one; the others are fast.

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


@pytest.mark.slow  # a real notebook in a real kernel
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


FASHION_SHA256 = {  # printed by scripts/build_embedded_fashion_mnist.py (autograder/data/PROVENANCE.md)
    "x_train": "37572c5755c5ac5d27981a7aecc446d3827ab57e911aed326fec76c547664674",
    "y_train": "345c70e469d4f5abdc9968849f88d0c340a6321737b4c087f87e00bd4aa19f29",
    "x_test": "1afba2f7e0aee5157eff0db75dd1d7e8d71e7652d8ad80ac58ad96d4015d002d",
    "y_test": "420314db7a1bd306cdfb59d6c390c026b2950b10c5e560014c81ed94627aabab",
}


def raw_sha256(array) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def small_cifar(path: Path, train: int = 30, test: int = 20) -> Path:
    rng = np.random.default_rng(1)
    np.savez(path, x_train=rng.integers(0, 256, (train, 32, 32, 3), dtype=np.uint8),
             y_train=rng.integers(0, 10, (train, 1), dtype=np.uint8),
             x_test=rng.integers(0, 256, (test, 32, 32, 3), dtype=np.uint8),
             y_test=rng.integers(0, 10, (test,), dtype=np.uint8))
    return path


def test_embedded_fashion_mnist_is_the_documented_real_subset_400_and_100_per_class():
    with np.load(locations.embedded(datasets.named("fashion_mnist").embedded)) as f:
        assert {key: raw_sha256(f[key]) for key in FASHION_SHA256} == FASHION_SHA256
        assert f["x_train"].shape == (4000, 28, 28) and f["x_test"].shape == (1000, 28, 28)
        assert {f[k].dtype for k in data.KEYS} == {np.dtype(np.uint8)}
        assert np.bincount(f["y_train"]).tolist() == [400] * 10
        assert np.bincount(f["y_test"]).tolist() == [100] * 10
        assert not {x.tobytes() for x in f["x_test"]} & {x.tobytes() for x in f["x_train"]}
        assert len(set(f["y_train"][:20].tolist())) > 5  # shuffled, not sorted by class


def test_every_dataset_with_an_embedded_subset_ships_it_in_the_package_data():
    for about in datasets.DATASETS.values():
        if about.embedded is not None:
            assert locations.embedded(about.embedded).is_file(), about.name


def test_each_dataset_resolves_to_its_own_embedded_subset_and_says_which():
    mnist, fashion = data.resolve(None, "mnist"), data.resolve(None, "fashion_mnist")
    assert (mnist.dataset, fashion.dataset) == ("mnist", "fashion_mnist")
    assert mnist.path == locations.EMBEDDED_MNIST and mnist.sha256 != fashion.sha256
    assert fashion.kind == "embedded" and fashion.description == (
        "the real Fashion-MNIST subset built into the grader (4,000 training and 1,000 test images)")
    assert (fashion.train_images, fashion.test_images) == (4000, 1000) and data.repeated(fashion)
    assert data.resolve(None) == mnist  # MNIST unless an assignment names another


def test_only_mnist_is_taken_from_the_keras_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_sha256", lambda path: data.FULL_MNIST_SHA256)  # as if the full file were there
    monkeypatch.setattr(locations, "keras_cache_mnist", lambda: locations.EMBEDDED_MNIST)
    assert data.resolve(None, "mnist").kind == "keras-cache"
    assert data.resolve(None, "fashion_mnist").kind == "embedded"


def test_cifar10_without_data_is_refused_with_what_to_pass():
    with pytest.raises(SetupError) as refused:
        data.resolve(None, "cifar10")
    assert "no CIFAR-10 images of its own" in refused.value.reason
    assert "--data FILE.npz with x_train (N, 32, 32, 3) uint8, y_train, x_test and y_test, as numpy.savez " \
           "writes them" in refused.value.reason


def test_a_data_file_must_have_the_assignment_s_image_shape(tmp_path):
    cifar = small_cifar(tmp_path / "cifar.npz")
    source = data.resolve(cifar, "cifar10")
    assert (source.kind, source.dataset, source.train_images, source.test_images) == ("user-file", "cifar10", 30, 20)
    with pytest.raises(SetupError, match=r"x_train has shape \(30, 32, 32, 3\); Fashion-MNIST images are \(N, 28, 28\)"):
        data.resolve(cifar, "fashion_mnist")
    with pytest.raises(SetupError, match=r"CIFAR-10 images are \(N, 32, 32, 3\)"):
        data.resolve(locations.EMBEDDED_MNIST, "cifar10")


@pytest.mark.slow  # writes CIFAR-10 at its real size (150 MB) for Keras to read
def test_sized_fills_the_real_sizes_as_keras_own_load_data_returns_them(tmp_path, monkeypatch):
    """Each dataset's folder holds the files its load_data() reads; Keras' own code, reading them, returns the
    real sizes and types, the source's images repeated in order."""
    import keras
    import keras.src.datasets.cifar10 as cifar10_impl
    import keras.src.datasets.fashion_mnist as fashion_impl

    cache = tmp_path / "cache"
    for name, impl, source in (("fashion_mnist", fashion_impl, data.resolve(None, "fashion_mnist")),
                               ("cifar10", cifar10_impl, data.resolve(small_cifar(tmp_path / "c.npz"), "cifar10"))):
        about = datasets.named(name)
        folder = data.sized(source, cache)
        assert folder.name == f"{name}-sized-{source.sha256[:16]}" and data.sized(source, cache) == folder
        monkeypatch.setattr(impl, "get_file", lambda fname=None, *a, folder=folder, **k: str(folder / fname))
        (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, name).load_data()
        assert x_train.shape == (about.train_size, *about.image_shape) and x_test.shape[0] == about.test_size
        assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
        with np.load(source.path) as f:
            n, m = source.train_images, source.test_images
            assert np.array_equal(x_train[:n], f["x_train"]) and np.array_equal(x_train[n:2 * n], f["x_train"])
            assert np.array_equal(y_train[:n].reshape(-1), f["y_train"].reshape(-1))
            assert np.array_equal(x_test[:m], f["x_test"]) and np.array_equal(y_test[:m].reshape(-1), f["y_test"])
        with np.load(folder / data.HEADS) as heads:
            assert np.array_equal(heads["x_test"], x_test[:data.HEAD])
    assert y_train.shape == (50_000, 1)  # CIFAR-10's labels, as Keras gives them
    assert sorted(p.name for p in cache.iterdir() if not p.name.startswith(".")) == sorted(
        [f"fashion_mnist-sized-{data.resolve(None, 'fashion_mnist').sha256[:16]}",
         f"cifar10-sized-{data.resolve(tmp_path / 'c.npz', 'cifar10').sha256[:16]}"])


def test_mnist_is_sized_into_an_npz_named_for_its_source(tmp_path):
    source = data.resolve(None, "mnist")
    path = data.sized(source, tmp_path)
    assert path.name == f"mnist-sized-{source.sha256[:16]}.npz"
    with np.load(path) as f:
        assert f["x_train"].shape == (60_000, 28, 28) and f["y_test"].shape == (10_000,)


def test_another_dataset_than_the_assignment_s_is_flagged_by_name():
    sources = [(1, "import keras"), (2, "(a, b), (c, d) = keras.datasets.fashion_mnist.load_data()")]
    assert other_assignment(sources, "fashion_mnist") == []
    [sentence] = other_assignment(sources, "mnist")
    assert sentence.startswith("In [2] loads Fashion-MNIST (fashion_mnist.load_data()). This assignment is graded "
                               "on MNIST,") and sentence.endswith("the notebook for this assignment.")
    [sentence] = other_assignment([(3, "mnist.load_data()")], "cifar10")
    assert "loads MNIST (mnist.load_data()). This assignment is graded on CIFAR-10" in sentence
    [sentence] = other_assignment([(4, "from keras.datasets.cifar10 import load_data")], "fashion_mnist")
    assert sentence.startswith("In [4] loads CIFAR-10 (cifar10.load_data()). This assignment is graded on Fashion-MNIST")


def _kernel_run(dataset: str, *cells: str):
    """The cells run in the grader's real kernel (sandbox, harness) for an assignment on `dataset`, with the
    files pipeline._run_and_capture would give it: (each cell's printed text, the harness's events)."""
    source = data.resolve(None, dataset)
    kernel_data = data.sized(source, locations.cache_dir())
    options = execute.KernelOptions(cpu_seconds=120, cell_timeout=CELL_TIMEOUT * 3, notebook_timeout=300,
                                    finish_timeout=60, startup_timeout=120, readable=(kernel_data,))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    with execute.Kernel(options) as kernel:
        config = {"data_path": kernel.readable_inside(kernel_data), "data_source": source.kind, "dataset": dataset,
                  **rubric.load(locations.RUBRIC).harness}
        execution = kernel.run(nb, config)  # nb gets the outputs
    assert execution.errors == [] and execution.harness_error is None, execution.errors
    printed = ["".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream") for cell in nb.cells]
    return printed, execution.events


LOADED = """print(json.dumps({"shapes": [list(v.shape) for v in (a, b, c, d)], "dtypes": [str(v.dtype) for v in (a, b, c, d)],
                  "sha": [hashlib.sha256(a[:4000].tobytes()).hexdigest(), hashlib.sha256(d[:1000].tobytes()).hexdigest()]}))"""


@pytest.mark.slow  # real notebooks in the grader's real kernel
def test_fashion_mnist_load_data_in_the_kernel_gets_the_embedded_subset_at_real_size_and_mnist_still_works():
    printed, events = _kernel_run(
        "fashion_mnist",
        "import hashlib, json\nfrom tensorflow.keras.datasets import fashion_mnist\n"
        "(a, b), (c, d) = fashion_mnist.load_data()\n" + LOADED,
        "import keras\n(a, b), (c, d) = keras.datasets.fashion_mnist.load_data()\n" + LOADED,
        "from keras.datasets.fashion_mnist import load_data\n(a, b), (c, d) = load_data()\n" + LOADED,
        "model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(10)])\n"
        "model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')\n"
        "model.fit(a / 255, b, epochs=1, validation_data=(c / 255, d), verbose=0)")
    for cell in printed[:3]:
        seen = json.loads(cell)
        assert seen["shapes"] == [[60000, 28, 28], [60000], [10000, 28, 28], [10000]]
        assert seen["dtypes"] == ["uint8"] * 4
        assert seen["sha"] == [FASHION_SHA256["x_train"], FASHION_SHA256["y_test"]]  # the embedded subset
    [fit] = [e for e in events if e["event"] == "fit"]
    assert fit["x"]["split"] == "train" and fit["y"]["split"] == "train"
    assert [item["split"] for item in fit["validation_data"]["items"]] == ["test", "test"]

    printed, _ = _kernel_run("mnist", "import hashlib, json\nfrom tensorflow.keras.datasets import mnist\n"
                                      "(a, b), (c, d) = mnist.load_data()\n" + LOADED)
    seen = json.loads(printed[0])
    assert seen["shapes"] == [[60000, 28, 28], [60000], [10000, 28, 28], [10000]]
    assert seen["sha"][0] == EMBEDDED_SHA256["x_train"]
