"""Compare what the student built with what the reference built, check by check.

Every check reads two fact dicts (see capture.py), the student's and the
reference's, and returns a Verdict. Nothing about the expected network is
written here: expected values come from the reference's facts. Messages are
read by beginners: each says what was expected, what was found, and where.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from . import datasets
from .alignment import aligned, classes_of, layer_name, paired, position, swapped_description
from .errors import TOO_MUCH
from .execute import MAX_OUTPUT_CHARS
from .facts import (AlignmentRow, BriefTraining, CompileFacts, Data, Facts, FitFacts, ModelDescription, Setting,
                    SkipCause, Where)
from .hints import POOLING_SLIP, explain_error, forgiven, lesson_has_slips
from .results import CheckResult, Status, Verdict, at
from .rubric import Rubric
from .words import counted, data_noun, has, number, percent, shape, show

T = TypeVar("T")


def needed(value: T | None, what: str) -> T:
    """A fact the check's guard has made sure of (or, for the reference, the pipeline): the check cannot
    judge without it, and judge() turns its absence into the check's own error."""
    if value is None:
        raise LookupError(f"the facts have no {what}")
    return value


def _model(f: Facts) -> ModelDescription:
    return needed(f["model"], "model")


def _compile(f: Facts) -> CompileFacts:
    return needed(f["compile"], "compile settings")


def _fit(f: Facts) -> FitFacts:
    return needed(f["fit"], "model.fit")


def _rows(s: Facts) -> list[AlignmentRow]:
    return s.get("alignment") or []

# ---------------------------------------------------------------- the lesson's words

def _dataset(rubric: Rubric) -> datasets.Dataset:
    return datasets.named(rubric.dataset)


@dataclass(frozen=True)
class Choice:
    """What the network chooses among, in words: the classes of the assignment's dataset, as many as the
    reference's output layer has units. MNIST's classes are its digits ("one for each digit", "ten digits");
    another dataset's are classes ("one for each class", "ten classes")."""

    n: int
    one: str  # "digit", "class"
    many: str  # "digits", "classes"

    @property
    def among(self) -> str:
        """'ten digits'."""
        return f"{number(self.n)} {self.many}"


def choice(r: Facts, rubric: Rubric) -> Choice:
    model = r.get("model")
    units = model["layers"][-1]["settings"].get("units") if model and model["layers"] else None
    ds = _dataset(rubric)
    n = units if isinstance(units, int) else len(ds.classes)
    return Choice(n, ds.thing, ds.things) if ds.classes == datasets.DIGITS else Choice(n, "class", "classes")


def _has_layer(m: ModelDescription, prefix: str) -> bool:
    """Whether the model has a layer whose class starts so: "Conv" (Conv2D, Conv1D), "MaxPooling"."""
    return any(layer["class"].startswith(prefix) for layer in m["layers"])


def _skip_without_model(s: Facts) -> Verdict | None:
    tampered = _tampered(s)
    if tampered:
        return tampered
    if s["model"] is None:
        return Verdict(Status.SKIPPED, "a model to check", "no model",
                       "Skipped: there is no model to check (see “A Keras model was built”).")
    return None


# ---------------------------------------------------------------- the notebook

def check_notebook_runs(s: Facts, r: Facts, rubric: Rubric) -> Verdict:
    ex = s["execution"]
    notes = [forgiven(e, rubric) for e in ex["errors"]]
    errors = [e for e, note in zip(ex["errors"], notes) if not note]
    slips = list(s.get("repaired_slips", [])) + [n for n in notes if n]
    total = ex["code_cells"]
    expected = "every code cell runs without an error"
    if not s["harness_installed"]:
        return Verdict(Status.FAIL, expected, "the notebook could not be started",
                       "The grader could not start your notebook: " + (ex.get("harness_error") or "unknown reason"))
    if total == 0:
        return Verdict(Status.FAIL, expected, "no code cells", "Your notebook has no code in it.")
    details = list(s.get("other_assignment", []))
    hints = []
    for e in errors:
        first_line = e.get("code") or next((line for line in e["source"].splitlines() if line.strip()), "")
        what = "ran too long and was stopped" if e["kind"] == "timeout" else f"{e['ename']}: {e['evalue']}"
        details.append(f"{at(e) or 'In [?]'} ({first_line.strip()[:70]}): {what}")
        hint = explain_error(e["ename"], e["evalue"], e["source"], lesson_has_slips(rubric))
        if hint and hint not in hints:
            hints.append(hint)
    if ex["kernel_died"] or ex["kernel_stuck"]:
        stopped = "crashed" if ex["kernel_died"] else "stopped answering"
        return Verdict(Status.FAIL, expected, f"the kernel {stopped}",
                       f"Python {stopped} while running your notebook, so the cells after that did not run.",
                       " ".join(hints), details)
    if ex["notebook_timed_out"]:
        details.append("The whole notebook ran out of time before its last cells ran.")
    for cell, chars in sorted((ex.get("outputs_cut") or {}).items(), key=lambda kv: int(kv[0])):
        details.append(f"In [{cell}] printed {int(chars):,} characters; the grader kept only the first "
                       f"{MAX_OUTPUT_CHARS:,}.")
    for cell, count in sorted((ex.get("processes_left") or {}).items(), key=lambda kv: int(kv[0])):
        details.append(f"In [{cell}] started {count} process{'es' if count != 1 else ''} that kept running; "
                       "the grader stopped them before the next cell.")
    details += slips
    if not errors and not ex["notebook_timed_out"]:
        if slips and len(details) == len(slips):
            return Verdict(Status.PASS, expected, f"all {total} code cells ran",
                           f"All {total} code cells ran, apart from the lesson's own slip{'s' if len(slips) > 1 else ''}.",
                           "", details)
        if details:
            return Verdict(Status.PASS, expected, f"all {total} code cells ran",
                           f"All {total} code cells ran without an error.", "", details)
        return Verdict(Status.PASS, expected, f"all {total} code cells ran", f"All {total} code cells ran without an error.")
    bad = len(errors)
    status = Status.FAIL if bad >= total else Status.PARTIAL
    found = f"{bad} of {total} code cells stopped with an error" if bad else "the notebook ran out of time"
    return Verdict(status, expected, found,
                   f"{found[0].upper()}{found[1:]}. The grader kept going and checked everything it could.",
                   " ".join(hints), details)


def _kind(d: Data | None) -> str | None:
    return d.get("kind") if d else None


def _images_and_labels(s: Facts) -> tuple[Data | None, Data | None, str]:
    """What the student trained on: the arrays passed to fit, else the usual variable names."""
    fit = s["fit"]
    if fit and _kind(fit.get("x")) == "array":
        return fit.get("x"), fit.get("y"), "the arrays you passed to model.fit"
    ns = s["namespace"]
    return ns.get("train_images"), ns.get("train_labels"), "train_images and train_labels"


def _reshape_advice(want: list[int]) -> str:
    """How to get the lesson's shape of one image: a channel added, the pixels in one row, or that shape."""
    if len(want) == 3 and want[-1] == 1:
        return "Reshape them with the extra 1 at the end for the single colour channel."
    if len(want) == 1:
        return f"Reshape them into rows of {want[0]:,} numbers, one for each pixel (.reshape(-1, {want[0]}))."
    return "Reshape them to that shape."


def _image_problems(x: Data, rx: Data, what: str) -> list[str]:
    """What differs from the lesson's preparation in one array of images (`what`: which ones, in words)."""
    problems = []
    if x["shape"][1:] != rx["shape"][1:]:
        problems.append(f"{what} have shape {tuple(x['shape'])}; expected (N, {', '.join(map(str, rx['shape'][1:]))}). "
                        + _reshape_advice(list(rx["shape"][1:])))
    if not x["dtype"].startswith("float"):
        problems.append(f"{what} are {x['dtype']}; expected {rx['dtype']} (use .astype('float32')).")
    if x.get("max", 0) > 1.0 + 1e-6:
        problems.append(f"{what} have pixels up to {x['max']:.0f}; expected at most 1 (divide by 255).")
    return problems


def _one_hot(d: Data) -> bool:
    return bool(d.get("one_hot")) and len(d.get("shape") or []) == 2


def _label_problems(y: Data | None, ry: Data, what: str, one: str) -> list[str]:
    """What differs from the lesson's labels: one-hot columns (to_categorical), or one whole number per image
    (for sparse_categorical_crossentropy). `one`: a class in words ("digit")."""
    shape = tuple(y["shape"]) if y and y.get("shape") else "unknown"
    if not _one_hot(ry):
        if y and not y.get("one_hot") and list(y.get("shape") or [])[1:] == list(ry["shape"][1:]):
            return []
        return [f"{what} have shape {shape}; expected (N,): one whole number per image, the {one} it shows, as the "
                "lesson keeps them."]
    if y and y.get("one_hot") and y.get("shape", [0, 0])[-1] == ry["shape"][1]:
        return []
    return [f"{what} have shape {shape}: not one column per {one} with a 1 for the right one (one-hot); expected "
            f"(N, {ry['shape'][1]}) from keras.utils.to_categorical(labels, num_classes)."]


def _labels_words(ry: Data) -> str:
    """The lesson's labels, for expected and found: 'labels from to_categorical, 10 columns (one-hot)'."""
    if _one_hot(ry):
        return f"labels from to_categorical, {ry['shape'][1]} columns (one-hot)"
    return "labels as whole numbers, one for each image"


def _test_data(s: Facts) -> list[tuple[str, Data, Data | None]]:
    """The test data the notebook measures with, (where it goes; images; labels): the validation data
    given to model.fit and the data given to model.evaluate, the same arrays named once."""
    found: list[tuple[str, Data | None, Data | None]] = []
    x, y = _pair((s["fit"] or {}).get("validation_data"))
    if x or y:
        found.append(("validation_data in model.fit", x, y))
    evaluate = s.get("evaluate")
    found.append(("model.evaluate", evaluate["x"] if evaluate else None, evaluate["y"] if evaluate else None))
    merged: list[tuple[str, Data, Data | None]] = []
    for where, x, y in found:
        if not x or x.get("kind") != "array":
            continue
        same = next((i for i, (_, mx, my) in enumerate(merged) if (mx, my) == (x, y)), None)
        if same is None:
            merged.append((where, x, y))
        else:
            merged[same] = (f"{merged[same][0]} and {where}", x, y)
    return merged


def _labels_found(ry: Data) -> str:
    return f"labels in {ry['shape'][1]} columns (one-hot)" if _one_hot(ry) else "labels as whole numbers"


def check_data_prepared(s: Facts, r: Facts, rubric: Rubric) -> Verdict:
    x, y, where = _images_and_labels(s)
    images, labels, _ = _images_and_labels(r)
    rx, ry = needed(images, "reference's images"), needed(labels, "reference's labels")
    one = choice(r, rubric).one
    expected = (f"images of shape (N, {', '.join(map(str, rx['shape'][1:]))}), {rx['dtype']}, "
                f"pixels from 0 to 1; {_labels_words(ry)}; the test data the same")
    if not x or x.get("kind") != "array":
        return Verdict(Status.FAIL, expected, "no prepared training data",
                       "The grader could not find your prepared training data (model.fit never ran and there "
                       "is no train_images variable).")
    problems = _image_problems(x, rx, "Training images") + _label_problems(y, ry, "Training labels", one)
    wrong = [where] if problems else []
    if x.get("split") == "test":
        problems.append("model.fit trains on the test images. The lesson trains on train_images and keeps the test "
                        "images for measuring, so the network is tested on pictures it has never seen.")
    # A network trained on prepared images is measured on test images prepared the same way.
    for used_in, tx, ty in _test_data(s):
        found = (_image_problems(tx, rx, f"Test images ({used_in})")
                 + _label_problems(ty, ry, f"Test labels ({used_in})", one))
        problems += found
        wrong += [f"the test data ({used_in})"] if found else []
    if not problems:
        return Verdict(Status.PASS, expected, f"{where}: shape {tuple(x['shape'])}, {x['dtype']}, pixels 0 to "
                       f"{x.get('max', 0):g}, {_labels_found(ry)}; the test data the same",
                       "Your data is prepared the way the lesson does it.")
    status = Status.PARTIAL if len(problems) <= 2 else Status.FAIL
    return Verdict(status, expected, f"{counted(len(problems), 'problem')} in {' and '.join(wrong or [where])}",
                   "Some of the data preparation is not done the lesson's way: it reshapes, converts and scales the "
                   "training images and the test images alike.", "", problems)


# ---------------------------------------------------------------- the model

def check_model_found(s: Facts, r: Facts, rubric: Rubric) -> Verdict:
    expected = "a Keras model in the variable model"
    found = s["model_found"]
    if found is None:
        return Verdict(Status.FAIL, expected, "no model",
                       "No Keras model was found after your notebook ran. The grader looks for a variable "
                       "called model, then for the model you called fit or compile on.")
    if s["model"] is None and (s["model_error"] or "").startswith(TOO_MUCH):
        return Verdict(Status.FAIL, expected, TOO_MUCH, f"Found {found['how']}, but it is {s['model_error']}.",
                       f"Build the lesson's network: {number(len(_model(r)['layers']))} layers, which the grader "
                       "loads and trains in seconds.")
    if s["model"] is None:
        return Verdict(Status.FAIL, expected, f"{found['how']}, which could not be checked",
                       f"Found {found['how']}, but it could not be saved and reloaded safely: {s['model_error']}",
                       "Build the model only from Keras layers (no Lambda layers or custom code).")
    model = s["model"]
    layers = len(model["layers"])
    later = (" Your notebook stopped before its end; the model checked is the one the grader saved before that "
             f"(In [{found['cell']}]).") if found.get("before_crash") and found.get("cell") else ""
    return Verdict(Status.PASS, expected, f"{found['how']}: a {model['class']} with {layers} layers",
                   f"Found {found['how']}: a {model['class']} with {layers} layers.{later}")


FUNCTIONAL = "a functional model, keras.Model(inputs, outputs)"


def _model_kind(name: str) -> str:
    """A model's class in words: 'a Sequential', or what Keras calls Functional said as the lesson says it."""
    return FUNCTIONAL if name == "Functional" else f"a {name}"


def check_model_sequential(s: Facts, r: Facts, rubric: Rubric) -> Verdict:
    """The lesson builds its model one way (Sequential, or functional from keras.Input): the other way, even with
    the same layers, is not what the lesson teaches."""
    want, got = _model(r)["class"], _model(s)["class"]
    if want == "Functional":
        found = "a functional model" if got == "Functional" else got
        if want == got:
            return Verdict(Status.PASS, FUNCTIONAL, found, "Your model is a functional model, keras.Model(inputs, "
                           "outputs), as in the lesson.")
        return Verdict(Status.FAIL, FUNCTIONAL, found,
                       f"Your model is {_model_kind(got)} model; the lesson builds a functional model: it starts from "
                       "inputs = keras.Input(...), calls each layer on the one before, and ends with "
                       "model = keras.Model(inputs, outputs).")
    if want == got:
        return Verdict(Status.PASS, want, got, f"Your model is a {got}, as in the lesson.")
    return Verdict(Status.FAIL, want, got, f"Your model is a {got} model; the lesson builds a {want} with model = {want}().")


def lesson_pooling_slip(s: Facts, r: Facts, rubric: Rubric) -> bool:
    """The student put MaxPooling2D after the second Conv2D, as the lesson's text literally says."""
    a, b = classes_of(_model(r)), classes_of(_model(s))
    if "pooling_below_second_conv" not in rubric.forgive or len(a) != len(b) or len(a) < 3:
        return False
    i = next((k for k in range(len(a) - 1) if a[k] == "MaxPooling2D" and a[k + 1] == "Conv2D"), None)
    return i is not None and b == a[:i] + [a[i + 1], a[i]] + a[i + 2:]


def check_layers_order(s: Facts, r: Facts, rubric: Rubric) -> Verdict:
    a, b = classes_of(_model(r)), classes_of(_model(s))
    expected, found = " → ".join(a), " → ".join(b) or "(no layers)"
    if a == b:
        return Verdict(Status.PASS, expected, found, f"All {len(a)} layers are in the lesson's order.")
    if lesson_pooling_slip(s, r, rubric):
        return Verdict(Status.PASS, expected, found, "Your layers follow the lesson's text.", "", [POOLING_SLIP])
    details = []
    swapped = swapped_description(a, b)
    if swapped:
        details.append(swapped)
    else:
        for row in _rows(s):
            if row["op"] == "missing":
                details.append(f"Missing: {a[row['ref']]} (the lesson's {position(a, row['ref'])}).")
            elif row["op"] == "extra":
                details.append(f"Extra: {b[row['stu']]} at your {position(b, row['stu'])}; the lesson has no "
                               "layer like it there.")
            elif row["op"] == "moved":
                details.append(f"{a[row['ref']]} is in the wrong place: the lesson has it as "
                               f"{position(a, row['ref'])}; yours is {position(b, row['stu'])}.")
        if not b:
            details = [f"Your model has no layers; the lesson's has {len(a)}."]
    status = Status.PARTIAL if b and len(details) <= 2 else Status.FAIL
    hint = ""
    if any(d.startswith("MaxPooling2D is in the wrong place") for d in details) and lesson_has_slips(rubric):
        hint = ("The lesson says “below the second Conv2D layer”, but at that point there is only one: "
                "the pooling layer goes right after the first Conv2D.")
    return Verdict(status, expected, found, "Your layers are not in the lesson's order.", hint, details,
                   where=_layers_where(s))


def check_layers_config(s: Facts, r: Facts, rubric: Rubric) -> Verdict:
    rows = paired(_rows(s))
    if not rows:
        return Verdict(Status.SKIPPED, "", "", "Skipped: none of your layers lines up with the lesson's.")
    details: list[str] = []
    differing: list[str] = []
    hint = ""
    rm, sm = _model(r), _model(s)
    last = len(rm["layers"]) - 1
    classes = choice(r, rubric)
    for row in rows:
        ref_layer, stu_layer = rm["layers"][row["ref"]], sm["layers"][row["stu"]]
        for key, want in ref_layer["settings"].items():
            got = stu_layer["settings"].get(key)
            if got != want:
                name = layer_name(classes_of(sm), row['stu'])
                details.append(f"Your {name}: {key} should be {show(want)}; yours has {has(key, got)}.")
                differing.append(f"{name}: {has(key, got)}")
                if row["ref"] == last and key == "activation":
                    hint = _output_activation_hint(want, classes)
    checked = sum(len(rm["layers"][row["ref"]]["settings"]) for row in rows)
    named = [k for k in LAYER_SETTINGS if any(k in layer["settings"] for layer in rm["layers"])]
    expected = f"the lesson's {', '.join(named[:-1])}{' and ' if len(named) > 1 else ''}{named[-1] if named else 'settings'} on every layer"
    if not details:
        return Verdict(Status.PASS, expected, f"all {checked} settings match",
                       f"All {checked} settings of your {counted(len(rows), 'matching layer')} are the lesson's.")
    status = Status.PARTIAL if len(details) <= 2 else Status.FAIL
    found = "; ".join(differing[:2]) + (f"; and {counted(len(differing) - 2, 'more setting')}" if len(differing) > 2 else "")
    return Verdict(status, expected, found,
                   f"{counted(len(details), 'setting differs', 'settings differ')} from the lesson's: see the list "
                   "below and the marked cells in the layer table.", hint, details, where=_layers_where(s))


# The settings layers.config names in its expected value, those the lesson's layers have.
LAYER_SETTINGS = ("filters", "kernel_size", "pool_size", "rate", "units", "activation")


def _output_activation_hint(want: object, classes: Choice) -> str:
    if want != "softmax":
        return f"The output layer needs activation={show(want)}, as the lesson's loss expects."
    return (f"The output layer needs activation='softmax' so that its {classes.n} outputs are probabilities that add "
            f"up to 1, one for each {classes.one}, as the lesson's loss expects.")


def _layers_where(s: Facts) -> Where | None:
    """The cell that added the layers: no single call says which layer is wrong, the cell does."""
    found = s.get("model_found")
    return found.get("layers_where") if found else None


def _input_shape_where(rm: ModelDescription) -> str:
    """Where the lesson gives its input shape: on its first layer (a Sequential), else to keras.Input."""
    first = rm["layers"][0]["class"] if rm["layers"] else ""
    if rm["class"] == "Functional":
        return "the shape given to keras.Input"
    return f"input_shape=input_shape on the first {first}" if first else "the input shape"


def check_layers_shapes(s: Facts, r: Facts, rubric: Rubric) -> Verdict:
    if lesson_pooling_slip(s, r, rubric):
        return Verdict(Status.PASS, "the lesson's shapes", "shapes that follow from the lesson's text",
                       "Your shapes and parameter counts follow from putting the pooling layer where the "
                       "lesson's text says; that slip is the lesson's.", "", [POOLING_SLIP])
    rm, sm = _model(r), _model(s)
    expected = f"input {shape(rm['input_shape'])}, output {shape(rm['layers'][-1]['output_shape'])}, " \
               f"{rm['total_params']:,} parameters"
    found = (f"input {shape(sm['input_shape'])}, output "
             f"{shape(sm['layers'][-1]['output_shape']) if sm['layers'] else '(none)'}, "
             f"{sm['total_params']:,} parameters")
    details = []
    if sm["input_shape"] != rm["input_shape"]:
        details.append(f"Input shape is {shape(sm['input_shape'])}; expected {shape(rm['input_shape'])} "
                       f"({_input_shape_where(rm)}).")
    for row in paired(_rows(s)):
        want, got = rm["layers"][row["ref"]], sm["layers"][row["stu"]]
        if want["output_shape"] != got["output_shape"] or want["params"] != got["params"]:
            details.append(f"Your {layer_name(classes_of(sm), row['stu'])}: output {shape(got['output_shape'])} with "
                           f"{got['params']:,} parameters; the lesson's gives {shape(want['output_shape'])} with "
                           f"{want['params']:,}.")
    if sm["total_params"] != rm["total_params"]:
        details.append(f"Total parameters: {sm['total_params']:,}; the lesson's network has {rm['total_params']:,}.")
    if not details:
        return Verdict(Status.PASS, expected, found, "Every layer's output shape and number of parameters match the lesson's.")
    final_ok = bool(sm["layers"]) and sm["layers"][-1]["output_shape"] == rm["layers"][-1]["output_shape"] \
        and sm["input_shape"] == rm["input_shape"]
    return Verdict(Status.PARTIAL if final_ok else Status.FAIL, expected, found,
                   "Some shapes or parameter counts differ from the lesson's model.summary().",
                   f"A different number of {'filters or units' if _has_layer(rm, 'Conv') else 'units'}, or a "
                   "missing layer, changes the shapes of every layer after it: fix the first difference first.",
                   details[:6])


# ---------------------------------------------------------------- compile

def _incomplete(s: Facts) -> Verdict | None:
    """Part of the record could not be kept (a model that could not be saved, too much to record): what the
    grader did not see earns nothing, rather than what it saw before standing for all of it."""
    if not s.get("incomplete"):
        return None
    return Verdict(Status.FAIL, "", "an incomplete record",
                   f"The grader could not record everything your notebook did: {s['incomplete'][0]}. It gives no "
                   "points for what it could not see, so this check cannot pass.",
                   "Run your notebook as the lesson does (Kernel → Restart & Run All) without filling the disk or "
                   "memory. If it does nothing unusual, tell your teacher: this is not your fault.")


def _tampered(s: Facts) -> Verdict | None:
    """Code that reaches into the grader or replaces Keras' methods: nothing the grader saw can be trusted.
    Nor can an incomplete record (_incomplete)."""
    if not s.get("tampering"):
        return _incomplete(s)
    first = s["tampering"][0]
    place = f"{at(first)} ({first['code']})" if first.get("cell") else "your notebook"
    return Verdict(Status.FAIL, "", "the grader's own code was changed",
                   f"{place} {first['what']}, so the grader cannot trust what it saw and this check cannot pass.",
                   "Call Keras' methods as they are and leave the grader's objects alone.", where=first)


def _mismatch(s: Facts, method: str) -> Verdict | None:
    problems = [m["problem"] for m in s.get("mismatches", []) if m["method"] == method]
    if not problems:
        return None
    return Verdict(Status.FAIL, "", "a record that does not match your code",
                   f"{problems[0][0].upper()}{problems[0][1:]}: something in the notebook changed what the grader "
                   "recorded, so this check cannot pass.", "Leave the grader's own objects alone.")


def _untrustworthy(s: Facts, kind: str) -> Verdict | None:
    """The record of model.compile / fit / evaluate cannot be believed: the notebook tampered with the
    grader, made the call where the grader could not see it, or the record contradicts the code."""
    return _tampered(s) or _unrecorded(s, kind) or _mismatch(s, kind)


def _compile_missing(s: Facts) -> Verdict | None:
    untrustworthy = _untrustworthy(s, "compile")
    if untrustworthy:
        return untrustworthy
    if s["compile"] is None and s.get("compile_where") and s["model"] is None:
        return Verdict(Status.FAIL, "", "could not be checked", "The grader could not load your model (see “A Keras "
                       "model was built”), so the settings you gave model.compile cannot be checked.",
                       where=s["compile_where"])
    if s["compile"] is None:
        return Verdict(Status.FAIL, "", "not compiled", "The model was never compiled: model.compile did not run "
                       "(is the cell there, and did an earlier cell stop with an error?).")
    return None


def _setting_verdict(what: str, want: Setting | None, got: Setting | None, where: Where | None) -> Verdict:
    expected = want["written"] if want else "(none)"
    place = f" ({at(where)}: {where['code']})" if where and where.get("code") else ""
    if got is None:
        return Verdict(Status.FAIL, expected, "none", f"No {what} was given to model.compile{place}; the lesson uses "
                       f"{expected}.", where=where)
    if not got.get("keras", True):
        name = got.get("class") or got["name"]
        origin = got.get("origin") or "own"
        if origin != "own":  # another library's (TensorFlow's, say): not the student's, not Keras' either
            library = origin.split(".")[0]
            return Verdict(Status.FAIL, expected, f"{name} from {library}",
                           f"Your {what} is {name} from {library} ({origin}){place}, which is not one of Keras' own; "
                           f"the lesson uses {expected}.", f"Use Keras' {what}: {expected}.", where=where)
        return Verdict(Status.FAIL, expected, f"your own {name}",
                       f"Your {what} is a class or function of your own named {name}{place}, not Keras' "
                       f"own; the lesson uses {expected}.", f"Use Keras' {what}: {expected}.", where=where)
    lesson = needed(want, f"lesson's {what}")
    if got["name"] != lesson["name"]:
        return Verdict(Status.FAIL, expected, got["written"],
                       f"Your {what} is {got['written']}{place}; the lesson uses {expected}.", where=where)
    if got["changed"] != lesson["changed"]:
        changes = ", ".join(f"{k}={v!r}" for k, v in got["changed"].items()) or "the default settings"
        return Verdict(Status.PARTIAL, expected, got["written"],
                       f"The {what} is the right one, but with {changes}{place}; the lesson uses {expected} "
                       "with its default settings.", where=where)
    same = "" if got["written"] == lesson["written"] else f" (you wrote {got['written']}, which Keras treats the same)"
    return Verdict(Status.PASS, expected, got["written"], f"The {what} is {expected}{same}.", where=where)


def _recompiled(s: Facts, verdict: Verdict) -> Verdict:
    calls = s["compile"].get("calls", 0) if s["compile"] else 0
    if calls > 1:
        verdict.details.append(f"You called compile {calls} times; this is the one in effect "
                               "while your model trained the most.")
    return verdict


def check_compile_loss(s: Facts, r: Facts, rubric: Rubric) -> Verdict:
    loss = _compile(s)["loss"]
    verdict = _setting_verdict("loss", _compile(r)["loss"], loss, _compile(s).get("where"))
    if verdict.status != Status.PASS and loss and loss["changed"].get("from_logits"):
        softmax = _model(r)["layers"][-1]["settings"].get("activation") == "softmax" if r["model"] else True
        verdict.hint = ("from_logits=True tells the loss that the outputs are not probabilities yet (no softmax). "
                        + ("The lesson's output layer has softmax, so leave from_logits out." if softmax else
                           "The lesson's loss has no from_logits, so leave it out."))
    return _recompiled(s, verdict)


def check_compile_optimizer(s: Facts, r: Facts, rubric: Rubric) -> Verdict:
    return _recompiled(s, _setting_verdict("optimizer", _compile(r)["optimizer"], _compile(s)["optimizer"],
                                           _compile(s).get("where")))


def check_compile_metrics(s: Facts, r: Facts, rubric: Rubric) -> Verdict:
    rc, sc = _compile(r), _compile(s)
    expected = "[" + ", ".join(rc["metrics_written"]) + "]"
    found = "[" + ", ".join(sc["metrics_written"]) + "]"
    absent = [m for m in rc["metrics"] if m not in sc["metrics"]]
    where = sc.get("where")
    if not absent:
        return Verdict(Status.PASS, expected, found, f"Your metrics include {', '.join(rc['metrics_written'])}, "
                       "as the lesson asks.", where=where)
    return Verdict(Status.FAIL, expected, found, f"Your metrics are {found} ({at(where)}); the lesson asks for {expected}, "
                   "so Keras reports how many images the network gets right.", where=where)


# ---------------------------------------------------------------- fit and evaluate

def _unrecorded(s: Facts, kind: str) -> Verdict | None:
    cells = s.get("unrecorded_calls", {}).get(kind)
    if not cells:
        return None
    where = ", ".join(f"In [{c}]" for c in cells)
    return Verdict(Status.FAIL, "", "not seen by the grader",
                   f"Your notebook calls model.{kind} in {where}, and that cell ran without an error, but the "
                   f"grader never saw the call: something replaced Keras' {kind} (for example keras.Model.{kind} "
                   "= ...), so these settings cannot be checked.",
                   "Call the real Keras methods; do not reassign them.", where={"cell": cells[0], "line": None, "code": ""})


def _fit_missing(s: Facts) -> Verdict | None:
    untrustworthy = _untrustworthy(s, "fit")
    if untrustworthy:
        return untrustworthy
    if s["fit"] is None:
        return Verdict(Status.FAIL, "", "model.fit never ran",
                       "model.fit never ran, so there is nothing to check here (is the cell there, and did an "
                       "earlier cell stop with an error?).")
    return None


def _fit_place(fit: FitFacts, setting: str = "") -> str:
    """' (In [11], line 1: model.fit(...))', or, for a setting passed by name, the line that set it first:
    ' (set in In [8], line 4: epochs = 5; given to model.fit in In [11])'."""
    where, source = fit.get("where"), (fit.get("set_in") or {}).get(setting)
    if source:
        return f" (set in {at(source)}: {source['code']}; given to model.fit in {at(where) or 'a later cell'})"
    return f" ({at(where)}: {where['code']})" if where and where.get("code") else ""


def _setting_where(fit: FitFacts, setting: str) -> Where | None:
    """The line to change: where a setting passed by name was set (epochs = 5), else the model.fit line."""
    return (fit.get("set_in") or {}).get(setting) or fit.get("where")


def _unknowable(fit: FitFacts, what: str) -> Verdict | None:
    """A generator hides its batches from the grader: say so rather than fail the student."""
    if _kind(fit.get("x")) != "generator":
        return None
    return Verdict(Status.PASS, "", "not visible in a generator",
                   f"Your model.fit reads its data from a Python generator, so the grader cannot see the {what}; "
                   "your teacher may check it by hand.", where=fit.get("where"))


def _odd_type(fit: FitFacts, rfit: FitFacts, name: Literal["batch_size", "epochs", "shuffle"]) -> Verdict | None:
    """A setting given as an object of another type than Keras expects (one that prints as 10 may count as 1):
    what Keras made of it is not what it says about itself, so it cannot pass."""
    odd = (fit.get("odd_types") or {}).get(name)
    if not odd:
        return None
    kind, shown = odd
    want, used = rfit[name], fit.get(name)
    plain = "True or False" if name == "shuffle" else "a whole number"
    return Verdict(Status.FAIL, f"{name}={want}", f"{name} given as a {kind} object",
                   f"model.fit got {name} as an object of type {kind} (it shows itself as {shown}), not {plain}; "
                   f"Keras used it as {used}.", f"Write {name}={want} as a plain value, as the lesson does.",
                   where=fit.get("where"))


def check_fit_batch_size(s: Facts, r: Facts, rubric: Rubric) -> Verdict:
    fit = _fit(s)
    unknowable = _unknowable(fit, "batch size") or _odd_type(fit, _fit(r), "batch_size")
    if unknowable:
        return unknowable
    want, got, where = _fit(r)["batch_size"], fit["batch_size"], _setting_where(fit, "batch_size")
    via = " (the batch size of your tf.data pipeline)" if fit.get("dataset") else ""
    if got == want:
        return Verdict(Status.PASS, str(want), str(got), f"batch_size is {got}{via}.", where=where)
    if got is None:
        return Verdict(Status.FAIL, str(want), "not set (Keras uses 32)",
                       f"You did not set batch_size{_fit_place(fit)}, so Keras uses 32; the lesson uses "
                       f"batch_size={want}.", where=where)
    return Verdict(Status.FAIL, str(want), str(got), f"Your batch_size is {got}{via}{_fit_place(fit, 'batch_size')}; "
                   f"the lesson uses {want}.", where=where)


def _epochs_words(n: int) -> str:
    return f"{n} epoch" + ("" if n == 1 else "s")


def check_fit_epochs(s: Facts, r: Facts, rubric: Rubric) -> Verdict:
    fit = _fit(s)
    odd = _odd_type(fit, _fit(r), "epochs")
    if odd:
        return odd
    want, got, where = _fit(r)["epochs"], fit["epochs"], fit.get("where")
    calls = fit.get("calls", 1)
    if calls == 1:  # one call: the line to change is the one that set epochs, when it was passed by name
        where = _setting_where(fit, "epochs")
    over = f" over {calls} calls of model.fit" if calls > 1 else ""
    if got == want:
        return Verdict(Status.PASS, str(want), str(got), f"model.fit trains for {_epochs_words(got)}{over}.", where=where)
    variable = s["namespace"].get("epochs")
    note = ""
    if fit.get("initial_epoch"):
        note = (f" initial_epoch={fit['initial_epoch']} skips the first epochs: only "
                f"{_epochs_words(got)} really train.")
    elif variable == want and "epochs" not in (fit.get("given") or []):
        note = f" You set epochs = {variable}, but did not pass it: add epochs=epochs to model.fit."
    elif variable == want and calls == 1:
        note = f" Your variable epochs is {variable}, but model.fit got {got}."
    details = []
    replayed = fit.get("replayed", 0)
    if replayed:
        details.append(f"To keep grading quick, the grader trained the first {got - replayed:,} of your "
                       f"{got:,} epochs and repeated the last one's results for the rest; your code saw every epoch.")
    place = _fit_place(fit, "epochs" if calls == 1 else "")
    return Verdict(Status.FAIL, str(want), str(got), f"model.fit trains for {_epochs_words(got)}{over}{place}; "
                   f"the lesson uses {want}.{note}", details=details, where=where)


def _split_label(d: Data | None) -> str:
    if not d or d.get("kind") != "array":
        return "something else"
    split = {"test": "the test", "train": "the training"}.get(d.get("split") or "", "other")
    what = data_noun(d["shape"])
    return f"{split} {what}"


def _pair(d: Data | None) -> tuple[Data | None, Data | None]:
    """(images, labels) given as a tuple (validation_data), else (None, None)."""
    if d and d.get("kind") == "tuple" and len(d.get("items", [])) >= 2:
        return d["items"][0], d["items"][1]
    return None, None


def _validation_split(s: Facts, want: float) -> Verdict:
    """The lesson holds back part of the training images (validation_split=0.2): the same part, the same way."""
    fit = _fit(s)
    expected, got = f"validation_split={want:g}", fit.get("validation_split") or 0
    lesson = (f"the lesson holds back {want:.0%} of the training images for validation with "
              f"validation_split={want:g}")
    if fit["validation_data"] is not None:
        x, y = _pair(fit["validation_data"])
        found = f"validation_data=({_split_label(x)}, {_split_label(y)})"
        return Verdict(Status.FAIL, expected, found, f"You validate with {found}{_fit_place(fit)}; {lesson}.",
                       where=fit.get("where"))
    if not got:
        return Verdict(Status.FAIL, expected, "no validation",
                       f"model.fit has no validation_split, so you cannot see how well the network does on new "
                       f"images during training; {lesson}.", where=fit.get("where"))
    if abs(got - want) > 1e-9:
        return Verdict(Status.FAIL, expected, f"validation_split={got:g}",
                       f"You hold back {got:.0%} of the training images (validation_split={got:g}){_fit_place(fit)}; "
                       f"{lesson}.", where=fit.get("where"))
    return Verdict(Status.PASS, expected, f"validation_split={got:g}",
                   f"model.fit holds back {got:.0%} of the training images for validation, as the lesson does.")


def check_fit_validation_data(s: Facts, r: Facts, rubric: Rubric) -> Verdict:
    fit, rfit = _fit(s), _fit(r)
    if rfit["validation_data"] is None and rfit.get("validation_split"):
        return _validation_split(s, float(rfit["validation_split"] or 0))
    rx, ry = _pair(rfit["validation_data"])
    expected = f"validation_data=({_split_label(rx)}, {_split_label(ry)})"
    v = fit["validation_data"]
    if v is None:
        split = fit.get("validation_split") or 0
        if split:
            return Verdict(Status.FAIL, expected, f"validation_split={split}",
                           f"You validate on {split:.0%} of the training images (validation_split); the lesson "
                           "validates on the test images with validation_data=(test_images, test_labels).")
        return Verdict(Status.FAIL, expected, "no validation data",
                       "model.fit has no validation_data, so you cannot see how well the network does on new "
                       "images during training.")
    x, y = _pair(v)
    found = f"validation_data=({_split_label(x)}, {_split_label(y)})"
    ok = [bool(d) and _split(d) == _split(want) for d, want in ((x, rx), (y, ry))]
    if all(ok):
        return Verdict(Status.PASS, expected, found, "model.fit validates on the test images and labels.")
    return Verdict(Status.PARTIAL if any(ok) else Status.FAIL, expected, found,
                   f"Your validation data is ({_split_label(x)}, {_split_label(y)}); the lesson uses "
                   "(test_images, test_labels): images the network never trains on.")


def check_fit_shuffle(s: Facts, r: Facts, rubric: Rubric) -> Verdict:
    fit = _fit(s)
    unknowable = _unknowable(fit, "shuffling") or _odd_type(fit, _fit(r), "shuffle")
    if unknowable:
        return unknowable
    want, got = _fit(r)["shuffle"], fit["shuffle"]
    if fit.get("dataset"):
        if got:
            return Verdict(Status.PASS, f"shuffle={want}", "your tf.data pipeline shuffles",
                           "Your tf.data pipeline shuffles the images (.shuffle), which is what shuffle=True does.")
        return Verdict(Status.FAIL, f"shuffle={want}", "your tf.data pipeline does not shuffle",
                       f"Your tf.data pipeline has no .shuffle(...){_fit_place(fit)}, and with a dataset Keras does "
                       "not shuffle for you; the lesson shuffles the images every epoch.", where=fit.get("where"))
    if got == want and "shuffle" in fit["given"]:
        return Verdict(Status.PASS, f"shuffle={want}", f"shuffle={got}", f"model.fit has shuffle={got}.")
    if got == want:
        return Verdict(Status.PASS, f"shuffle={want}", "not written (Keras shuffles by default)",
                       "You did not write shuffle=True, but Keras shuffles by default, so it does the same. "
                       "The lesson writes it to make it visible.")
    return Verdict(Status.FAIL, f"shuffle={want}", f"shuffle={got}",
                   f"model.fit has shuffle={got}; the lesson shuffles the images every epoch (shuffle={want}).")


def _split(d: Data | None) -> str | None:
    return d.get("split") if d else None


def check_evaluate_test_data(s: Facts, r: Facts, rubric: Rubric) -> Verdict:
    re = needed(r["evaluate"], "model.evaluate")
    expected = f"model.evaluate({_split_label(re['x'])}, {_split_label(re['y'])})"
    e = s["evaluate"]
    if e is None:
        return Verdict(Status.FAIL, expected, "model.evaluate never ran",
                       "model.evaluate never ran, so the notebook never measures the accuracy on the test images.")
    found = f"model.evaluate({_split_label(e['x'])}, {_split_label(e['y'])})"
    ok = [_split(e["x"]) == _split(re["x"]), _split(e["y"]) == _split(re["y"])]
    where = e.get("where")
    if all(ok):
        return Verdict(Status.PASS, expected, found, "model.evaluate measures the network on the test images.", where=where)
    return Verdict(Status.FAIL, expected, found, f"Your notebook calls {found} ({at(where)}: {where.get('code', '')}); "
                   "the lesson evaluates on the test images and labels, which the network never trained on.",
                   where=where)


# ---------------------------------------------------------------- brief training

def _training_words(q: BriefTraining) -> str:
    return (f"{q['train_images']:,} training images, {q['epochs']} epoch{'s' if q['epochs'] != 1 else ''}, "
            f"batch {q['batch_size']}")


def check_train_learns(s: Facts, r: Facts, rubric: Rubric) -> Verdict:
    q, rq = s["brief_training"], needed(r["brief_training"], "brief training")
    expected = f"close to the lesson's network: {percent(rq['heldout_accuracy'])} of {rq['heldout_images']:,} new images"
    if not q or "heldout_accuracy" not in q:
        reason = (q or {}).get("skipped") or (q or {}).get("error") or "the notebook did not get that far"
        return Verdict(Status.FAIL, expected, "not trained", f"The grader could not train a copy of your network: {reason}.")
    got, want = q["heldout_accuracy"], rq["heldout_accuracy"]
    found = f"{percent(got)} of {q['heldout_images']:,} new images"
    message = (f"After the same brief training ({_training_words(q)}), a fresh copy of your network got {percent(got)} "
               f"of {q['heldout_images']:,} new images right; the lesson's network got {percent(want)}.")
    if q.get("more_epochs"):  # it started slower: it was given more training before being judged
        message = (f"After the same brief training ({_training_words(q)}), a fresh copy of your network got "
                   f"{percent(q['first_accuracy'])} of {q['heldout_images']:,} new images right; the lesson's network "
                   f"got {percent(want)}. Some networks start slower, so yours was given "
                   f"{counted(q['more_epochs'], 'more epoch')} on the same images and then got {percent(got)}.")
    gap, t = want - got, rubric.training
    band = t["borderline_within"]
    hint = ""
    classes = choice(r, rubric)
    if got < 2 / classes.n:  # which setting is to blame is for run_checks to say (_cause_first): it sees the others
        hint = f"About {percent(1 / classes.n)} is what guessing gets."
    verdict = Verdict(Status.FAIL, expected, found, message, hint)
    for status, line in ((Status.PASS, t["pass_within"]), (Status.PARTIAL, t["partial_within"])):
        if gap <= line + band:  # within what the figure can move between machines: the better verdict, said so
            verdict = Verdict(status, expected, found, message + (_borderline(gap, line, status) if gap > line else ""),
                              hint if status != Status.PASS else "")
            break
    if verdict.status == Status.PASS and _output_and_loss(s, r, classes):
        # Right answers by the largest output, but not a network that gives what the lesson's gives.
        verdict.status = Status.PARTIAL
        verdict.message += (f" It learned, but its output layer and its loss do not fit a choice among {classes.among}, "
                            "so its outputs are not the probabilities the lesson's network gives: partly right.")
    return verdict


def _borderline(gap: float, line: float, status: Status) -> str:
    verdict = "passing" if status == Status.PASS else "partly right"
    return (f" That is {percent(gap)} below it, just past the {percent(line)} the grader allows for "
            f"{'full' if status == Status.PASS else 'part of the'} marks: a borderline result, which counts as "
            f"{verdict} because on another kind of computer the same training can come out a few points higher.")


def check_predict_digit3(s: Facts, r: Facts, rubric: Rubric) -> Verdict:
    d, rd = s["digit3"], r["digit3"]
    expected = "3"
    if not d:
        return Verdict(Status.FAIL, expected, "no answer", "The grader could not show your network the handwritten 3.")
    outputs = d["outputs"]
    sure = f" ({percent(outputs[d['guess']])} sure)" if d["probabilities"] else ""
    note = "" if d["probabilities"] else " Its outputs are not probabilities (they do not add up to 1): the output layer has no softmax."
    ref = f" The lesson's network, trained the same way, says {rd['guess']}." if rd else ""
    status = Status.PASS if d["guess"] == 3 else Status.FAIL
    article = "an" if d["guess"] == 8 else "a"
    return Verdict(status, expected, str(d["guess"]),
                   f"After brief training, your network thinks the handwritten 3 is {article} {d['guess']}{sure}.{ref}{note}")


@dataclass(frozen=True)
class Check:
    """One row of the grading table: its id (the rubric's key), what it needs before it can say anything,
    and the function that compares the student's facts (s) with the reference's (r)."""

    id: str
    run: Callable[[Facts, Facts, Rubric], Verdict]
    requires: str = ""  # a key of GUARDS: checked first, once, for every check that needs it


# Before a check can judge: the facts it reads must exist and be trustworthy. Each returns the verdict
# that stands in for the check (skipped, or failed for tampering), or None to go on.
GUARDS: dict[str, Callable[[Facts], Verdict | None]] = {
    "untampered": _tampered,
    "model": _skip_without_model,
    "compile": _compile_missing,
    "fit": _fit_missing,
    "evaluate": lambda s: _untrustworthy(s, "evaluate"),
}

CHECKS = (
    Check("notebook.runs", check_notebook_runs),
    Check("data.prepared", check_data_prepared, "untampered"),  # the data's description comes from the kernel
    Check("model.found", check_model_found, "untampered"),
    Check("model.sequential", check_model_sequential, "model"),
    Check("layers.order", check_layers_order, "model"),
    Check("layers.config", check_layers_config, "model"),
    Check("layers.shapes", check_layers_shapes, "model"),
    Check("compile.loss", check_compile_loss, "compile"),
    Check("compile.optimizer", check_compile_optimizer, "compile"),
    Check("compile.metrics", check_compile_metrics, "compile"),
    Check("fit.batch_size", check_fit_batch_size, "fit"),
    Check("fit.epochs", check_fit_epochs, "fit"),
    Check("fit.validation_data", check_fit_validation_data, "fit"),
    Check("fit.shuffle", check_fit_shuffle, "fit"),
    Check("evaluate.test_data", check_evaluate_test_data, "evaluate"),
    Check("train.learns", check_train_learns, "model"),
    Check("predict.digit3", check_predict_digit3, "model"),
)
CHECK_IDS = tuple(check.id for check in CHECKS)


def judge(check: Check, student: Facts, reference: Facts, rubric: Rubric) -> Verdict:
    """The check's verdict; a bug in one check is its own error verdict and costs the others nothing."""
    try:
        guard = GUARDS[check.requires](student) if check.requires else None
        return guard or check.run(student, reference, rubric)
    except Exception as exc:
        return Verdict(Status.ERROR, "", "", f"The grader hit a problem in this check ({type(exc).__name__}: "
                       f"{exc}). This is not your fault: tell your teacher.")


# Checks whose failure is usually a consequence: their tip names the cause another check found first.
FOLLOWS_FROM = {"train.learns", "predict.digit3"}
CROSS_ENTROPY = {"categorical_crossentropy", "sparse_categorical_crossentropy"}


def _lost_points(results: list[CheckResult]) -> dict[str, CheckResult]:
    """The checks so far that failed or partly failed and cost points: the only ones a tip may name."""
    return {c.id: c for c in results if c.status in (Status.FAIL, Status.PARTIAL) and c.points < c.max_points}


def _output_and_loss(s: Facts, r: Facts, classes: Choice) -> list[tuple[str, str]]:
    """(check id, sentence) for an output layer and a loss that cannot work together for the lesson's choice
    (among ten digits)."""
    layers, ref_out = s["model"]["layers"] if s["model"] else [], _model(r)["layers"][-1]["settings"]
    compiled = s.get("compile")
    loss = compiled["loss"] if compiled else None
    lesson_loss = r["compile"]["loss"] if r["compile"] else None
    ref_loss = lesson_loss["name"] if lesson_loss else None
    out = layers[-1]["settings"] if layers else {}
    found = []
    if out.get("units") not in (None, ref_out.get("units")):
        found.append(("layers.config", f"your output layer has {out['units']} units; it needs "
                                       f"{ref_out.get('units')}, one for each {classes.one}."))
    logits = loss and loss["name"] in CROSS_ENTROPY and loss["changed"].get("from_logits")  # softmax inside the loss
    if out.get("activation") not in (None, ref_out.get("activation")) and not logits:
        found.append(("layers.config", f"your output layer has {has('activation', out['activation'])}; to choose "
                                       f"one of {classes.among} it needs activation={show(ref_out.get('activation'))}, "
                                       "as in the lesson."))
    if loss and loss["name"] and loss["name"] not in CROSS_ENTROPY and loss["name"] != ref_loss:
        found.append(("compile.loss", f"the loss {loss.get('written') or loss['name']} does not measure how wrong a "
                                      f"choice among {classes.among} is; the lesson's {ref_loss} does."))
    return found


def _settings_that_stop_learning(s: Facts, r: Facts) -> list[tuple[str, str]]:
    """(check id, sentence) for layer settings that can stop a network learning: an activation changed, a
    Dropout that drops most of the signal, a layer with almost no filters or units. A changed Dropout rate or
    filter count the lesson would call different, but not broken, is not named as a cause."""
    rm, sm = _model(r), _model(s)
    found: list[tuple[str, str]] = []
    classes = classes_of(sm)
    learns = "shapes" if _has_layer(rm, "Conv") else "patterns"  # what a convolution finds, or a Dense layer
    for row in paired(_rows(s)):
        want, got = rm["layers"][row["ref"]]["settings"], sm["layers"][row["stu"]]["settings"]
        name = layer_name(classes, row["stu"])
        if row["ref"] < len(rm["layers"]) - 1 and got.get("activation") != want.get("activation"):
            found.append(("layers.config", f"your {name} has {has('activation', got.get('activation'))}; the lesson's "
                                           f"{show(want.get('activation'))} is what lets it learn {learns}."))
        if (got.get("rate") or 0) >= 0.7:
            found.append(("layers.config", f"your {name} drops {percent(got['rate'])} of its inputs while training."))
        for key in ("units", "filters"):
            if isinstance(got.get(key), int) and got[key] < 4 <= (want.get(key) or 0):
                found.append(("layers.config", f"your {name} has only {got[key]} {key}; the lesson's has {want[key]}."))
    return found


def _causes(s: Facts, r: Facts, results: list[CheckResult], classes: Choice) -> list[tuple[CheckResult, str]]:
    """What is wrong in this notebook that can explain a copy that learns little, earliest in the pipeline
    first (output and loss, then the optimizer, then missing layers, then layer settings), each with the
    failed check that found it. Nothing about the student's data: the grader trains its copy on its own
    prepared images, so unscaled pixels never explain it."""
    failed = _lost_points(results)
    found = _output_and_loss(s, r, classes)
    compiled = s.get("compile")
    optimizer = compiled["optimizer"] if compiled else None
    rate = (optimizer["changed"] if optimizer else {}).get("learning_rate")
    if isinstance(rate, (int, float)) and not 1e-5 < rate < 0.05:  # another optimizer, or a near rate, still learns
        found.append(("compile.optimizer", f"a learning rate of {show(rate)} is far too {'large' if rate >= 0.05 else 'small'}"
                                           " for this network to learn; the lesson keeps the optimizer's own learning rate."))
    missing = [row["ref"] for row in _rows(s) if row["op"] == "missing"]
    if missing and "layers.order" in failed:
        names = ", ".join(_model(r)["layers"][i]["class"] for i in missing)
        found.append(("layers.order", f"your network lacks the lesson's {names}."))
    found += _settings_that_stop_learning(s, r)
    return [(failed[check], sentence) for check, sentence in found if check in failed]


# training.py's reasons for not training, by their words: for facts that do not say their kind (skip_cause).
SKIP_WORDS: tuple[tuple[str, SkipCause], ...] = (
    ("never called", "not_compiled"), ("without a loss", "no_loss"),
    ("the loss is not", "loss_not_keras"), ("the optimizer is not", "optimizer_not_keras"))


def skip_cause(trained: BriefTraining) -> SkipCause:
    """Why the grader could not train a copy, by kind: as the facts say it, else read from its words."""
    if "skip_cause" in trained:
        return trained["skip_cause"]
    reason = trained.get("skipped") or trained.get("error") or ""
    return next((cause for words, cause in SKIP_WORDS if words in reason), "other")


def _not_trained(cause: SkipCause, r: Facts, results: list[CheckResult]) -> str:
    """The tip when the grader could not train a copy at all: what stopped it, and the check that says more."""
    if cause in ("not_compiled", "no_loss"):
        rc = _compile(r)
        compile_line = (f"model.compile(loss={needed(rc['loss'], 'loss')['written']}, optimizer="
                        f"{needed(rc['optimizer'], 'optimizer')['written']}, "
                        f"metrics=[{', '.join(rc['metrics_written'])}])")
        return f"Compile the model before it is trained: {compile_line}, in a cell before model.fit."
    check = _lost_points(results).get({"loss_not_keras": "compile.loss",
                                       "optimizer_not_keras": "compile.optimizer"}.get(cause, ""))
    return f"Start with \"{check.title}\" above: {check.hint or check.message}" if check else ""


def _cause_first(s: Facts, r: Facts, results: list[CheckResult], own_hint: str,
                 classes: Choice) -> tuple[str, list[CheckResult]]:
    """'Start with "The loss …" above: …' naming only what is wrong in this notebook and can explain the
    symptom, earliest cause first ("Then:" only for other failed checks with such a cause); when nothing
    found explains it, what was observed. Returns the tip and the checks it names."""
    trained: BriefTraining = s.get("brief_training") or {}
    if "heldout_accuracy" not in trained:
        return _not_trained(skip_cause(trained), r, results) or own_hint, []
    causes = _causes(s, r, results, classes)
    if not causes:
        return (own_hint + " " if own_hint else "") + ("The other checks found nothing that usually stops a network "
                                                       "from learning: compare your layers with the lesson's in the "
                                                       "table below."), []
    first, reason = causes[0]
    # Then: the other checks named, by points lost (the report's "Fix these first" order).
    then = sorted({c.id: c for c, _ in causes if c.id != first.id}.values(), key=lambda c: c.points - c.max_points)
    more = f" Then: {', '.join(f'“{c.title}”' for c in then)}." if then else ""
    return f"Start with \"{first.title}\" above: {reason[0].upper()}{reason[1:]}{more}", [c for c, _ in causes]


def run_checks(student: Facts, reference: Facts, rubric: Rubric) -> list[CheckResult]:
    results: list[CheckResult] = []
    # Marked once here, read by notebook.runs and the report: an error only the lesson's slip caused.
    for error in (student.get("execution") or {}).get("errors", []):
        error["forgiven"] = forgiven(error, rubric) or ""
    # Paired once, read by the three layer checks and the report's layer table: by capture.collect when
    # it was given the reference, else here.
    if "alignment" not in student:
        student["alignment"] = aligned(reference["model"], student["model"])
    for check in CHECKS:
        if check.id not in rubric.checks:  # not part of this assignment (a lesson without evaluate, or digit 3)
            continue
        check_id, rule = check.id, rubric.checks[check.id]
        verdict = judge(check, student, reference, rubric)
        causes: list[CheckResult] = []
        if check_id in FOLLOWS_FROM and verdict.status not in (Status.PASS, Status.SKIPPED):
            verdict.hint, causes = _cause_first(student, reference, results, verdict.hint, choice(reference, rubric))
        share = {Status.PASS: 1.0, Status.PARTIAL: rule.partial}.get(verdict.status, 0.0)
        results.append(CheckResult(
            id=check_id, title=rule.title, status=verdict.status.value, points=round(rule.points * share, 2),
            max_points=rule.points, expected=verdict.expected, found=verdict.found, message=verdict.message,
            hint=verdict.hint, lesson=rule.lesson, details=verdict.details, where=verdict.where,
            short=rule.short, visibility=rule.visibility, show_expected=rule.show_expected,
            caused_by=list(dict.fromkeys(c.id for c in causes))))
    return results
