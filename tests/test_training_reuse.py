"""The brief training is reused for a network the grader has trained before (most of a class builds the
lesson's): only when the grader's own reading of the snapshot is the same network, compiled the same way."""

from __future__ import annotations


import pytest

from autograder import data, locations, rubric, training

pytestmark = pytest.mark.slow


def lesson_network(optimizer: str = "rmsprop"):
    import keras
    from keras import layers

    keras.backend.clear_session()  # as in a fresh kernel: the same layer names ("conv2d", ...)
    model = keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(32, 3, activation="relu"),
                              layers.MaxPooling2D(2), layers.Conv2D(64, 3, activation="relu"), layers.Dropout(0.25),
                              layers.Conv2D(64, 3, activation="relu"), layers.Flatten(),
                              layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax")])
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Three snapshots trained in turn: the lesson's network, the same network built again (other Python
    objects, so other shared_object_ids in its config), and the same layers compiled with adam."""
    folder = tmp_path_factory.mktemp("reuse")
    paths = []
    for name, optimizer in (("first", "rmsprop"), ("again", "rmsprop"), ("adam", "adam")):
        paths.append(folder / f"{name}.keras")
        lesson_network(optimizer).save(paths[-1])
    saved = training._FINISHED.copy()
    training._FINISHED.clear()
    cache = folder / "cache"  # nothing trained by earlier tests
    runs = []
    real = training.train_copy  # each training the model process is asked for
    training.train_copy = lambda path, *args, **kwargs: runs.append(path.stem) or real(path, *args, **kwargs)
    try:
        source = data.resolve(None)
        settings = rubric.load(locations.RUBRIC).training
        results = [training.Trainer(source.path, settings, locations.HANDWRITTEN_3, cache, source.sha256)(path)
                   for path in paths]
    finally:
        training.train_copy = real
        training._FINISHED.clear()
        training._FINISHED.update(saved)
    stored = sorted(p.name.split("-")[0] for p in (folder / "cache").glob("*.json"))
    return results, runs, stored


def test_the_same_network_built_again_is_not_trained_again(trained):
    results, runs, _ = trained
    assert runs == ["first", "adam"]
    assert results[1] == results[0] and results[0][0]["heldout_accuracy"] > 0.5


def test_another_optimizer_is_another_training(trained):
    results, _, stored = trained
    assert results[2][0]["curve"] != results[0][0]["curve"]
    assert stored == ["training", "training"]  # kept for the next grader process too
