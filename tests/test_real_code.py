"""Real code, round 3: Keras' own functions are Keras', the output layer is compared with the output layer,
a tip names only a real cause, and a network that starts slower is given the training to show it learns.
Each fixture is graded once per session (conftest.graded); the verdicts of every check are in test_verdicts."""

from __future__ import annotations

import pytest

from autograder import locations
from conftest import by_id

pytestmark = pytest.mark.slow  # real notebooks in real kernels


@pytest.mark.parametrize("name", ["loss_function_from_keras_losses", "loss_function_imported_from_tf_keras",
                                  "loss_instance_and_metric_function"])
def test_keras_own_loss_and_metric_count_whatever_the_import_path_and_the_copy_trains(graded, name):
    checks = by_id(graded(name))
    assert checks["compile.loss"].status == "pass", checks["compile.loss"].message
    assert "own" not in checks["compile.loss"].found
    assert checks["compile.metrics"].status == "pass"
    assert checks["train.learns"].status == "pass", checks["train.learns"].message
    assert graded(name).facts["compile"]["loss"]["origin"] == "keras"


def test_a_students_own_functions_with_keras_names_stay_the_students_own(graded):
    checks = by_id(graded("own_loss_and_metric_named_like_keras"))
    assert "of your own named categorical_crossentropy" in checks["compile.loss"].message
    assert "a function of your own named accuracy" in checks["compile.metrics"].found
    assert "not one of Keras' own" in checks["train.learns"].message  # never trained as if it were Keras'


def test_another_librarys_function_is_neither_keras_nor_the_students(graded):
    loss = by_id(graded("loss_function_from_tensorflow"))["compile.loss"]
    assert loss.status == "fail" and "from tensorflow" in loss.message and "your own" not in loss.message


# (fixture, what the grader must say is missing or extra, the notebook with that advice applied by hand)
LAYER_CASES = [
    ("missing_hidden_dense", "Missing: Dense (the lesson's layer 7", locations.REFERENCE),
    ("missing_second_conv", "Missing: Conv2D (the lesson's layer 3", locations.REFERENCE),
    ("extra_dense", "Extra: Dense at your layer 7", locations.REFERENCE),
    ("functional_one_dense", "Missing: Dense (the lesson's layer 7", "functional_model"),
]


@pytest.mark.parametrize("name, said, applied", LAYER_CASES)
def test_a_missing_or_extra_layer_is_named_and_the_layers_present_are_judged_right(graded, name, said, applied):
    result = graded(name)
    checks = by_id(result)
    assert checks["layers.order"].details == [next(d for d in checks["layers.order"].details if d.startswith(said))]
    assert checks["layers.config"].status == "pass", checks["layers.config"].details  # no right layer told to change
    output = [row for row in result.facts["alignment"] if row["stu"] == len(result.facts["model"]["layers"]) - 1]
    assert output[0]["ref"] == 7  # the student's output layer is compared with the lesson's output layer
    assert graded(applied).score >= result.score  # the advice, followed, never lowers the grade


@pytest.mark.parametrize("name, names, never", [
    ("never_compiled_with_dropout_changed", "Compile the model before it is trained", "Dropout"),
    ("relu_output_binary_loss_unscaled_pixels", "Your output layer has activation='relu'", "Dropout"),
    ("learning_rate_too_high", "A learning rate of 0.5 is far too large", "output layer"),
])
def test_a_start_with_tip_names_what_is_wrong_in_that_notebook_and_nothing_right(graded, name, names, never):
    checks = by_id(graded(name))
    tip = checks["train.learns"].hint
    assert names in tip and never not in tip, tip
    for check_id in checks["train.learns"].caused_by:  # every check the tip names really failed
        assert checks[check_id].status in ("fail", "partial"), check_id


def test_a_network_that_starts_slower_is_given_more_epochs_and_learns(graded):
    result = graded("three_pooling_layers")
    trained, learns = result.facts["brief_training"], by_id(result)["train.learns"]
    assert trained["more_epochs"] >= 1 and trained["first_accuracy"] < trained["heldout_accuracy"]
    assert learns.status == "pass"
    assert f"given {trained['more_epochs']} more epoch" in learns.message  # the report says how much it got


def test_a_relu_output_with_a_binary_loss_does_not_get_full_marks_for_learning(graded):
    learns = by_id(graded("relu_output_binary_loss_unscaled_pixels"))["train.learns"]
    assert learns.status in ("partial", "fail") and "more epoch" not in learns.message
