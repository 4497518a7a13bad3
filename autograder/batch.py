"""Grade a class: a folder (flat, one folder per student, or nested) or an LMS .zip of notebooks.

Each submission is graded in a worker process (its own fresh kernel inside),
its JSON result stored under OUT/.results/ by a key made of the file's content
and everything the grade depends on. A re-run reuses stored results, so an
interrupted batch resumes without losing or duplicating a row. Every output is
written atomically. The gradebook and class summary are rebuilt from the
stored results at the end (and on Ctrl-C, from what is done).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import multiprocessing
import re
import shutil
import tempfile
import time
import zipfile
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import psutil

from . import data, reference_cache, report
from . import rubric as rubric_mod
from .errors import SetupError
from .pipeline import Options, error_result, grade, reference_facts
from .rubric import CHECK_IDS

SKIP_DIRS = {".ipynb_checkpoints", "__MACOSX", ".results"}


@dataclass(frozen=True)
class Entry:
    """One submission found in the class folder."""

    student: str  # the id or name taken from the file or folder name
    path: Path  # where the file is (inside a temporary folder for a .zip)
    file: str  # as the instructor knows it: relative to the folder, or zip name + member
    stem: str  # a safe file name for its report


# Canvas:  smithjane_LATE_12345_67890_CNN.ipynb  (login, [LATE], user id, submission id, file name)
CANVAS = re.compile(r"^(?P<student>[a-z0-9-]+?)(?:_late)?_(?P<uid>\d+)_\d+_.+$", re.IGNORECASE)
# Moodle:  Jane Smith_12345_assignsubmission_file_/CNN.ipynb (a folder per student)
MOODLE = re.compile(r"^(?P<student>.+?)_\d+_assignsubmission_\w+_?$")
# Google Classroom: Jane Smith - CNN.ipynb
CLASSROOM = re.compile(r"^(?P<student>.+?) - .+$")
# A flat folder: alice_CNN.ipynb, alice-cnn.ipynb
OWN_NAME = re.compile(r"[ _-]+cnn$", re.IGNORECASE)


def student_of(relative: Path) -> str:
    """The student's id or name from an LMS-style file or folder name."""
    if len(relative.parts) > 1:
        folder = relative.parts[0]
        m = MOODLE.match(folder)
        return m.group("student") if m else folder
    for pattern in (CANVAS, CLASSROOM):
        m = pattern.match(relative.stem)
        if m:
            return m.group("student")
    return OWN_NAME.sub("", relative.stem) or relative.stem  # alice_CNN.ipynb is alice's


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "submission"  # also drops undecodable bytes


def _unzip(archive: Path, into: Path) -> None:
    """Extract only .ipynb members, refusing paths that leave the folder."""
    with zipfile.ZipFile(archive) as zf:
        for member in zf.infolist():
            name = Path(member.filename)
            if member.is_dir() or name.suffix != ".ipynb" or name.is_absolute() or ".." in name.parts:
                continue
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(member) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)


def discover(source: Path, scratch: Path) -> list[Entry]:
    """Every .ipynb under `source` (a folder or a .zip), in a stable order."""
    source = Path(source)
    if source.is_file() and source.suffix == ".zip":
        root = scratch / "unzipped"
        _unzip(source, root)
        label = source.name + ":"
    elif source.is_dir():
        root, label = source, ""
    else:
        raise SetupError(source, "give a folder of notebooks or an LMS .zip export")
    # Folders inside a zip's single top folder count as the student folders.
    tops = [p for p in root.iterdir() if p.name not in SKIP_DIRS]
    if label and len(tops) == 1 and tops[0].is_dir():
        root = tops[0]
    found = []
    for path in sorted(root.rglob("*.ipynb")):
        relative = path.relative_to(root)
        if not any(part in SKIP_DIRS for part in relative.parts):
            found.append((path, relative, student_of(relative)))
    per_student = {}
    for _, _, student in found:
        per_student[student] = per_student.get(student, 0) + 1
    entries, stems = [], set()
    for path, relative, student in found:
        stem = _safe(student if per_student[student] == 1 else f"{student}__{relative.stem}")
        while stem in stems:  # two students whose names differ only in punctuation keep both reports
            stem += "_"
        stems.add(stem)
        entries.append(Entry(student=student, path=path, file=label + relative.as_posix(), stem=stem))
    return entries


def read_roster(path: Path | None) -> dict[str, str]:
    """id -> name from a CSV with a header: the first column is the id, a 'name' column the name."""
    if path is None:
        return {}
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SetupError(path, f"cannot read the roster ({exc}); it must be a CSV with a header row") from None
    if not rows:
        return {}
    columns = list(rows[0])
    name_col = next((c for c in columns if c.strip().lower() in ("name", "full name", "student name")), columns[-1])
    return {row[columns[0]].strip(): row[name_col].strip() for row in rows if row.get(columns[0])}


# ---------------------------------------------------------------- grading

def _result_key(entry: Entry, batch_key: str) -> str:
    digest = hashlib.sha256(entry.path.read_bytes()).hexdigest()
    return hashlib.sha256(f"{digest}\n{batch_key}".encode()).hexdigest()[:32]


def _grade_one(path: str, stem: str, options: Options, results_dir: str, out_dir: str, key: str) -> dict:
    """In a worker process: grade, store the JSON result, write both report files."""
    result = grade(Path(path), options)
    data_ = report.to_dict(result)
    report.atomic_write(Path(results_dir) / f"{key}.json", json.dumps(data_, default=str))
    report.write_dict(data_, Path(out_dir), stem)
    return data_


def _crashed(entry: Entry, reason: str) -> dict:
    return report.to_dict(error_result(entry.path, reason))


def run(source: Path, out: Path, *, options: Options = Options(), workers: int | None = None,
        force: bool = False, roster: Path | None = None, on_start=None, on_result=None) -> dict:
    """Grade every submission under `source` into `out`. Returns the summary (see summarise).

    on_start(total, to_grade) is called once the submissions are found;
    on_result(entry, result_dict, reused) as each one is done."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # The kernels must not see the other submissions, nor each other's results.
    options = dataclasses.replace(options, hide=(*options.hide, Path(source).resolve(), out.resolve()))
    results_dir = out / ".results"
    results_dir.mkdir(exist_ok=True)
    names = read_roster(roster)
    rubric = rubric_mod.load(options.rubric)
    source_data = data.resolve(options.data)
    reference_facts(source_data, rubric, options)  # once, before the workers: they read it from the cache
    batch_key = reference_cache.cache_key(options.reference, rubric.digest, source_data.sha256)
    workers = workers or multiprocessing.cpu_count()

    with tempfile.TemporaryDirectory(prefix="autograder-batch-") as scratch:
        entries = discover(source, Path(scratch))
        keys = {entry: _result_key(entry, batch_key) for entry in entries}
        results: dict[Entry, dict] = {}
        stored = {e: results_dir / f"{keys[e]}.json" for e in entries}
        todo = [e for e in entries if force or not stored[e].exists()]
        if on_start:
            on_start(len(entries), len(todo))
        for entry in entries:
            if entry in todo:
                continue
            results[entry] = json.loads(stored[entry].read_text(encoding="utf-8"))
            if not (out / f"{entry.stem}.report.html").exists():
                report.write_dict(results[entry], out, entry.stem)
            if on_result:
                on_result(entry, results[entry], True)
        try:
            _grade_all(todo, results, keys, options, results_dir, out, workers, on_result,
                       deadline_s(options, rubric))
        finally:  # also on Ctrl-C: the gradebook covers what is done, including results the
            # workers stored but the pool had not handed back yet
            for entry in entries:
                if entry not in results and stored[entry].exists():
                    results[entry] = json.loads(stored[entry].read_text(encoding="utf-8"))
            summary = summarise(entries, results, names, rubric)
            write_gradebook(out / "gradebook.csv", summary)
            report.atomic_write(out / "index.html", report.render_class(summary))
    return summary


def _kill_workers() -> None:
    """Stop this process's worker processes and everything under them (their kernels)."""
    for child in psutil.Process().children(recursive=True):
        try:
            child.kill()
        except psutil.Error:
            pass


def deadline_s(options: Options, rubric) -> float:
    """How long one submission may take in a worker before the batch gives up on it: the notebook's
    own limit, plus the kernel's start, the grader's checks and the brief training."""
    return (options.notebook_timeout or rubric.limits["notebook_timeout_s"]) + 180


def _grade_all(todo, results, keys, options, results_dir, out, workers, on_result, deadline) -> None:
    context = multiprocessing.get_context("spawn")  # fresh workers: no TensorFlow state copied by fork
    pending = list(todo)
    while pending:
        pool = ProcessPoolExecutor(max_workers=min(workers, len(pending)), mp_context=context)
        futures, started = {}, {}
        queue = list(pending)
        pending = []
        try:
            while queue or futures:
                while queue and len(futures) < workers:  # submit as slots free up, so each deadline is fair
                    entry = queue.pop(0)
                    future = pool.submit(_grade_one, str(entry.path), entry.stem, options, str(results_dir),
                                         str(out), keys[entry])
                    futures[future], started[future] = entry, time.monotonic()
                done, _ = wait(futures, timeout=5, return_when=FIRST_COMPLETED)
                for future in done:
                    entry = futures.pop(future)
                    try:
                        results[entry] = future.result()
                    except BrokenProcessPool:
                        pending = list(futures.values()) + queue  # a worker died: redo the rest in a new pool
                        results[entry] = _crashed(entry, "the grading process crashed on this submission")
                        futures, queue = {}, []
                    except Exception as exc:  # one bad submission never stops the batch
                        results[entry] = _crashed(entry, f"the grader failed: {type(exc).__name__}: {exc}")
                    if on_result:
                        on_result(entry, results[entry], False)
                    if not futures and not queue and pending:
                        break  # the pool broke: the rest go to a new one
                late = [f for f in futures if time.monotonic() - started[f] > deadline]
                if late:  # a submission that hangs its worker: give up on it, restart the others
                    for future in late:
                        entry = futures.pop(future)
                        results[entry] = _crashed(entry, f"grading took longer than {deadline:.0f} seconds and was "
                                                         "stopped")
                        if on_result:
                            on_result(entry, results[entry], False)
                    pending = list(futures.values()) + queue
                    _kill_workers()
                    break
        except KeyboardInterrupt:
            _kill_workers()  # never wait for a worker that may be stuck: Ctrl-C always ends the batch
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=False, cancel_futures=True)


# ---------------------------------------------------------------- gradebook and summary

def summarise(entries: list[Entry], results: dict, names: dict[str, str], rubric) -> dict:
    rows = []
    for entry in entries:
        r = results.get(entry)
        row = {"student": entry.student, "name": names.get(entry.student, ""), "file": entry.file,
               "report": f"{entry.stem}.report.html", "score": None, "max_score": rubric.max_points,
               "percent": None, "status": "not graded yet", "reason": "", "checks": {}}
        if r is not None:
            row.update(status=r["status"], reason=r.get("reason") or "")
            if r["status"] == "graded":
                row.update(score=r["score"], percent=r["percent"])
                row["checks"] = {c["id"]: c for c in r["checks"]}
        rows.append(row)
    rows.sort(key=lambda row: (row["student"].lower(), row["file"]))
    common: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        for check_id, c in row["checks"].items():
            if c["status"] in ("fail", "partial"):
                common.setdefault((check_id, c["found"] or c["status"]), []).append(row["student"])
    failures = [{"check": check_id, "title": rubric.checks[check_id].title, "found": found,
                 "count": len(students), "students": students}
                for (check_id, found), students in common.items()]
    failures.sort(key=lambda f: (-f["count"], f["check"]))
    scores = [row["percent"] for row in rows if row["percent"] is not None]
    return {"rows": rows, "failures": failures, "graded": len(scores),
            "errors": sum(row["status"] == "error" for row in rows), "total": len(rows),
            "max_score": rubric.max_points, "scores": scores,
            "mean": round(sum(scores) / len(scores), 1) if scores else None}


GRADEBOOK_COLUMNS = ["student", "name", "file", "score", "max_score", "percent", "status", "reason"]


def write_gradebook(path: Path, summary: dict) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(GRADEBOOK_COLUMNS + list(CHECK_IDS))
    for row in summary["rows"]:
        writer.writerow([row[c] if row[c] is not None else "" for c in GRADEBOOK_COLUMNS]
                        + [row["checks"][c]["points"] if c in row["checks"] else "" for c in CHECK_IDS])
    report.atomic_write(path, buffer.getvalue())
