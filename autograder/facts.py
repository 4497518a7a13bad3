"""The facts: what the grader established about one notebook run, student's or reference's, documented
once. capture.collect makes all of them, from the harness's events, the grader's own copies of the model,
the run's circumstances (Circumstances, given by the pipeline) and, for a student, the layer alignment
against the reference; checks.run_checks compares two of them; the reference's are cached as JSON.
Plain dicts at run time (they travel as JSON to Dask workers and the cache): these TypedDicts say which
keys exist and what each holds, so that a type checker holds every lookup in capture and checks to them,
and tests hold every graded fixture to them.

A key marked NotRequired is absent from some facts (older cached ones, or a run that never got there);
every other key is always written by capture.collect.
"""

from __future__ import annotations

import sys
from typing import Any, Literal, TypedDict

if sys.version_info >= (3, 11):
    from typing import NotRequired, Required
else:  # pragma: no cover
    from typing_extensions import NotRequired, Required


class Where(TypedDict):
    """The student's own line: In [cell], line, its code (cell and line None when unknown)."""

    cell: int | None
    line: int | None
    code: str
    inner: NotRequired[Where]  # the line inside a function of the student's that the cell's line called


class Finding(Where):
    """Code that reaches into the grader (capture.tampering): where, and what it does."""

    what: str


# A value described without carrying it: {"kind": "array", "shape", "dtype", "min", "max", "split" ("train" /
# "test" / None: recognised by content), "one_hot"}, {"kind": "tuple", "items"}, {"kind": "dataset", "steps",
# "batch_size", "shuffle", "sources"} (tf.data), {"kind": "generator"}, or {"kind": a type's name}.
Data = TypedDict("Data", {
    "kind": Required[str],
    "shape": list[int],
    "dtype": str,
    "min": float,
    "max": float,
    "one_hot": bool,
    "split": str | None,
    "items": "list[Data | None]",
    "steps": list[str],
    "batch_size": int | None,
    "shuffle": bool,
    "sources": "list[Data] | None",
}, total=False)

Layer = TypedDict("Layer", {
    "class": str,  # Keras' class name: Conv2D
    "name": str,
    "settings": dict[str, Any],  # the lesson's settings for that class (describe.SETTINGS): any JSON value
    "output_shape": list[int | None],  # [None, 26, 26, 32]
    "params": int,
    "note": str | None,  # e.g. an activation given as a separate layer
})

# One compile argument as Keras saved it (describe.compile_settings): its kind ("name", "object",
# "function"), name, whether it is Keras' own, the settings that differ from Keras' defaults.
Saved = TypedDict("Saved", {
    "kind": Required[str],
    "name": Required[str],
    "keras": Required[bool],
    "module": str | None,
    "changed": dict[str, Any],
    "error": str,
}, total=False)


class SavedCompile(TypedDict):
    """describe.compile_settings of the saved model."""

    optimizer: Saved | None
    loss: Saved | None
    metrics: list[Saved | None]


ModelDescription = TypedDict("ModelDescription", {
    "class": str,  # Sequential, Functional
    "input_shape": list[int | None] | None,
    "layers": list[Layer],
    "total_params": int,
    "compile": SavedCompile | None,
})

ModelFound = TypedDict("ModelFound", {
    "how": str,  # how it was chosen, in words
    "id": int,
    "class": str | None,
    "cell": int | None,  # the last cell that touched it
    "before_crash": bool,  # the kernel died before the end: this is the last snapshot before that
    "layers_where": NotRequired[Where | None],  # the last cell adding layers (capture.layers_added)
})


class Written(TypedDict, total=False):
    """A compile argument as the kernel saw it passed (the harness's _plain): what the student wrote."""

    kind: Required[str]  # "name", "function", "object"
    name: Required[str]
    origin: str  # "keras" (by identity), "own" or the library it came from
    module: str | None


class CompileWritten(TypedDict):
    optimizer: Written | None
    loss: Written | None
    metrics: list[Written | None] | None


# The optimizer or the loss, canonical (describe.canonical_*): its name, the settings changed from Keras'
# defaults, how it is written; then whether it is Keras' own, its class, where it came from, the student's words.
Setting = TypedDict("Setting", {
    "name": Required[str],
    "changed": Required[dict[str, Any]],
    "written": Required[str],
    "keras": bool,
    "class": str,
    "origin": str,
}, total=False)


class CompileFacts(TypedDict):
    """The compile settings in effect, canonical (capture._compile_facts)."""

    optimizer: Setting | None
    loss: Setting | None
    metrics: list[str]
    metrics_written: list[str]
    given: list[str]
    where: Where | None
    calls: int


class FitFacts(TypedDict, total=False):
    """The fit that trained the model most (capture.fit_facts)."""

    x: Data | None
    y: Data | None
    batch_size: int | None
    shuffle: bool | None
    validation_data: Data | None
    validation_split: float | None
    given: list[str]  # the keyword arguments written
    set_in: dict[str, Where]  # a setting passed by name (epochs=epochs): the line that set it
    initial_epoch: int | None
    steps_per_epoch: int | None
    epochs: int  # every fit on the model added up
    epochs_given: int | None
    calls: int
    odd_types: dict[str, list[str]]  # {setting: [type name, how it shows itself]}: not the plain type Keras expects
    replayed: int  # epochs played through callbacks without training (past the harness's max_real_epochs)
    where: Where
    index: int  # its position among the events
    dataset: list[str] | None  # a tf.data pipeline's steps


class Evaluate(TypedDict):
    x: Data | None
    y: Data | None
    where: Where


class Arithmetic(TypedDict):
    """arithmetic.facts(): how the brief training computes."""

    dtype: str
    threads: int
    reproducible: bool


# Why there was no brief training, by kind (training._compile_arguments and the others): "not_compiled",
# "no_loss", "optimizer_not_keras", "loss_not_keras", or another. The words in "skipped" are the student's.
SkipCause = Literal["not_compiled", "no_loss", "optimizer_not_keras", "loss_not_keras", "other"]


class BriefTraining(TypedDict, total=False):
    """The grader's own brief training of a fresh copy (training.Trainer), or why there was none."""

    heldout_accuracy: float
    heldout_images: int
    train_images: int
    epochs: int
    batch_size: int
    seed: int
    curve: list[list[float]]  # [loss, accuracy] after each batch: Keras' running values
    seconds: float
    arithmetic: Arithmetic
    more_epochs: int  # present when the copy fell short after `epochs` and was given this many more
    first_accuracy: float  # then: its held-out accuracy after the brief training alone
    skipped: str
    skip_cause: SkipCause  # with "skipped", when training.py says which kind of reason it is
    error: str


class Digit3(TypedDict):
    guess: int
    outputs: list[float]
    probabilities: bool  # the outputs add up to 1


TrainingResult = tuple[BriefTraining, Digit3 | None]  # the brief training, and what the copy made of the 3


class CellErrorFacts(TypedDict):
    """execute.CellError as JSON; run_checks adds "forgiven" (the sentence, or "")."""

    cell: int
    kind: str  # "error", "timeout" or "kernel_died"
    ename: str
    evalue: str
    traceback: str
    source: str
    line: int | None
    code: str
    forgiven: NotRequired[str]


class ExecutionFacts(TypedDict):
    """execute.Execution without its events and sources. Cell numbers key the dicts: ints as made, strings
    once the facts have been through JSON (the cache, a Dask worker)."""

    code_cells: int
    cells_run: int
    errors: list[CellErrorFacts]
    kernel_died: bool
    kernel_stuck: bool
    notebook_timed_out: bool
    harness_error: str | None
    seconds: float
    cell_seconds: dict[int | str, float]
    channel_problems: list[str]
    records_lost: NotRequired[list[str]]
    last_cell: int
    outputs_cut: dict[int | str, int]
    processes_left: dict[int | str, int]


Plain = int | float | str | list[Any]  # a plain value from the notebook (epochs = 10, input_shape = (28, 28, 1))


class Namespace(TypedDict, total=False):
    """The notebook's top-level names the checks read (the harness's finish)."""

    epochs: Plain
    input_shape: Plain
    batch_size: Plain
    num_classes: Plain
    train_images: Data | None
    test_images: Data | None
    train_labels: Data | None
    test_labels: Data | None


class Mismatch(TypedDict):
    method: str  # compile, fit, evaluate
    problem: str  # why the recorded call does not match the line that made it


class IsolationLayer(TypedDict):
    name: str
    active: bool
    how: str


class Isolation(TypedDict):
    """sandbox.Sandbox.summary, and how the kernel was started."""

    active: list[str]
    missing: list[str]
    layers: list[IsolationLayer]
    summary: str
    kernel_start: NotRequired[str]


class Circumstances(TypedDict):
    """What the pipeline knows of the run beyond its events: given to capture.collect."""

    isolation: Isolation
    repaired_slips: list[str]  # one sentence per lesson slip repaired before the run (slips.repair)
    other_assignment: list[str]  # one sentence when another dataset than the assignment's is loaded
    data_repeated: bool


class Paired(TypedDict):
    op: Literal["same", "moved"]  # in the lesson's order, or out of it
    ref: int
    stu: int


class Missing(TypedDict):
    op: Literal["missing"]
    ref: int
    stu: None


class Extra(TypedDict):
    op: Literal["extra"]
    ref: None
    stu: int


AlignmentRow = Paired | Missing | Extra  # the reference's layer index, the student's (alignment.align_layers)


class Facts(TypedDict):
    """Everything the checks read about one run."""

    execution: ExecutionFacts
    harness_installed: bool
    model_found: ModelFound | None
    model: ModelDescription | None
    model_error: str | None
    problems: list[str]  # what the events channel refused (links, oversized files, ...)
    namespace: Namespace
    brief_training: BriefTraining | None
    digit3: Digit3 | None
    compile: CompileFacts | None  # canonical optimizer, loss, metrics (describe), as saved with the model
    compile_where: Where | None
    compile_calls: NotRequired[int]
    compile_given: NotRequired[list[str]]
    compile_written: NotRequired[CompileWritten]
    fit: FitFacts | None
    fit_calls: int
    evaluate: Evaluate | None
    tampering: list[Finding]  # code that reaches into the grader (capture.tampering)
    mismatches: list[Mismatch]  # recorded calls that contradict the line that made them
    incomplete: list[str]  # what the grader could not record (events.Channel.lost, capture._unsaved): no credit
    unrecorded_calls: NotRequired[dict[str, list[int]]]  # cells calling a Keras method that sent no event
    # The run's circumstances (Circumstances).
    isolation: NotRequired[Isolation]
    repaired_slips: NotRequired[list[str]]
    other_assignment: NotRequired[list[str]]
    data_repeated: NotRequired[bool]
    # A student's layers paired with the reference's, computed once (alignment.align_layers).
    alignment: NotRequired[list[AlignmentRow]]


FACT_KEYS = frozenset(Facts.__annotations__)
CIRCUMSTANCES = tuple(Circumstances.__annotations__)
