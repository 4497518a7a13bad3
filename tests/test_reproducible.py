"""The same notebook gets the same grade on any x86-64 machine: the brief training's figures do not depend
on the CPU's instruction set, on oneDNN's settings or on the number of cores (autograder/arithmetic.py).

One machine stands in for many: oneDNN's instruction-set ceiling (ONEDNN_MAX_CPU_ISA) makes it run the
kernels an older CPU would (AVX2 without AVX-512, like many AMD EPYC servers; SSE4.1), TF_ENABLE_ONEDNN_OPTS
switches oneDNN's own operations on and off, and the cores the grader may use change the thread count.
Without the grader's pinning, these alone moved the lesson's network from 67.1 % to 69.7 %."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import CELL_TIMEOUT

pytestmark = pytest.mark.slow  # real notebooks in real kernels

MACHINES = {  # besides this CPU as it is: the session's own grade of the reference (conftest.graded)
    "AVX2 without AVX-512, oneDNN off, one core": {"ONEDNN_MAX_CPU_ISA": "AVX2", "TF_ENABLE_ONEDNN_OPTS": "0",
                                                   "cores": 1},
    "SSE4.1, oneDNN on, two intra-op threads asked for": {"ONEDNN_MAX_CPU_ISA": "SSE41", "TF_ENABLE_ONEDNN_OPTS": "1",
                                                         "TF_NUM_INTRAOP_THREADS": "2"},
}


def _grade_reference_as(machine: dict, out: Path) -> dict:
    env = {**os.environ, "AUTOGRADER_CACHE": str(out / "cache")}  # nothing reused: each trains afresh
    env.update({k: v for k, v in machine.items() if k != "cores"})
    cores = machine.get("cores")

    def confine():
        if cores:
            os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:cores])

    subprocess.run([sys.executable, "-m", "autograder", "reference", "-o", str(out), "--cell-timeout",
                    str(CELL_TIMEOUT * 3)], env=env, preexec_fn=confine, check=True, capture_output=True, timeout=600)
    return json.loads(next(out.glob("*.result.json")).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def graded_on(tmp_path_factory, graded):
    from autograder import locations, report

    here = {"this CPU as it is": report.to_dict(graded(locations.REFERENCE))}
    folders = {name: tmp_path_factory.mktemp("machine") for name in MACHINES}
    with ThreadPoolExecutor(len(MACHINES)) as both:  # at once: the figures must not depend on the load either
        runs = {name: both.submit(_grade_reference_as, machine, folders[name]) for name, machine in MACHINES.items()}
        return {**here, **{name: run.result() for name, run in runs.items()}}


def test_the_brief_training_gives_the_same_figures_on_every_machine(graded_on):
    figures = {name: (r["training"]["student"]["heldout_accuracy"], r["training"]["student"]["curve"],
                      r["digit3"]["student"]["outputs"]) for name, r in graded_on.items()}
    first, *others = figures.items()
    for name, seen in others:
        assert seen == first[1], f"{name} trained to other figures than {first[0]}"  # to the last bit
    for r in graded_on.values():
        assert r["training"]["student"]["arithmetic"] == {"dtype": "float64", "threads": 1, "reproducible": True}
        assert r["score"] == r["max_score"]  # and the reference keeps full marks everywhere


def test_a_model_loaded_beside_the_brief_training_does_not_change_its_figures(tmp_path):
    """The grader trains while it still reads the student's snapshots: Keras' random state is process-wide,
    so a load in between must wait, or the copy starts from other weights (seen: 77 % instead of 68 %)."""
    import threading

    import numpy as np

    from autograder import locations, model_file, quiet, rubric, training

    keras = quiet.import_keras_quietly()
    L = keras.layers
    model = keras.Sequential([keras.Input((28, 28, 1)), L.Conv2D(8, 3, activation="relu"), L.Dropout(0.2),
                              L.Flatten(), L.Dense(10, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    path = tmp_path / "model.keras"
    model.save(path)
    with np.load(locations.EMBEDDED_MNIST) as f:
        arrays = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    budget = rubric.load(locations.RUBRIC).training

    def train():
        facts, digit3 = training.brief_training(path, arrays, budget, locations.HANDWRITTEN_3)
        return facts["heldout_accuracy"], facts["curve"], digit3["outputs"]

    alone = train()
    beside = []
    thread = threading.Thread(target=lambda: beside.append(train()))
    thread.start()
    loads = 0
    while thread.is_alive() or loads == 0:
        model_file.load_safely(path)
        loads += 1
    thread.join()
    assert beside[0] == alone
