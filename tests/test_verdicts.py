"""Each fixture notebook gets the verdicts a careful human would give, check by check.

EXPECTED lists every check that should NOT pass for a fixture (a set means any
of those statuses is right); every other check must pass. CHANCY lists checks
whose verdict depends on how a different network happens to train, which a
human would not hold against the mistake being tested.
"""

from __future__ import annotations

import psutil
import pytest

from autograder.rubric import CHECK_IDS
from conftest import FIXTURES, by_id, sha256

NO_MODEL = {c: "skipped" for c in ("model.sequential", "layers.order", "layers.config", "layers.shapes",
                                   "train.learns", "predict.digit3")}
NO_FIT = {c: "fail" for c in ("fit.batch_size", "fit.epochs", "fit.validation_data", "fit.shuffle",
                              "evaluate.test_data")}
NO_COMPILE = {c: "fail" for c in ("compile.loss", "compile.optimizer", "compile.metrics")}

EXPECTED: dict[str, dict[str, str | set]] = {
    "wrong_optimizer_adam": {"compile.optimizer": "fail"},
    "missing_dropout": {"layers.order": "partial"},
    "misplaced_pooling": {"layers.order": "partial", "layers.shapes": "partial"},
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
    "lesson_test_acc_slip": {"notebook.runs": "partial"},
    "lesson_extra_parenthesis": {"notebook.runs": "partial", "layers.order": "fail", "layers.config": "skipped",
                                 "layers.shapes": "fail", "train.learns": "fail", "predict.digit3": "fail"},
    "never_ending_cell": {"notebook.runs": "partial"},
    "kernel_dies": {"notebook.runs": "fail", "data.prepared": "fail", "model.found": "fail", **NO_MODEL, **NO_FIT},
    "no_model": {"model.found": "fail", **NO_MODEL, **NO_COMPILE, **NO_FIT},
}
CHANCY = {
    "misplaced_pooling": {"train.learns", "predict.digit3"},
    "missing_dropout": {"train.learns", "predict.digit3"},
    "no_softmax": {"predict.digit3"},
    "mse_loss": {"predict.digit3"},
    "learning_rate_too_high": {"predict.digit3"},
    "wrong_optimizer_adam": {"predict.digit3"},
    "dense_network": {"train.learns", "predict.digit3"},
    "changed_numbers": {"train.learns", "predict.digit3"},
    "data_not_prepared": {"predict.digit3"},
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


def test_misplaced_pooling_is_explained_as_a_move_with_the_lessons_slip(graded):
    order = by_id(graded("misplaced_pooling"))["layers.order"]
    assert order.details == ["MaxPooling2D is in the wrong place: the lesson has it as layer 2, right after the "
                             "1st Conv2D; yours is layer 3, right after the 2nd Conv2D."]
    assert "second Conv2D" in order.hint
    assert by_id(graded("misplaced_pooling"))["layers.config"].status == "pass"  # each layer's settings are right


def test_missing_layer_names_what_and_where(graded):
    order = by_id(graded("missing_dropout"))["layers.order"]
    assert order.details == ["Missing: Dropout (the lesson's layer 4, right after the 2nd Conv2D)."]
    assert "Dropout" in order.expected and "Dropout" not in order.found


def test_no_softmax_says_which_layer_and_why(graded):
    config = by_id(graded("no_softmax"))["layers.config"]
    assert config.details == ["Your 2nd Dense (layer 8): activation should be 'softmax', yours is 'linear'."]
    assert "probabilities" in config.hint
    learns = by_id(graded("no_softmax"))["train.learns"]
    assert "guessing" in learns.hint


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


def test_lesson_slips_get_their_own_explanations(graded):
    assert "scores[1]" in by_id(graded("lesson_test_acc_slip"))["notebook.runs"].hint
    runs = by_id(graded("lesson_extra_parenthesis"))["notebook.runs"]
    assert "one ')' too many" in runs.hint
    assert any("Cell 12" in d and "SyntaxError" in d for d in runs.details)
    assert "scores" in by_id(graded("no_metrics"))["notebook.runs"].hint


def test_cell_errors_keep_cell_number_exception_and_clean_traceback(graded):
    errors = graded("lesson_test_acc_slip").facts["execution"]["errors"]
    assert [(e["cell"], e["kind"], e["ename"]) for e in errors] == [(17, "error", "NameError")]
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


def test_the_reference_itself_gets_full_marks(graded):
    from autograder import locations

    result = graded(locations.REFERENCE)
    assert result.full_marks, [c.message for c in result.checks if c.status != "pass"]
    assert result.facts["quick_train"]["heldout_accuracy"] > 0.6
    assert result.facts["digit3"]["guess"] == 3
    assert result.data_source["kind"] == "embedded"


# Runs last in this file, after every fixture above was graded.
def test_no_fixture_changed_and_no_kernel_left(graded, fingerprints_before):
    assert graded.results, "run with the other tests: this checks what they left behind"
    after = {p.name: sha256(p) for p in FIXTURES.glob("*.ipynb")}
    assert after == fingerprints_before
    kernels = [p for p in psutil.Process().children(recursive=True)
               if "ipykernel" in " ".join(p.cmdline())]
    assert kernels == []
