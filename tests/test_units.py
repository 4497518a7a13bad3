"""Fast checks of the comparison logic on plain data (no kernel)."""

from __future__ import annotations

from autograder import checks, spec


def model(*classes):
    return {"layers": [{"class": c, "settings": {}, "output_shape": None, "params": 0} for c in classes]}


REF = model("Conv2D", "MaxPooling2D", "Conv2D", "Dropout", "Conv2D", "Flatten", "Dense", "Dense")


def ops(stu):
    return [(r["op"], r["ref"], r["stu"]) for r in checks.align_layers(REF, stu)]


def test_identical_networks_align_one_to_one():
    assert all(op == "same" for op, *_ in ops(REF))


def test_missing_and_extra_layers():
    rows = ops(model("Conv2D", "MaxPooling2D", "Conv2D", "Conv2D", "Flatten", "Dense", "Dense", "Dense"))
    assert ("missing", 3, None) in rows
    assert ("extra", None, 7) in rows


def test_swapped_neighbours_are_moved_not_missing():
    rows = ops(model("Conv2D", "Conv2D", "MaxPooling2D", "Dropout", "Conv2D", "Flatten", "Dense", "Dense"))
    assert [op for op, *_ in rows].count("moved") == 1
    assert not any(op in ("missing", "extra") for op, *_ in rows)


def test_positions_in_words():
    classes = ["Conv2D", "MaxPooling2D", "Conv2D"]
    assert checks._position(classes, 0) == "layer 1, the first layer"
    assert checks._position(classes, 2) == "layer 3, right after the 1st MaxPooling2D"
    assert [checks.ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22)] == \
        ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd"]


def test_canonical_names_follow_keras():
    assert spec.canonical_metric({"kind": "name", "name": "acc"}) == "accuracy"
    assert spec.canonical_metric({"kind": "object", "name": "CategoricalAccuracy"}) == "accuracy"
    assert spec.canonical_loss({"kind": "object", "name": "CategoricalCrossentropy"})["name"] == "categorical_crossentropy"
    assert spec.canonical_loss({"kind": "name", "name": "mse"})["name"] == "mean_squared_error"
    assert spec.canonical_optimizer({"kind": "object", "name": "RMSprop", "changed": {}})["name"] == "rmsprop"
    assert spec.written({"kind": "object", "name": "RMSprop", "changed": {"learning_rate": 0.5}}) == \
        "RMSprop(learning_rate=0.5)"


def test_known_slips_are_explained():
    assert "scores[1]" in checks.explain_error("NameError", "name 'test_acc' is not defined", "print(test_acc)")
    assert "from tensorflow.keras.layers import Conv2D" in checks.explain_error(
        "NameError", "name 'Conv2D' is not defined", "")
    assert checks.explain_error("ValueError", "something else", "") == ""
