"""The one place that knows the order of the stages.

    submission.read → execute.Kernel (sandbox, kernel, harness inside) → capture.collect
    → checks.run_checks (against the reference's facts, cached) → GradeResult

`grade()` never raises for a bad submission: it returns a result with
status "error" and the reason. It raises SetupError only when the grader's
own inputs (rubric, data file, reference notebook) are wrong.
"""

from __future__ import annotations

import copy
import platform
import re
import sys
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, cast

import nbformat

from ._version import __version__
from . import capture, checks, data, datasets, execute, expectations, forking, locations, model_worker, reference_cache, slips, submission, training
from .errors import SetupError, SubmissionError
from .facts import Circumstances, Facts
from .results import GradeResult, at
from .settings import Assignment, GradingContext, Settings, resolve


def versions() -> dict[str, str]:
    """What a grade's figures depend on besides the notebook: the packages, and the processor's architecture
    (the brief training is identical across x86-64 CPUs, not between x86-64 and ARM: arithmetic.py)."""
    return {"grader": __version__, "keras": metadata.version("keras"), "tensorflow": metadata.version("tensorflow"),
            "numpy": metadata.version("numpy"), "python": sys.version.split()[0], "machine": platform.machine()}


def other_assignment(sources: list[tuple[int, str]], dataset: str) -> list[str]:
    """One sentence when the notebook loads another Keras dataset than its assignment's (another assignment)."""
    for number, source in sources:
        for name, title in datasets.TITLES.items():
            # A whole name (mnist is inside fashion_mnist), called or imported: fashion_mnist.load_data(),
            # from keras.datasets.fashion_mnist import load_data
            if name != dataset and re.search(rf"(?<!\w){name}\.load_data\b|datasets\.{name} +import +load_data",
                                             source):
                return [f"In [{number}] loads {title} ({name}.load_data()). This assignment is graded on "
                        f"{datasets.named(dataset).title}, so the errors that follow are not counted against your "
                        "code one by one: check that you submitted the notebook for this assignment."]
    return []


Stage = Callable[[str], None]  # told, in a student's words, what the grade is doing now (the service shows it)


def _quiet(stage: str) -> None:
    """No one is told the stages (a batch, the CLI)."""


def run_and_capture(notebook: nbformat.NotebookNode, assignment: Assignment, settings: Settings,
                    on_stage: Stage = _quiet) -> Facts:
    """Execute a notebook copy in a fresh (sandboxed) kernel and describe what it built. A kernel that died
    because the grader's own fork server stopped under it (killed, out of memory) is not the student's
    doing: the notebook runs once more, in a fresh sandbox, from a new server. A sandboxed kernel cannot
    reach the server (another PID namespace, another user); only with --no-sandbox could a notebook kill
    it, and then it is run again once, no more."""
    facts = _run_and_capture(copy.deepcopy(notebook), assignment, settings, on_stage)
    if facts["execution"]["kernel_died"] and settings.fork_server and forking.lost():
        facts = _run_and_capture(notebook, assignment, settings, on_stage)
        facts["isolation"]["kernel_start"] += "; run a second time: the grader's fork server stopped during the first"
    return facts


def _run_and_capture(notebook: nbformat.NotebookNode, assignment: Assignment, settings: Settings,
                     on_stage: Stage) -> Facts:
    source = assignment.data
    kernel_data = data.sized(source, settings.cache)
    options = execute.KernelOptions(
        cpu_seconds=settings.cpu_seconds, cell_timeout=settings.cell_timeout_s,
        notebook_timeout=settings.notebook_timeout_s, finish_timeout=settings.finish_s,
        startup_timeout=settings.kernel_startup_s, readable=(kernel_data,), hide=tuple(settings.hidden),
        sandboxed=settings.sandbox, fork=settings.fork_server)
    with execute.Kernel(options) as kernel:
        kernel.save(notebook)  # as submitted, in the kernel's working folder
        repaired = slips.repair(notebook, settings.forgive)  # the copy that runs, never the submission
        config = {"data_path": kernel.readable_inside(kernel_data), "data_source": source.kind,
                  "dataset": source.dataset, **settings.harness}
        trainer = training.Trainer(source.path, settings.training, locations.HANDWRITTEN_3, settings.cache,
                                   source.sha256, target=settings.learns_target)
        def follow(event: dict[str, Any]) -> None:
            trainer.follow(event)
            if event["event"] == "fit":
                on_stage(f"running your notebook: In [{event.get('cell')}] is training your model")

        on_stage("running your notebook")
        try:
            execution = kernel.run(notebook, config, on_event=follow)
            on_stage("training a copy of your network on the grader's images")
            circumstances: Circumstances = {
                "isolation": kernel.isolation, "repaired_slips": repaired,
                "other_assignment": other_assignment(execution.sources, source.dataset),
                "data_repeated": data.repeated(source)}
            # The reference's own facts pair no layers: it is what the others are paired with.
            return capture.collect(execution, models=model_worker.worker(), train=trainer,
                                   circumstances=circumstances, reference=assignment.reference)
        finally:
            trainer.close()


def reference_facts(assignment: Assignment, context: GradingContext) -> tuple[Facts, bool]:
    """The reference's facts, with assignment.toml's [expected] values laid over them (expectations.py), and
    whether they came from the cache (or the assignment already knew them)."""
    if assignment.reference is not None:
        return assignment.reference, True
    facts, cached = solution_facts(assignment, context)
    return expectations.apply(facts, assignment.rubric.expected), cached


def solution_facts(assignment: Assignment, context: GradingContext) -> tuple[Facts, bool]:
    """What the solution notebook itself built, from the cache or a run of it."""
    key = assignment.cache_key
    cached = reference_cache.load(context.cache, key)
    if cached is not None:
        return cast(Facts, cached), True
    try:
        notebook = submission.read(assignment.reference_path).notebook
    except SubmissionError as exc:
        raise SetupError(assignment.reference_path, f"the reference notebook cannot be read: {exc.reason}") from None
    facts = run_and_capture(notebook, assignment, resolve(assignment, context))
    refuse_unusable_solution(facts, assignment.reference_path)
    reference_cache.store(context.cache, key, facts)
    return facts, False


def refuse_unusable_solution(facts: Facts, path: Path) -> None:
    """A solution (the reference, or what `autograder new` is given) must run cleanly and build, compile and fit
    a model the grader can train a copy of: SetupError naming the cell, or what is missing, otherwise."""
    ex = facts["execution"]
    if not facts["harness_installed"]:
        raise SetupError(path, f"the grader could not start the solution: {ex.get('harness_error')}")
    for error in ex["errors"]:
        first = error.get("code") or next((ln for ln in error["source"].splitlines() if ln.strip()), "")
        what = "ran too long and was stopped" if error["kind"] == "timeout" else f"{error['ename']}: {error['evalue']}"
        raise SetupError(path, f"the solution must run from top to bottom without an error, but {at(error) or 'a cell'}"
                               f" ({first.strip()[:70]}) failed: {what}. Fix it and run the command again")
    if facts["model"] is None:
        raise SetupError(path, "the solution builds no Keras model the grader can find"
                               + (f" ({facts['model_error']})" if facts.get("model_error") else "")
                               + "; it must make a model, compile it and train it with model.fit")
    if not facts["compile"] or not facts["compile"]["loss"]:
        raise SetupError(path, "the solution never compiles its model with a loss (model.compile(loss=..., "
                               "optimizer=...)); the grader takes the expected loss and optimizer from it")
    if not facts["fit"]:
        raise SetupError(path, "the solution never trains its model with model.fit; the grader takes the "
                               "expected batch size and epochs from it")
    trained = facts["brief_training"] or {}
    if not trained.get("curve"):
        raise SetupError(path, "the grader could not train a copy of the solution's network on its own images ("
                               + str(trained.get("skipped") or trained.get("error") or "no reason given") + ")")


def lesson(assignment: Assignment) -> dict[str, str]:
    """What a result says it was graded for (results.GradeResult.assignment)."""
    rubric = assignment.rubric
    return {"title": rubric.title, "notebook": rubric.notebook, "dataset": rubric.dataset}


def error_result(path: Path, reason: str, started: float | None = None,
                 assignment: Assignment | None = None) -> GradeResult:
    """The result for a file that could not be graded at all."""
    started = time.perf_counter() if started is None else started
    result = GradeResult(status="error", reason=reason, submission={"path": str(path), "name": Path(path).name},
                         timings={"total_s": round(time.perf_counter() - started, 2)}, versions=versions(),
                         graded_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    if assignment:
        result.assignment = lesson(assignment)
    return result


def grade(path: Path, assignment: Assignment | None = None, context: GradingContext | None = None,
          on_stage: Stage = _quiet) -> GradeResult:
    """Grade one notebook. Bad submissions give a result with status 'error', never an exception.

    assignment: what is expected, loaded once by the caller (default: the assignment shipped with the grader);
    when it does not know the reference's facts yet, they come from the cache or a run of the reference.
    context: how to grade (default: every isolation layer, the rubric's limits, the user's cache).
    on_stage: called with each stage as it starts, in the student's words."""
    started = time.perf_counter()
    assignment = assignment or Assignment.load()
    context = context or GradingContext()
    if context.fork_server:
        forking.start_early(context.sandbox)
    model_worker.worker().start()  # its TensorFlow import overlaps with the kernel running the notebook
    return _grade(Path(path), assignment, context, started, on_stage)


def _grade(path: Path, assignment: Assignment, context: GradingContext, started: float,
           on_stage: Stage) -> GradeResult:
    try:
        sub = submission.read(path)
    except SubmissionError as exc:
        return error_result(path, exc.reason, started, assignment)
    ref, cached = reference_facts(assignment, context)
    assignment = assignment.knowing(ref)
    rubric, source = assignment.rubric, assignment.data
    t0 = time.perf_counter()
    try:
        facts = run_and_capture(sub.notebook, assignment, resolve(assignment, context), on_stage)
        on_stage("checking your work against the lesson")
        results = checks.run_checks(facts, ref, rubric)
    except SetupError:
        raise
    except Exception as exc:  # the grader's own failure on this notebook: its result says so, the batch goes on
        return error_result(path, f"the grader failed on this notebook ({type(exc).__name__}: {exc}); "
                                  "tell your teacher, and keep the notebook", started, assignment)
    return GradeResult(
        status="graded", reason=None,
        submission={"path": str(path), "name": Path(path).name, "sha256": sub.sha256},
        score=round(sum(c.points for c in results), 2), max_score=rubric.max_points, checks=results,
        facts=facts, reference=ref,
        data_source={"kind": source.kind, "description": source.description, "sha256": source.sha256,
                     "repeated": data.repeated(source)},
        isolation=facts["isolation"],
        timings={"total_s": round(time.perf_counter() - started, 2),
                 "notebook_s": round(facts["execution"]["seconds"], 2),
                 "grading_s": round(time.perf_counter() - t0, 2), "reference_cached": cached},
        versions=versions(), graded_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), due=rubric.due,
        assignment=lesson(assignment))
