"""Grade a class: a folder (flat, one folder per student, or nested) or an LMS .zip of notebooks
(classfolder.discover), on an engine (engines.py), into the class's files (gradebook.py).

Each submission is graded by a worker (a local process, or a Dask worker with
--cluster), its own fresh kernel inside; the notebook's bytes and the
reference's facts travel with the task, and the result comes back to be stored
under OUT/.results/ by a key made of the file's content and everything the
grade depends on. A re-run reuses stored results, so an
interrupted batch resumes without losing or duplicating a row. Every output is
written atomically. The gradebook and class summary are rebuilt from the
stored results at the end (and on Ctrl-C, from what is done).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import tempfile
from pathlib import Path
from typing import Any, Callable

from . import classfolder, engines, gradebook, lms, report, sandbox, similarity
from .classfolder import Entry
from .pipeline import error_result, reference_facts, versions
from .rubric import Rubric
from .settings import Assignment, GradingContext


Results = dict[Entry, dict[str, Any]]
OnResult = Callable[[Entry, dict[str, Any], bool], None]


def _result_key(entry: Entry, batch_key: str) -> str:
    what = entry.file + entry.refused if entry.refused else hashlib.sha256(entry.path.read_bytes()).hexdigest()
    return hashlib.sha256(f"{what}\n{batch_key}".encode()).hexdigest()[:32]


def _crashed(entry: Entry, reason: str) -> dict[str, Any]:
    return report.to_dict(error_result(entry.path, reason))


def run(source: Path, out: Path, assignment: Assignment | None = None, context: GradingContext | None = None, *,
        workers: int | None = None, force: bool = False, roster: Path | None = None, cluster: str | None = None,
        on_start: Callable[[int, int], None] | None = None, on_result: OnResult | None = None,
        lms_export: str | None = None, lms_column: str | None = None, lms_points: float | None = None) -> dict[str, Any]:
    """Grade every submission under `source` into `out`. Returns the summary (see gradebook.summarise).

    assignment, context: as the caller built them (default: the shipped assignment, the default context).
    cluster: a Dask scheduler's address (else the local pool of `workers` processes).
    on_start(total, to_grade) is called once the submissions are found; on_result(entry, result_dict, reused)
    as each one is done. lms_export: "canvas" or "moodle" also writes that LMS's grade file (lms_column: the
    Canvas assignment column's header), out of lms_points, else the roster's Points Possible (Canvas) or
    Maximum Grade (Moodle), else the rubric's maximum."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    assignment = assignment or Assignment.load()
    # The kernels must not see the other submissions, nor each other's results.
    context = (context or GradingContext()).hiding(Path(source), out)
    results_dir = out / ".results"
    results_dir.mkdir(exist_ok=True)
    people = lms.read_roster(roster)
    ref, _ = reference_facts(assignment, context)  # once, here: it travels with every task
    assignment = assignment.knowing(ref)
    rubric = assignment.rubric
    given = [assignment.starter_path] if assignment.starter_path else []
    base = similarity.Base.of([*given, assignment.reference_path])  # what every student was given

    with tempfile.TemporaryDirectory(prefix=f"autograder-batch-{sandbox.owner_tag()}-") as scratch:  # removed by a later start if killed
        entries = [classfolder.readable(entry) for entry in classfolder.discover(source, Path(scratch), rubric.notebook)]
        batch_key = assignment.cache_key  # hashes the reference notebook: once, not per entry
        stored = {e: results_dir / f"{_result_key(e, batch_key)}.json" for e in entries}
        results: Results = {}
        prints: dict[Entry, similarity.Print] = {}
        todo = [e for e in entries if not e.refused and (force or not stored[e].exists())]
        if on_start:
            on_start(len(entries), len(todo))
        for entry in entries:
            if entry not in todo and not entry.refused:
                results[entry] = as_handed_in(json.loads(stored[entry].read_text(encoding="utf-8")), entry)
                prints[entry] = _print(entry, results[entry], base, stored[entry])
                if not (out / f"{entry.stem}.instructor.html").exists():
                    report.write_dict(results[entry], out, entry.stem, instructor_copy=True)
                if on_result:
                    on_result(entry, results[entry], True)

        def make_task(entry: Entry) -> engines.Task:
            return engines.Task(name=entry.path.name, notebook=entry.path.read_bytes(), assignment=assignment,
                                context=context, versions=client_versions)

        def on_done(entry: Entry, outcome: dict[str, Any] | None, reason: str | None) -> None:
            """Store each result as it comes back (atomically), so an interrupted batch resumes."""
            result = as_handed_in(outcome["result"] if outcome else _crashed(entry, reason or ""), entry)
            results[entry] = result
            report.atomic_write(stored[entry], json.dumps(result, default=str))
            prints[entry] = _print(entry, result, base, stored[entry], fresh=True)
            report.write_dict(result, out, entry.stem, instructor_copy=True)
            if on_result:
                on_result(entry, result, False)

        for entry in entries:
            if entry.refused:  # a row with its reason, graded by no one
                on_done(entry, None, entry.refused)
        client_versions = versions()
        engine = engines.engine_for(cluster, workers or multiprocessing.cpu_count()) if todo else None
        try:
            if engine:
                engines.grade_all(todo, make_task, engine, engines.deadline_s(assignment, context), on_done)
        finally:  # also on Ctrl-C: the gradebook covers what is done
            summary = _write_class(out, entries, results, prints, people, rubric)
            if lms_export:
                out_of = lms_points or lms.points_possible(roster, lms_column or rubric.column) or rubric.max_points
                summary["lms_scale"] = lms.Scale(rubric.max_points, out_of)
                summary["lms_file"], summary["lms_left_out"] = gradebook.write_lms(
                    out, summary, lms_export, lms_column or rubric.column, summary["lms_scale"])
    return summary


def _write_class(out: Path, entries: list[Entry], results: Results, prints: dict[Entry, similarity.Print],
                 people: dict[str, dict[str, str]], rubric: Rubric) -> dict[str, Any]:
    """The class's files from what is graded so far: similarity.csv, gradebook.csv, index.html."""
    summary = gradebook.summarise(entries, results, people, rubric)
    summary["similar"] = gradebook.similar_pairs(entries, prints, summary, rubric.similarity_threshold)
    gradebook.write_similarity(out / "similarity.csv", summary["similar"])
    gradebook.write_gradebook(out / "gradebook.csv", summary)
    report.atomic_write(out / "index.html", report.render_class(summary))
    return summary


def as_handed_in(result: dict[str, Any], entry: Entry) -> dict[str, Any]:
    """A stored grade is keyed by the file's content, so two students who hand in the same bytes share
    it; what names the submission (its file, where it is, whose it is) always comes from this entry."""
    named = {**result["submission"], "path": str(entry.path), "name": entry.path.name, "file": entry.file,
             "student": entry.student}
    return {**result, "submission": named}


def _print(entry: Entry, result: dict[str, Any], base: similarity.Base, stored: Path,
           fresh: bool = False) -> similarity.Print:
    """The submission's fingerprints, made once (when it is graded) and kept beside its stored result."""
    path = stored.parent / "prints" / stored.name  # beside the results, not among them
    if not fresh:
        try:
            return similarity.Print(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            pass
    made = similarity.print_of(entry.path, result, base)
    report.atomic_write(path, json.dumps(dataclasses.asdict(made)))
    return made
