"""The facts: what the grader established about one notebook run, student's or reference's, documented
once. capture.collect makes them from the harness's events and the grader's own copies of the model
(pipeline adds the run's circumstances); checks.run_checks compares two of them; the reference's are
cached as JSON. Plain dicts at run time (they travel as JSON to Dask workers and the cache): these
TypedDicts say which keys exist and what they hold, and tests hold every graded fixture to them.

A "data" value describes an array without carrying it: {"kind": "array", "shape", "dtype", "split"
("train" / "test" / None: recognised by content), "max", "one_hot"}, or {"kind": "tuple", "items"},
{"kind": "dataset"} (tf.data), {"kind": "generator"}.
"""

from __future__ import annotations

from typing import Any, TypedDict

Where = TypedDict("Where", {"cell": int, "line": int, "code": str}, total=False)  # the student's own line

Layer = TypedDict("Layer", {
    "class": str,  # Keras' class name: Conv2D
    "name": str,
    "settings": dict[str, Any],  # the lesson's settings for that class (describe.SETTINGS)
    "output_shape": list,  # [None, 26, 26, 32]
    "params": int,
    "note": str | None,  # e.g. an activation given as a separate layer
})

ModelDescription = TypedDict("ModelDescription", {
    "class": str,  # Sequential, Functional
    "input_shape": list | None,
    "layers": list[Layer],
    "total_params": int,
    "compile": dict | None,  # describe.compile_settings of the saved model
})

ModelFound = TypedDict("ModelFound", {
    "how": str,  # how it was chosen, in words
    "id": int,
    "class": str | None,
    "cell": int | None,  # the last cell that touched it
    "before_crash": bool,  # the kernel died before the end: this is the last snapshot before that
    "layers_where": dict | None,  # {"cell"} of the last cell adding layers (capture.layers_added)
})


class FitFacts(TypedDict, total=False):
    """The fit that trained the model most (capture.fit_facts)."""

    x: dict  # data
    y: dict
    batch_size: int | None
    shuffle: bool | None
    validation_data: dict | None
    validation_split: float | None
    given: list[str]  # the keyword arguments written
    set_in: dict  # a setting passed by name (epochs=epochs): {"epochs": {cell, line, code}} of the line that set it
    initial_epoch: int | None
    steps_per_epoch: int | None
    epochs: int  # every fit on the model added up
    epochs_given: int | None
    calls: int
    odd_types: dict  # {setting: [type name, how it shows itself]} for settings not of the plain type Keras expects
    replayed: int  # epochs played through callbacks without training (past the harness's max_real_epochs)
    where: Where
    index: int  # its position among the events
    dataset: int | None  # a tf.data pipeline's steps


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
    arithmetic: dict  # {"dtype", "threads", "reproducible"}: arithmetic.facts()
    more_epochs: int  # present when the copy fell short after `epochs` and was given this many more
    first_accuracy: float  # then: its held-out accuracy after the brief training alone
    skipped: str
    error: str


class Facts(TypedDict, total=False):
    """Everything the checks read about one run."""

    execution: dict  # execute.Execution without its events: cells, errors (In [n], line), timings, cut outputs
    harness_installed: bool
    model_found: ModelFound | None
    model: ModelDescription | None
    model_error: str | None
    problems: list[dict]  # what the events channel refused (links, oversized files, ...)
    namespace: dict  # the notebook's top-level names, by kind (from the harness's last step)
    brief_training: BriefTraining | None
    digit3: dict | None  # {"guess", "outputs", "probabilities"}
    compile: dict | None  # canonical optimizer, loss, metrics (describe), as saved with the model
    compile_where: Where | None
    compile_calls: int
    compile_given: list[str]
    compile_written: dict
    fit: FitFacts | None
    fit_calls: int
    evaluate: dict | None  # {"x", "y", "where"}
    tampering: list[dict]  # code that reaches into the grader (capture.tampering)
    mismatches: list[dict]  # recorded calls that contradict the line that made them
    incomplete: list[str]  # what the grader could not record (events.Channel.lost, capture._unsaved): no credit
    unrecorded_calls: dict  # calls in cells that ran cleanly with no event: Keras' method was replaced
    # Added by the pipeline: the run's circumstances.
    isolation: dict  # sandbox.Sandbox.summary
    repaired_slips: list[str]
    other_assignment: list[str]  # one sentence when another data set than MNIST is loaded
    data_repeated: bool
    # Added by checks.run_checks: the layer alignment, computed once (alignment.align_layers).
    alignment: list[dict]


FACT_KEYS = frozenset(Facts.__annotations__)
