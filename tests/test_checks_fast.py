"""Every check on facts, without a kernel: the reference's facts as the pipeline made them
(tests/fixtures/reference_facts.json, frozen) against copies with one thing changed. The slow layer
proves the same verdicts from real notebooks; this one runs in a second and names the check that broke."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from pathlib import Path

import pytest

from autograder import checks, locations, rubric
from autograder.facts import FACT_KEYS

REFERENCE = json.loads((Path(__file__).resolve().parent / "fixtures" / "reference_facts.json").read_text())
RUBRIC = rubric.load(locations.RUBRIC)


def verdicts(student: dict) -> dict[str, checks.CheckResult]:
    return {c.id: c for c in checks.run_checks(student, copy.deepcopy(REFERENCE), RUBRIC)}


def changed(edit) -> dict:
    student = copy.deepcopy(REFERENCE)
    edit(student)
    return student


def test_the_frozen_facts_are_the_documented_kind():
    assert set(REFERENCE) <= FACT_KEYS


def test_the_reference_against_itself_passes_every_check_of_the_table():
    found = verdicts(copy.deepcopy(REFERENCE))
    assert list(found) == list(checks.CHECK_IDS)
    assert {c.id: c.status for c in found.values() if c.status != "pass"} == {}
    assert sum(c.points for c in found.values()) == RUBRIC.max_points


def _set(path: str, value):
    def edit(s):
        *parents, key = path.split(".")
        target = s
        for p in parents:
            target = target[int(p)] if isinstance(target, list) else target[p]
        target[int(key) if isinstance(target, list) else key] = value
    return edit


ONE_THING_CHANGED = [
    (_set("fit.batch_size", 32), "fit.batch_size", "fail", "the lesson uses 64"),
    (_set("fit.batch_size", None), "fit.batch_size", "fail", "Keras uses 32"),
    (_set("fit.epochs", 5), "fit.epochs", "fail", "5"),
    (_set("fit.shuffle", False), "fit.shuffle", "fail", "shuffle"),
    (_set("model.layers.7.settings.activation", "linear"), "layers.config", "partial", "activation"),
    (_set("model.class", "Functional"), "model.sequential", "fail", "Sequential"),
    (_set("compile.optimizer.name", "adam"), "compile.optimizer", "fail", "rmsprop"),
    (_set("compile.loss.name", "mean_squared_error"), "compile.loss", "fail", "categorical_crossentropy"),
    (_set("evaluate.x.split", "train"), "evaluate.test_data", "fail", "training"),
    (_set("fit.x.max", 255.0), "data.prepared", "partial", "divide by 255"),
    # Only the training images reshaped: the test images given to validation and evaluate are checked too.
    (lambda s: [_set("fit.validation_data.items.0.shape", [10000, 28, 28])(s), _set("evaluate.x.shape", [10000, 28, 28])(s)],
     "data.prepared", "partial", "Test images (validation_data in model.fit and model.evaluate) have shape (10000, 28, 28)"),
    (_set("evaluate.x.max", 255.0), "data.prepared", "partial", "Test images (model.evaluate) have pixels up to 255"),
    (_set("brief_training.heldout_accuracy", 0.1), "train.learns", "fail", "10%"),
    (_set("digit3.guess", 5), "predict.digit3", "fail", "5"),
]


@pytest.mark.parametrize("edit, check_id, status, words", ONE_THING_CHANGED)
def test_one_thing_changed_is_found_by_its_check_and_by_no_other(edit, check_id, status, words):
    found = verdicts(changed(edit))
    assert found[check_id].status == status, found[check_id].message
    said = " ".join([found[check_id].message, found[check_id].found, *found[check_id].details])
    assert words in said, said
    others = {c.id: c.status for c in found.values() if c.id != check_id and c.status != "pass"}
    allowed = {"layers.shapes", "train.learns", "predict.digit3"}  # a changed layer changes these honestly
    assert set(others) <= allowed, others


def test_a_value_set_in_one_cell_and_passed_by_name_in_another_is_shown_where_it_was_set():
    def edit(s):
        s["fit"].update(epochs=5, batch_size=32, set_in={"epochs": {"cell": 8, "line": 4, "code": "epochs = 5"}})
    found = verdicts(changed(edit))
    epochs, batch = found["fit.epochs"], found["fit.batch_size"]
    assert epochs.where == {"cell": 8, "line": 4, "code": "epochs = 5"}  # the line a student changes
    assert "set in In [8], line 4: epochs = 5; given to model.fit in In [11]" in epochs.message
    assert batch.where["cell"] == 11 and "In [11], line 1: model.fit(" in batch.message  # written in the call


def test_the_next_steps_in_a_tip_name_only_what_lost_points_by_points_lost():
    def edit(s):
        s["model"]["layers"][7]["settings"]["activation"] = "linear"  # the earliest cause: named first
        s["compile"]["optimizer"]["changed"] = {"learning_rate": 0.5}  # partial: 2.5 points lost
        s["compile"]["loss"].update(name="mean_squared_error", written="'mse'")  # fail: 5 points lost
        s["brief_training"]["heldout_accuracy"] = 0.1
    found = verdicts(changed(edit))
    causes = [found[i] for i in found["train.learns"].caused_by]
    assert [c.id for c in causes] == ["layers.config", "compile.loss", "compile.optimizer"]
    assert all(c.points < c.max_points for c in causes)
    assert found["train.learns"].hint.startswith('Start with "Each layer has the right settings" above: Your output '
                                                 "layer has no activation")
    assert found["train.learns"].hint.endswith("Then: “Loss function”, “Optimizer”.")  # by points lost, as titled


def test_the_guards_stand_in_for_the_checks_that_need_them():
    no_model = verdicts(changed(_set("model", None)))
    assert no_model["model.found"].status == "fail"  # a model was made, but the grader has no description
    assert {no_model[c].status for c in ("model.sequential", "layers.order", "layers.config", "layers.shapes",
                                          "train.learns", "predict.digit3")} == {"skipped"}
    no_fit = verdicts(changed(_set("fit", None)))
    assert {no_fit[c].message for c in ("fit.batch_size", "fit.epochs", "fit.validation_data", "fit.shuffle")} \
        == {no_fit["fit.epochs"].message} and "never ran" in no_fit["fit.epochs"].message
    tampered = verdicts(changed(_set("tampering", [{"cell": 12, "line": 1, "code": "x", "what": "replaced fit"}])))
    assert tampered["notebook.runs"].status == "pass"
    assert all(c.status == "fail" and "cannot pass" in c.message for i, c in tampered.items() if i != "notebook.runs")


def test_a_bug_in_one_check_is_its_own_error_and_costs_the_others_nothing(monkeypatch):
    table = list(checks.CHECKS)
    broken = checks.Check("fit.epochs", lambda s, r, rubric: 1 / 0, "fit")
    monkeypatch.setattr(checks, "CHECKS", tuple(broken if c.id == "fit.epochs" else c for c in table))
    found = verdicts(copy.deepcopy(REFERENCE))
    assert found["fit.epochs"].status == "error" and "ZeroDivisionError" in found["fit.epochs"].message
    assert all(c.status == "pass" for i, c in found.items() if i != "fit.epochs")


@pytest.mark.parametrize("below, status, borderline", [
    (0.09, "pass", False),     # within pass_within (0.10)
    (0.12, "pass", True),      # past it by less than borderline_within (0.04): the better verdict, said so
    (0.16, "partial", False),
    (0.27, "partial", True),   # past partial_within (0.25) by less than 0.04
    (0.31, "fail", False),
])
def test_a_training_figure_near_a_line_keeps_the_better_verdict_and_says_it_is_borderline(below, status, borderline):
    want = REFERENCE["brief_training"]["heldout_accuracy"]
    found = verdicts(changed(_set("brief_training.heldout_accuracy", want - below)))["train.learns"]
    assert found.status == status, found.message
    assert ("borderline" in found.message) == borderline, found.message


def test_a_rubric_written_before_the_borderline_key_gets_its_default(tmp_path):
    path = tmp_path / "rubric.toml"
    path.write_text("\n".join(line for line in locations.RUBRIC.read_text().splitlines()
                              if not line.startswith("borderline_within")))
    assert rubric.load(path).training["borderline_within"] == 0.04


def _edits(*edits):
    def edit(s):
        for one in edits:
            one(s)
    return edit


WRONG_LOSS = _set("compile.loss", {"name": "binary_crossentropy", "changed": {}, "written": "'binary_crossentropy'",
                                   "keras": True, "class": "binary_crossentropy"})


@pytest.mark.parametrize("edit, starts, never", [
    # relu output, binary loss and a changed Dropout: the output and the loss are the cause, not the Dropout
    (_edits(_set("model.layers.7.settings.activation", "relu"), WRONG_LOSS, _set("model.layers.3.settings.rate", 0.5),
            _set("brief_training.heldout_accuracy", 0.1)),
     'Start with "Each layer has the right settings" above: Your output layer has activation=\'relu\'', "rate"),
    # a changed Dropout rate alone cannot make a network guess: what was observed, no "Start with"
    (_edits(_set("model.layers.3.settings.rate", 0.5), _set("brief_training.heldout_accuracy", 0.1)),
     "About 10% is what guessing gets. The other checks found nothing", "Start with"),
    # never compiled: that is what stopped the training, whatever a layer says
    (_edits(_set("compile", None), _set("model.layers.3.settings.rate", 0.5),
            _set("brief_training", {"skipped": "model.compile was never called on this model"})),
     "Compile the model before it is trained: model.compile(loss='categorical_crossentropy'", "rate"),
    # the grader refused the student's own loss: the loss check says why
    (_edits(_set("compile.loss", {"name": "categorical_crossentropy", "changed": {}, "keras": False, "origin": "own",
                                  "written": "categorical_crossentropy", "class": "categorical_crossentropy"}),
            _set("model.layers.3.settings.rate", 0.5),
            _set("brief_training", {"skipped": "the loss is not one of Keras' own (categorical_crossentropy)"})),
     'Start with "Loss function" above', "rate"),
])
def test_a_start_with_tip_names_only_what_is_wrong_and_can_explain_the_symptom(edit, starts, never):
    tip = verdicts(changed(edit))["train.learns"].hint
    assert tip.startswith(starts), tip
    assert never not in tip, tip


# Keras' terms a 14-year-old has not met: said in the lesson's words, the term kept in parentheses for searching.
JARGON = re.compile(r"'linear'|\blogits\b|\bone-hot\b|\bkwargs\b", re.IGNORECASE)


@pytest.mark.parametrize("edit", [lambda s: None, _set("model.layers.7.settings.activation", "linear")],
                         ids=["as the lesson", "no softmax"])
def test_keras_jargon_only_in_parentheses_after_the_lessons_words(edit):
    """#20 item 11."""
    for c in verdicts(changed(edit)).values():
        for text in (c.expected, c.found, c.message, c.hint, *c.details):
            outside = re.sub(r"\([^()]*\)", "", text)  # what parentheses hold is the exact term
            assert not JARGON.search(outside), (c.id, text)
    found = verdicts(changed(edit))["layers.config"]
    if found.status != "pass":
        assert found.details == ["Your 2nd Dense (layer 8): activation should be 'softmax'; yours has no activation "
                                 "(Keras calls that 'linear')."]


def test_a_layer_card_names_the_cell_that_added_the_layers():
    def edit(s):
        s["model_found"]["layers_where"] = {"cell": 9, "line": None, "code": ""}
        s["model"]["layers"][3]["settings"]["rate"] = 0.5
        s["model"]["layers"][2]["class"] = "Dense"
    found = verdicts(changed(edit))
    assert found["layers.config"].where == {"cell": 9, "line": None, "code": ""}
    assert found["layers.order"].where["cell"] == 9


# ---------------------------------------------------------------- one table row per behaviour, keyed by check

def _error(ename: str, evalue: str, source: str) -> dict:
    return {"cell": 5, "kind": "error", "ename": ename, "evalue": evalue, "traceback": "", "source": source,
            "line": 1, "code": source}


def _without_layer(index: int):
    def edit(s):
        del s["model"]["layers"][index]
    return edit


def _swap_layers(i: int, j: int):
    def edit(s):
        layers = s["model"]["layers"]
        layers[i], layers[j] = layers[j], layers[i]
    return edit


LAYER_CHECKS = {"model.sequential", "layers.order", "layers.config", "layers.shapes", "train.learns", "predict.digit3"}

# (check id, what changed, the verdict, words it must say, other checks that may honestly change with it)
EACH_CHECK = [
    ("notebook.runs", _set("execution.errors", [_error("ValueError", "bad", "x = 1 / 0")]), "partial",
     "In [5], line 1 (x = 1 / 0): ValueError: bad", set()),
    ("notebook.runs", _set("execution.kernel_died", True), "fail", "the kernel crashed", set()),
    ("notebook.runs", _edits(_set("harness_installed", False), _set("execution.harness_error", "no room left")),
     "fail", "The grader could not start your notebook: no room left", set()),
    ("notebook.runs", _set("execution.notebook_timed_out", True), "partial",
     "The whole notebook ran out of time before its last cells ran.", set()),
    ("notebook.runs", _set("execution.errors", [_error("NameError", "name 'test_acc' is not defined", "print(test_acc)")]),
     "pass", "apart from the lesson's own slip", set()),
    ("notebook.runs", _set("execution.outputs_cut", {"3": 250000}), "pass",
     "In [3] printed 250,000 characters; the grader kept only the first 100,000.", set()),
    ("model.found", _set("model_found", None), "fail", "No Keras model was found", set()),
    ("model.found", _edits(_set("model", None), _set("model_error", "too much to grade: 400 layers")), "fail",
     "but it is too much to grade: 400 layers", LAYER_CHECKS),
    ("model.found", _edits(_set("model_found.before_crash", True)), "pass",
     "Your notebook stopped before its end; the model checked is the one the grader saved before that (In [12])",
     set()),
    ("layers.order", _without_layer(3), "partial",
     "Missing: Dropout (the lesson's layer 4, right after the 2nd Conv2D).", set()),
    ("layers.order", _swap_layers(1, 2), "pass", "Your layers follow the lesson's text.", set()),
    ("layers.order", _edits(_set("model.layers", [])), "fail", "Your model has no layers; the lesson's has 8.",
     LAYER_CHECKS),
    ("layers.shapes", _edits(_set("model.layers.2.output_shape", [None, 11, 11, 48]), _set("model.layers.2.params", 13872)),
     "partial", "Your 2nd Conv2D (layer 3): output 11 × 11 × 48 with 13,872 parameters; the lesson's gives "
                "11 × 11 × 64 with 18,496.", set()),
    ("layers.shapes", _set("model.input_shape", [28, 28, 3]), "fail", "Input shape is 28 × 28 × 3; expected 28 × 28 × 1",
     set()),
    ("layers.shapes", _swap_layers(1, 2), "pass", "putting the pooling layer where the lesson's text says", set()),
    ("compile.metrics", _edits(_set("compile.metrics", []), _set("compile.metrics_written", [])), "fail",
     "Your metrics are [] (In [10], line 1); the lesson asks for ['accuracy']", set()),
    ("compile.metrics", _edits(_set("compile.metrics", ["accuracy", "mse"]),
                               _set("compile.metrics_written", ["'accuracy'", "'mse'"])), "pass",
     "Your metrics include 'accuracy'", set()),
    ("fit.validation_data", _edits(_set("fit.validation_data", None), _set("fit.validation_split", 0.2)), "fail",
     "You validate on 20% of the training images (validation_split)", set()),
    ("fit.validation_data", _set("fit.validation_data", None), "fail", "model.fit has no validation_data", set()),
    ("fit.validation_data", _set("fit.validation_data.items.0.split", "train"), "partial",
     "validation_data=(the training images, the test labels)", set()),
    ("fit.epochs", _edits(_set("fit.epochs", 30), _set("fit.replayed", 20)), "fail",
     "the grader trained the first 10 of your 30 epochs", set()),
    ("fit.batch_size", _set("fit.odd_types", {"batch_size": ["MyInt", "64"]}), "fail",
     "model.fit got batch_size as an object of type MyInt (it shows itself as 64)", set()),
    ("fit.shuffle", _edits(_set("fit.x", {"kind": "generator"})), "pass",
     "reads its data from a Python generator, so the grader cannot see the shuffling", {"data.prepared", "fit.batch_size"}),
    ("compile.loss", _set("compile.loss.changed", {"from_logits": True}), "partial", "from_logits=True", set()),
    ("compile.optimizer", _set("compile.optimizer.changed", {"learning_rate": 0.01}), "partial",
     "with learning_rate=0.01", set()),
    ("evaluate.test_data", _set("evaluate", None), "fail", "model.evaluate never ran", set()),
    ("data.prepared", _set("fit.x.dtype", "uint8"), "partial", "expected float32 (use .astype('float32'))", set()),
    ("train.learns", _set("brief_training", {"skipped": "the model has no layers"}), "fail",
     "The grader could not train a copy of your network: the model has no layers.", set()),
    ("predict.digit3", _set("digit3.probabilities", False), "pass", "Its outputs are not probabilities", set()),
    ("model.sequential", _set("model.class", "Functional"), "fail", "the lesson builds a Sequential", set()),
    ("layers.config", _set("model.layers.0.settings.filters", 16), "partial",
     "Your 1st Conv2D (layer 1): filters should be 32; yours has filters=16.", set()),
]


@pytest.mark.parametrize("check_id, edit, status, words, may_change", EACH_CHECK,
                         ids=[f"{row[0]}-{row[2]}-{i}" for i, row in enumerate(EACH_CHECK)])
def test_each_check_gives_its_verdict_in_its_words_and_the_others_stand(check_id, edit, status, words, may_change):
    found = verdicts(changed(edit))
    said = " ".join([found[check_id].message, found[check_id].found, found[check_id].hint, *found[check_id].details])
    assert found[check_id].status == status, said
    assert words in said, said
    others = {c.id: c.status for c in found.values() if c.id != check_id and c.status != "pass"}
    assert set(others) <= may_change | {"layers.shapes", "train.learns", "predict.digit3"} - {check_id}, others


def test_every_check_of_the_table_has_a_fast_case_of_its_own():
    covered = {row[1] for row in ONE_THING_CHANGED} | {row[0] for row in EACH_CHECK}
    table = [check.id for check in checks.CHECKS]
    assert set(table) - covered == set()
    # each check has at least one case where it does not simply pass
    failing = {row[1] for row in ONE_THING_CHANGED} | {row[0] for row in EACH_CHECK if row[2] != "pass"}
    assert set(table) - failing == set()


def test_the_rubric_knows_exactly_the_checks_of_the_table_in_its_order():
    assert rubric.CHECK_IDS == tuple(check.id for check in checks.CHECKS) == checks.CHECK_IDS


def test_layers_paired_by_the_facts_are_not_paired_again():
    student = changed(_without_layer(3))
    student["alignment"] = [{"op": "same", "ref": i + (i >= 3), "stu": i} for i in range(7)]
    found = verdicts(student)  # the facts' own rows stand: none missing
    assert found["layers.order"].details == []
    assert verdicts(changed(_without_layer(3)))["layers.order"].details[0].startswith("Missing: Dropout")


@pytest.mark.parametrize("cause", ["not_compiled", "no_loss"])
def test_the_training_skipped_for_want_of_a_compile_is_told_by_its_kind_not_its_words(cause):
    edit = _edits(_set("compile", None), _set("brief_training", {"skipped": "some other wording", "skip_cause": cause}))
    tip = verdicts(changed(edit))["train.learns"].hint
    assert tip.startswith("Compile the model before it is trained: model.compile(loss='categorical_crossentropy'"), tip


# ---------------------------------------------------------------- another lesson: a Dense network on Fashion-MNIST

# The lesson's words for another lesson: none of the CNN lesson's, whatever the check says.
CNN_WORDS = re.compile(r"mnist|digit|\bcnn\b|convolution|filter", re.IGNORECASE)
# The rubric's own words for its checks, as `autograder new` writes them for this lesson.
OWN_WORDS = {"data.prepared": {"title": "The data is prepared"}, "layers.order": {"lesson": "Building the network"},
             "layers.config": {"lesson": "Building the network: units, activation"}}
FASHION = dataclasses.replace(RUBRIC, dataset="fashion_mnist", title="Dense on Fashion-MNIST", forgive=(), slips=False,
                              checks={k: dataclasses.replace(v, **OWN_WORDS.get(k, {}))
                                      for k, v in RUBRIC.checks.items() if k not in ("predict.digit3",
                                                                                     "evaluate.test_data")})


def dense_reference(**fit) -> dict:
    """A Dense-only lesson's facts: Flatten, Dense(128, relu), Dense(10, softmax) on 28 × 28 images, validated on
    a fifth of the training images (validation_split=0.2), no model.evaluate, no handwritten 3."""
    r = copy.deepcopy(REFERENCE)
    layer = {"name": "", "note": None}
    r["model"].update(input_shape=[28, 28], total_params=101_770, layers=[
        {**layer, "class": "Flatten", "output_shape": [None, 784], "params": 0, "settings": {}},
        {**layer, "class": "Dense", "output_shape": [None, 128], "params": 100_480,
         "settings": {"activation": "relu", "units": 128}},
        {**layer, "class": "Dense", "output_shape": [None, 10], "params": 1_290,
         "settings": {"activation": "softmax", "units": 10}}])
    r["fit"].update(validation_data=None, validation_split=0.2, **fit)
    r["fit"]["x"]["shape"] = [60000, 28, 28]
    r["evaluate"], r["digit3"] = None, None
    return r


def fashion_verdicts(student: dict, reference: dict | None = None, lesson: rubric.Rubric = FASHION) -> dict:
    return {c.id: c for c in checks.run_checks(student, reference or dense_reference(), lesson)}


def _said(c: checks.CheckResult) -> str:
    return " ".join([c.expected, c.found, c.message, c.hint, *c.details])


def test_a_lesson_without_evaluate_or_the_handwritten_3_has_no_such_checks():
    found = fashion_verdicts(dense_reference())
    assert "evaluate.test_data" not in found and "predict.digit3" not in found
    assert list(found) == [c for c in checks.CHECK_IDS if c in FASHION.checks]
    assert {i: c.status for i, c in found.items() if c.status != "pass"} == {}


@pytest.mark.parametrize("edit", [
    _edits(_set("model.layers.2.settings.units", 5), _set("model.layers.2.settings.activation", "relu")),
    _edits(_set("compile.loss", {"name": "mean_squared_error", "changed": {}, "written": "'mse'", "keras": True,
                                 "class": "mean_squared_error"})),
    _edits(_set("brief_training.heldout_accuracy", 0.1), _set("model.layers.1.settings.activation", "linear"),
           _set("model.layers.1.settings.units", 2)),
    _edits(_set("brief_training", {"skipped": "the model has no layers"})),
    _edits(_set("fit.x.shape", [60000, 28, 28, 1]), _set("fit.y.one_hot", False), _set("fit.y.shape", [60000])),
    _edits(_set("model.input_shape", [32, 32]), _set("model.class", "Functional")),
], ids=["wrong output layer", "wrong loss", "failed training", "not trained", "data", "input shape"])
def test_another_lessons_messages_never_speak_of_the_cnn_lessons_digits_mnist_or_convolutions(edit):
    student = dense_reference()
    edit(student)
    found = fashion_verdicts(student)
    assert any(c.status != "pass" for c in found.values())
    for c in found.values():
        assert not CNN_WORDS.search(_said(c)), (c.id, _said(c))


def test_another_lessons_output_layer_and_loss_are_told_in_its_classes():
    student = dense_reference()
    _edits(_set("model.layers.2.settings.activation", "relu"), WRONG_LOSS,
           _set("brief_training.heldout_accuracy", 0.1))(student)
    found = fashion_verdicts(student)
    assert found["layers.config"].expected == "the lesson's units and activation on every layer"
    assert found["train.learns"].hint.startswith('Start with "Each layer has the right settings" above: Your output '
                                                 "layer has activation='relu'; to choose one of ten classes")
    student = dense_reference()
    _set("model.layers.1.settings.activation", "linear")(student)
    _set("brief_training.heldout_accuracy", 0.1)(student)
    tip = fashion_verdicts(student)["train.learns"].hint
    assert "is what lets it learn patterns" in tip and "About 10% is what guessing gets." not in tip, tip


def test_the_cnn_lessons_words_stay_its_own():
    student = changed(_edits(_set("model.layers.7.settings.activation", "relu"), WRONG_LOSS,
                             _set("brief_training.heldout_accuracy", 0.1)))
    found = verdicts(student)
    assert "to choose one of ten digits it needs activation='softmax'" in found["train.learns"].hint
    assert found["layers.config"].expected == ("the lesson's filters, kernel_size, pool_size, rate, units and "
                                               "activation on every layer")
    assert "one column per digit" in verdicts(changed(_set("fit.y.one_hot", False)))["data.prepared"].details[0]


@pytest.mark.parametrize("fit, status, words", [
    ({"validation_split": 0.2}, "pass", "holds back 20% of the training images for validation"),
    ({"validation_split": 0.0}, "fail", "model.fit has no validation_split"),
    ({"validation_split": 0.1}, "fail", "You hold back 10% of the training images (validation_split=0.1)"),
    ({"validation_split": 0.0, "validation_data": REFERENCE["fit"]["validation_data"]}, "fail",
     "You validate with validation_data=(the test images, the test labels)"),
])
def test_a_lesson_that_validates_on_a_split_expects_the_same_split(fit, status, words):
    student = dense_reference()
    student["fit"].update(fit)
    found = fashion_verdicts(student)["fit.validation_data"]
    assert found.status == status and found.expected == "validation_split=0.2", found
    assert words in found.message, found.message
    if status == "fail":
        assert "the lesson holds back 20% of the training images for validation with validation_split=0.2" \
            in found.message


@pytest.mark.parametrize("built, status, words", [
    ("Functional", "pass", "Your model is a functional model, keras.Model(inputs, outputs), as in the lesson."),
    ("Sequential", "fail", "Your model is a Sequential model; the lesson builds a functional model"),
])
def test_a_functional_lesson_expects_a_functional_model_and_says_what_it_found(built, status, words):
    reference = dense_reference()
    reference["model"]["class"] = "Functional"
    student = dense_reference()
    student["model"]["class"] = built
    found = fashion_verdicts(student, reference)["model.sequential"]
    assert found.status == status and words in found.message, found.message
    assert found.expected == "a functional model, keras.Model(inputs, outputs)"
    assert found.found == ("a functional model" if built == "Functional" else "Sequential")
    if status == "fail":
        assert "model = keras.Model(inputs, outputs)" in found.message and "Functional()" not in found.message


def test_another_lessons_students_are_never_told_of_the_cnn_lessons_slips():
    def edit(s):
        s["execution"]["errors"] = [_error("NameError", "name 'test_acc' is not defined", "print(test_acc)")]
    student = dense_reference()
    edit(student)
    runs = fashion_verdicts(student)["notebook.runs"]
    assert runs.status == "partial" and "The lesson prints test_acc" not in runs.hint, runs.hint
    unforgiving = dataclasses.replace(RUBRIC, forgive=())  # the CNN lesson, its slip not forgiven: still its slip
    cnn = {c.id: c for c in checks.run_checks(changed(edit), copy.deepcopy(REFERENCE), unforgiving)}["notebook.runs"]
    assert "The lesson prints test_acc" in cnn.hint, cnn.hint


def test_a_functional_lessons_missing_import_is_named():
    from autograder.hints import explain_error

    assert "from tensorflow.keras.layers import Input" in explain_error("NameError", "name 'Input' is not defined", "")
