"""Each fixture notebook gets the verdicts a careful human would give, check by check.

EXPECTED lists every check that should NOT pass for a fixture (a set means any
of those statuses is right); every other check must pass. CHANCY lists checks
whose verdict depends on how a different network happens to train, which a
human would not hold against the mistake being tested.
"""

from __future__ import annotations

import psutil
import pytest

from autograder.checks import CHECK_IDS
from autograder.facts import FACT_KEYS, FitFacts, ModelDescription
from conftest import FIXTURES, by_id, kernels_among, sha256

pytestmark = pytest.mark.slow  # real notebooks in real kernels

NO_MODEL = {c: "skipped" for c in ("model.sequential", "layers.order", "layers.config", "layers.shapes",
                                   "train.learns", "predict.digit3")}
NO_FIT = {c: "fail" for c in ("fit.batch_size", "fit.epochs", "fit.validation_data", "fit.shuffle",
                              "evaluate.test_data")}
NO_COMPILE = {c: "fail" for c in ("compile.loss", "compile.optimizer", "compile.metrics")}
# Code that reaches into the grader: nothing the kernel sent can be credited.
TAMPERED = {c: "fail" for c in CHECK_IDS if c != "notebook.runs"}

EXPECTED: dict[str, dict[str, str | set]] = {
    "wrong_optimizer_adam": {"compile.optimizer": "fail"},
    "missing_dropout": {"layers.order": "partial"},
    "misplaced_pooling": {},  # the lesson's own slip ("below the second Conv2D"): forgiven
    "pooling_after_the_last_conv": {"layers.order": "partial", "layers.shapes": "partial"},
    "no_softmax": {"layers.config": "partial", "train.learns": "fail"},
    "batch_32": {"fit.batch_size": "fail"},
    "batch_size_left_out": {"fit.batch_size": "fail"},
    "epochs_5": {"fit.epochs": "fail"},
    "epochs_not_passed": {"fit.epochs": "fail"},
    "no_validation": {"fit.validation_data": "fail"},
    "validation_split": {"fit.validation_data": "fail"},
    "shuffle_false": {"fit.shuffle": "fail"},
    "shuffle_left_out": {},
    "evaluate_on_training_data": {"evaluate.test_data": "fail"},
    "mse_loss": {"compile.loss": "fail", "train.learns": {"partial", "fail"}},
    "no_metrics": {"compile.metrics": "fail", "notebook.runs": "partial"},
    "learning_rate_too_high": {"compile.optimizer": "partial", "train.learns": "fail"},
    "equivalent_spellings": {},
    "model_named_net": {},
    "keras_imports": {},
    "positional_args": {},
    "keras_input": {},
    "functional_model": {"model.sequential": "fail"},
    "dense_network": {"layers.order": "fail", "layers.config": "partial", "layers.shapes": "partial"},
    "changed_numbers": {"layers.config": "fail", "layers.shapes": "partial"},
    "output_one_unit": {"notebook.runs": "partial", "layers.config": "partial", "layers.shapes": "fail",
                        "train.learns": "fail", "predict.digit3": "fail"},
    "data_not_prepared": {"data.prepared": "fail", "compile.loss": "fail"},
    "lesson_test_acc_slip": {},  # the lesson's slips cost nothing
    "lesson_extra_parenthesis": {},
    "lesson_copied_literally": {},
    "never_ending_cell": {"notebook.runs": "partial"},
    # The kernel dies instead of fitting: the compiled model was kept, so its structure is checked.
    "kernel_dies": {"notebook.runs": "fail", "data.prepared": "fail", **NO_FIT},
    "no_model": {"model.found": "fail", **NO_MODEL, **NO_COMPILE, **NO_FIT},
    "tampers_with_record": {"notebook.runs": "partial", **TAMPERED},
    "replaces_model_fit": TAMPERED,
    # Written the way students write: each earns what a real run on full MNIST would earn.
    "habit_hard_coded_sizes": {},
    "habit_history_plots_and_callback": {},
    "habit_early_stopping_and_checkpoint": {},
    "habit_saves_files": {},
    "habit_predict_and_return_dict": {},
    "habit_keywords_and_steps": {},
    "habit_tf_data": {},
    "habit_fit_in_a_loop": {},
    "habit_generator": {},  # what a generator hides is said, not held against the student
    "crash_after_the_model": {"notebook.runs": "fail"},
    "processes_left_running": {},
    "epochs_1000": {"fit.epochs": "fail"},
    "loads_cifar10": {"notebook.runs": "partial", "data.prepared": "fail", "layers.shapes": "fail", **NO_COMPILE,
                      **NO_FIT, "train.learns": "fail", "predict.digit3": "fail"},
    # A layer left out or added: only the order and the shapes that follow from it; the layers present are right.
    "missing_hidden_dense": {"layers.order": "partial", "layers.shapes": "partial"},
    "missing_second_conv": {"layers.order": "partial", "layers.shapes": "partial"},
    "extra_dense": {"layers.order": "partial", "layers.shapes": "partial"},
    "functional_one_dense": {"model.sequential": "fail", "layers.order": "partial", "layers.shapes": "partial"},
    "three_pooling_layers": {"layers.order": "partial", "layers.shapes": "partial"},  # learns, given more epochs
    "never_compiled_with_dropout_changed": {"notebook.runs": "partial", "layers.config": "partial", **NO_COMPILE,
                                            "train.learns": "fail", "predict.digit3": "fail"},
    "relu_output_binary_loss_unscaled_pixels": {"data.prepared": "partial", "layers.config": "partial",
                                                "compile.loss": "fail", "train.learns": "partial"},
    # Keras' own loss and metric, passed as functions or objects from any import path: Keras' own.
    "loss_function_from_keras_losses": {},
    "loss_function_imported_from_tf_keras": {},
    "loss_instance_and_metric_function": {},
    # The student's own functions with Keras' names, and TensorFlow's function: not Keras' own, not trained.
    "own_loss_and_metric_named_like_keras": {"compile.loss": "fail", "compile.metrics": "fail", "train.learns": "fail",
                                             "predict.digit3": "fail"},
    "loss_function_from_tensorflow": {"compile.loss": "fail", "train.learns": "fail", "predict.digit3": "fail"},
    # Tricks: no credit for what did not happen.
    "trick_recompile_before_a_tiny_fit": {"compile.optimizer": "fail", "fit.batch_size": "fail", "fit.epochs": "fail",
                                          "fit.validation_data": "fail"},
    "trick_model_variable_never_trained": {"layers.order": "fail", "layers.config": "partial",
                                           "layers.shapes": "partial"},
    "trick_optimizer_class_named_rmsprop": {"compile.optimizer": "fail", "train.learns": "fail",
                                            "predict.digit3": "fail"},
    "trick_loss_class_that_is_mse": {"compile.loss": "fail", "train.learns": "fail", "predict.digit3": "fail"},
    "trick_dense_subclass_without_activation": {"model.found": "fail", **NO_MODEL, **NO_COMPILE},
    "trick_fit_on_test_set_from_epoch_9": {"data.prepared": "partial", "fit.epochs": "fail"},
    "test_images_not_prepared": {"data.prepared": "partial"},  # the test images, given to validation and evaluate
    "trick_replaces_the_harness": TAMPERED,
    # The model graded is the model trained; settings are what Keras made of them.
    "trick_layers_replaced_after_compile": {"layers.order": "fail", "layers.config": "partial", "layers.shapes": "partial",
                                            "train.learns": "fail", "predict.digit3": "fail"},
    "trick_saves_another_network": TAMPERED,
    # Records that could be lost: the disk the notebook fills is not the one its record travels on; a model
    # that could not be recorded earns nothing.
    "trick_fills_the_disk_before_the_real_training": {"compile.optimizer": "fail", "fit.batch_size": "fail",
                                                      "fit.epochs": "fail"},
    "trick_saving_fails_before_the_real_training": TAMPERED,
    "trick_epochs_that_says_ten": {"fit.epochs": "fail"},
    "trick_shuffle_that_says_true": {"fit.shuffle": "fail"},
    "trick_dead_fit_with_the_right_settings": {"fit.batch_size": "fail", "fit.epochs": "fail",
                                               "fit.validation_data": "fail"},
}
CHANCY = {
    "misplaced_pooling": {"train.learns", "predict.digit3"},
    "pooling_after_the_last_conv": {"train.learns", "predict.digit3"},
    "lesson_copied_literally": {"train.learns", "predict.digit3"},
    "trick_recompile_before_a_tiny_fit": {"train.learns", "predict.digit3"},
    "trick_model_variable_never_trained": {"train.learns", "predict.digit3"},
    "loads_cifar10": {"model.sequential", "layers.order", "layers.config"},
    "missing_dropout": {"train.learns", "predict.digit3"},
    "no_softmax": {"predict.digit3"},
    "mse_loss": {"predict.digit3"},
    "learning_rate_too_high": {"predict.digit3"},
    "wrong_optimizer_adam": {"predict.digit3"},
    "dense_network": {"train.learns", "predict.digit3"},
    "changed_numbers": {"train.learns", "predict.digit3"},
    "data_not_prepared": {"predict.digit3"},
    "missing_hidden_dense": {"predict.digit3"},
    "missing_second_conv": {"predict.digit3"},
    "extra_dense": {"predict.digit3"},
    "functional_one_dense": {"predict.digit3"},
    "three_pooling_layers": {"predict.digit3"},
    "relu_output_binary_loss_unscaled_pixels": {"predict.digit3"},
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_gets_the_verdicts_a_careful_human_would_give(graded, name):
    result = graded(name)
    assert result.status == "graded", result.reason
    found = {c.id: c.status for c in result.checks}
    assert set(found) == set(CHECK_IDS)
    for check_id in CHECK_IDS:
        if check_id in CHANCY.get(name, ()):
            continue
        want = EXPECTED[name].get(check_id, "pass")
        allowed = want if isinstance(want, set) else {want}
        assert found[check_id] in allowed, f"{name}: {check_id} is {found[check_id]}, expected {want}: " \
                                           f"{by_id(result)[check_id].message}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_facts_hold_only_the_documented_keys(graded, name):
    facts = graded(name).facts
    assert set(facts) <= FACT_KEYS, set(facts) - FACT_KEYS  # autograder/facts.py documents each one
    if facts["fit"]:
        assert set(facts["fit"]) <= set(FitFacts.__annotations__), set(facts["fit"]) - set(FitFacts.__annotations__)
    if facts["model"]:
        assert set(facts["model"]) == set(ModelDescription.__annotations__)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_score_adds_up_from_the_checks(graded, name):
    result = graded(name)
    assert result.max_score == 100
    assert result.score == pytest.approx(sum(c.points for c in result.checks))
    for c in result.checks:
        assert 0 <= c.points <= c.max_points
        if c.status in ("fail", "skipped", "error"):
            assert c.points == 0
        if c.status == "pass":
            assert c.points == c.max_points
        if c.status != "pass":
            assert c.message and c.lesson, f"{name}: {c.id} says nothing useful"


def test_every_check_is_seen_to_fail(graded):
    failed = set()
    for name in EXPECTED:
        failed |= {c.id for c in graded(name).checks if c.status == "fail"}
    assert failed == set(CHECK_IDS)


def test_pooling_where_the_lessons_text_says_costs_nothing_and_is_explained(graded):
    checks = by_id(graded("misplaced_pooling"))
    for check_id in ("layers.order", "layers.shapes"):
        assert checks[check_id].status == "pass"
        assert any("below the second Conv2D layer" in d and "no points are lost" in d for d in checks[check_id].details)


def test_a_misplaced_layer_is_explained_as_a_move(graded):
    order = by_id(graded("pooling_after_the_last_conv"))["layers.order"]
    assert order.details == ["MaxPooling2D is in the wrong place: the lesson has it as layer 2, right after the "
                             "1st Conv2D; yours is layer 5, right after the 3rd Conv2D."]
    assert by_id(graded("pooling_after_the_last_conv"))["layers.config"].status == "pass"


def test_missing_layer_names_what_and_where(graded):
    order = by_id(graded("missing_dropout"))["layers.order"]
    assert order.details == ["Missing: Dropout (the lesson's layer 4, right after the 2nd Conv2D)."]
    assert "Dropout" in order.expected and "Dropout" not in order.found


def test_no_softmax_says_which_layer_and_why(graded):
    config = by_id(graded("no_softmax"))["layers.config"]
    assert config.details == ["Your 2nd Dense (layer 8): activation should be 'softmax'; yours has no activation "
                              "(Keras calls that 'linear')."]
    assert "probabilities" in config.hint
    assert config.found == "2nd Dense (layer 8): no activation (Keras calls that 'linear')"  # which setting, which layer
    learns = by_id(graded("no_softmax"))["train.learns"]  # its tip names the cause found above first
    assert learns.hint.startswith('Start with "Each layer has the right settings"') and "softmax" in learns.hint
    assert "learning rate" not in learns.hint


def test_settings_left_out_are_explained_with_keras_defaults(graded):
    assert "Keras uses 32" in by_id(graded("batch_size_left_out"))["fit.batch_size"].message
    assert "epochs=epochs" in by_id(graded("epochs_not_passed"))["fit.epochs"].message
    shuffle = by_id(graded("shuffle_left_out"))["fit.shuffle"]
    assert shuffle.status == "pass" and "by default" in shuffle.message
    assert "validation_split" in by_id(graded("validation_split"))["fit.validation_data"].message


def test_equivalent_spellings_are_recognised_and_named(graded):
    checks = by_id(graded("equivalent_spellings"))
    assert "treats the same" in checks["compile.optimizer"].message  # RMSprop() is 'rmsprop'
    assert "treats the same" in checks["compile.loss"].message  # CategoricalCrossentropy() is the string
    assert checks["compile.metrics"].found == "['acc']"
    note = graded("equivalent_spellings").facts["model"]["layers"][-1]["note"]
    assert "Activation" in note  # Dense(10) + Activation('softmax') counts as Dense(10, softmax)


def test_learning_rate_change_is_named(graded):
    optimizer = by_id(graded("learning_rate_too_high"))["compile.optimizer"]
    assert "learning_rate=0.5" in optimizer.message


def test_model_under_another_name_is_found_and_named(graded):
    found = by_id(graded("model_named_net"))["model.found"]
    assert "net" in found.found and "fit" in found.found


def test_lesson_slips_cost_nothing_and_get_one_friendly_sentence_each(graded):
    runs = by_id(graded("lesson_test_acc_slip"))["notebook.runs"]
    assert runs.status == "pass"
    assert runs.details == ["In [12], line 2: the lesson prints test_acc, which it never creates, so this line stops "
                            "with a NameError. That slip is the lesson's, not yours: no points lost. (scores[1] "
                            "holds the accuracy.)"]
    runs = by_id(graded("lesson_extra_parenthesis"))["notebook.runs"]
    assert runs.status == "pass" and graded("lesson_extra_parenthesis").full_marks
    assert runs.details == ["In [9], line 2: the lesson's model.add(MaxPooling2D())) has one ')' too many. The grader "
                            "ran your line without it, so no points are lost; remove it in your notebook too."]
    literal = by_id(graded("lesson_copied_literally"))
    assert len(literal["notebook.runs"].details) == 2 and literal["layers.order"].details
    assert "scores" in by_id(graded("no_metrics"))["notebook.runs"].hint


def test_a_rubric_that_does_not_forgive_a_slip_counts_it(tmp_path):
    from autograder import Assignment, grade, locations
    from conftest import FIXTURES

    rubric = tmp_path / "rubric.toml"
    rubric.write_text(locations.RUBRIC.read_text().replace(
        'forgive = ["extra_parenthesis", "test_acc", "pooling_below_second_conv"]', 'forgive = ["extra_parenthesis"]'))
    result = grade(FIXTURES / "lesson_test_acc_slip.ipynb", Assignment.load(rubric=rubric, reference=locations.REFERENCE))
    runs = by_id(result)["notebook.runs"]
    assert runs.status == "partial" and "scores[1]" in runs.hint


def test_cell_errors_keep_cell_number_exception_and_clean_traceback(graded):
    errors = graded("lesson_test_acc_slip").facts["execution"]["errors"]
    assert [(e["cell"], e["line"], e["kind"], e["ename"]) for e in errors] == [(12, 2, "error", "NameError")]
    assert errors[0]["code"] == "print('Test accuracy:', test_acc, '%')"
    assert "Cell In[12], line 2" in errors[0]["traceback"]  # the traceback and the message agree
    assert "test_acc" in errors[0]["evalue"]
    assert "NameError" in errors[0]["traceback"] and "\x1b[" not in errors[0]["traceback"]


def test_never_ending_cell_is_stopped_and_the_rest_still_runs(graded):
    result = graded("never_ending_cell")
    errors = result.facts["execution"]["errors"]
    assert [e["kind"] for e in errors] == ["timeout"]
    assert result.facts["execution"]["cells_run"] == result.facts["execution"]["code_cells"]
    assert by_id(result)["evaluate.test_data"].status == "pass"  # the cell after it ran
    assert result.timings["notebook_s"] < 20 + 30


def test_dead_kernel_is_recorded_and_what_ran_before_is_kept(graded):
    result = graded("kernel_dies")
    assert result.facts["execution"]["kernel_died"]
    assert by_id(result)["compile.optimizer"].status == "pass"  # compile ran before the crash
    assert "crashed" in by_id(result)["notebook.runs"].message
    assert "model checked is the one the grader saved before that (In [10])" in by_id(result)["model.found"].message


def test_the_reference_itself_gets_full_marks(graded):
    from autograder import locations

    result = graded(locations.REFERENCE)
    assert result.full_marks, [c.message for c in result.checks if c.status != "pass"]
    assert result.facts["brief_training"]["heldout_accuracy"] > 0.6
    assert result.facts["fit"]["epochs"] == 10 and result.facts["fit"]["where"]["cell"] == 11
    assert result.facts["digit3"]["guess"] == 3
    assert result.data_source["kind"] == "embedded"


# Runs last in this file, after every fixture above was graded.
def test_no_fixture_changed_and_no_kernel_left(graded, fingerprints_before):
    assert graded.results, "run with the other tests: this checks what they left behind"
    after = {p.name: sha256(p) for p in FIXTURES.glob("*.ipynb")}
    assert after == fingerprints_before
    assert kernels_among(psutil.Process().children(recursive=True)) == []
