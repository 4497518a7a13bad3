"""Grade a class: a folder (flat, one folder per student, or nested) or an LMS .zip of notebooks.

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
import os
import re
import socket
import tempfile
import time
import unicodedata
import zipfile
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from . import data, lms, locations, reference_cache, report, sandbox, settings, similarity
from . import rubric as rubric_mod
from .errors import SetupError
from .pipeline import error_result, grade, reference_facts, versions
from . import submission
from .settings import Options
from .checks import CHECK_IDS

SKIP_DIRS = {".ipynb_checkpoints", "__MACOSX", ".results"}


@dataclass(frozen=True)
class Entry:
    """One submission found in the class folder."""

    student: str  # the id or name taken from the file or folder name
    path: Path  # where the file is (inside a temporary folder for a .zip)
    file: str  # as the instructor knows it: relative to the folder, or zip name + member
    stem: str  # a safe file name for its report
    identity: lms.Identity = lms.Identity("")  # who, as the file name says (LMS ids included)
    refused: str = ""  # why it is not graded at all (a folder, a link, an oversized zip member): its row says so


# Letters that Unicode does not split into a base letter and an accent.
SPELLED_OUT = str.maketrans({"ß": "ss", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O", "œ": "oe", "Œ": "OE", "ł": "l",
                             "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "þ": "th", "ı": "i"})


def _safe(name: str) -> str:
    """A file name for a student's reports that reads as their name: accents dropped (María López →
    Maria_Lopez), spaces and punctuation as '_'. '' when the name has letters with no such spelling (李华),
    so the caller can use the LMS id instead of a mangled name."""
    plain = unicodedata.normalize("NFKD", name.translate(SPELLED_OUT))
    plain = "".join(ch for ch in plain if not unicodedata.combining(ch))
    if any(ch.isalnum() and not ch.isascii() for ch in plain):
        return ""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", plain).strip("._")  # also drops undecodable bytes


def _stem(who: lms.Identity, relative: Path, alone: bool) -> str:
    """The readable file name for a submission's reports: the student's name, else their LMS id."""
    name = _safe(who.student) or (f"{who.system}_{who.lms_id}" if who.lms_id else "") or "submission"
    return name if alone else f"{name}__{_safe(relative.stem) or 'CNN'}"


# What a class's .zip may unpack to. A zip can claim little and expand to gigabytes (a "zip bomb"): each member
# is counted as it is written, and what passes a bound is refused with a reason, never the whole class.
MAX_MEMBER_BYTES = submission.MAX_BYTES
MAX_ZIP_BYTES = 2 * 2**30
MAX_ZIP_MEMBERS = 10_000


def _unzip(archive: Path, into: Path) -> dict[str, str]:
    """Extract only .ipynb members, refusing paths that leave the folder. Returns {member: why it was not
    extracted} for the members refused (too large, too many, the disk full)."""
    refused, total = {}, 0
    with zipfile.ZipFile(archive) as zf:
        members = [m for m in zf.infolist() if not m.is_dir() and Path(m.filename).suffix == ".ipynb"]
        for n, member in enumerate(members):
            name = Path(member.filename)
            if name.is_absolute() or ".." in name.parts:
                continue
            target = into / name
            why = (f"the zip holds more than {MAX_ZIP_MEMBERS:,} notebooks; this one was not unpacked"
                   if n >= MAX_ZIP_MEMBERS else _extract(zf, member, target, min(MAX_MEMBER_BYTES, MAX_ZIP_BYTES - total)))
            if why:
                refused[member.filename] = why
                target.unlink(missing_ok=True)
            else:
                total += target.stat().st_size
    return refused


def _extract(zf: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path, room: int) -> str:
    """Copy one member, counting what is really written (a member's declared size may lie); '' when done."""
    too_large = (f"it unpacks to more than {room / 2**20:,.0f} MB, far more than a notebook: not unpacked "
                 "(a damaged or deliberately inflated file)")
    if member.file_size > room:
        return too_large
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    try:
        with zf.open(member) as src, open(target, "wb") as dst:
            while chunk := src.read(2**20):
                written += len(chunk)
                if written > room:
                    return too_large
                dst.write(chunk)
    except OSError as exc:  # the temporary folder is full, or the member is damaged
        return f"it could not be unpacked ({exc.strerror or exc})"
    except (zipfile.BadZipFile, EOFError, RuntimeError) as exc:  # a damaged or encrypted member
        return f"it could not be unpacked ({exc})"
    return ""


def _why_not_a_file(path: Path) -> str:
    """Why an entry named *.ipynb cannot be graded as a file of this class; '' when it can."""
    if path.is_symlink():
        return ("a link to another file, not a file: links are not followed, so that nothing from outside the "
                "class folder is graded as this student's")
    if path.is_dir():
        return "a folder named like a notebook, not a notebook file"
    if not path.is_file():
        return "not a regular file"
    return ""


def _notebooks_under(root: Path) -> list[Path]:
    """Every entry named *.ipynb below root, links and folders included (each becomes a row), without
    following a link to a folder."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        found += [Path(folder) / name for name in (*dirs, *files) if name.endswith(".ipynb")]
    return sorted(found)


def discover(source: Path, scratch: Path) -> list[Entry]:
    """Every .ipynb under `source` (a folder or a .zip), in a stable order."""
    source = Path(source)
    refused = {}
    if source.is_file() and source.suffix == ".zip":
        root = scratch / "unzipped"
        root.mkdir()
        try:
            refused = _unzip(source, root)
        except (zipfile.BadZipFile, OSError) as exc:
            raise SetupError(source, f"cannot read it as a .zip file ({exc}); download the export again") from None
        label = source.name + ":"
    elif source.is_dir():
        root, label = source, ""
    else:
        raise SetupError(source, "give a folder of notebooks or an LMS .zip export")
    # Folders inside a zip's single top folder count as the student folders.
    tops = [p for p in root.iterdir() if p.name not in SKIP_DIRS]
    top = tops[0].name + "/" if label and len(tops) == 1 and tops[0].is_dir() else ""
    root = root / top if top else root
    found = [(path, path.relative_to(root), _why_not_a_file(path)) for path in _notebooks_under(root)]
    found += [(root / "refused" / name.removeprefix(top), Path(name.removeprefix(top)), why)
              for name, why in refused.items()]
    found = [(path, relative, lms.identify(relative), why) for path, relative, why in found]
    per_student = {}
    for _, _, who, _ in found:
        per_student[who.student] = per_student.get(who.student, 0) + 1
    entries, stems = [], set()
    for path, relative, who, why in found:
        stem = _stem(who, relative, per_student[who.student] == 1)
        while stem in stems:  # two students whose names differ only in punctuation keep both reports
            stem += "_"
        stems.add(stem)
        entries.append(Entry(student=who.student, path=path, file=label + relative.as_posix(), stem=stem,
                             identity=who, refused=why))
    return entries


# ---------------------------------------------------------------- grading

def _result_key(entry: Entry, batch_key: str) -> str:
    what = entry.file + entry.refused if entry.refused else hashlib.sha256(entry.path.read_bytes()).hexdigest()
    return hashlib.sha256(f"{what}\n{batch_key}".encode()).hexdigest()[:32]


def _readable(entry: Entry) -> Entry:
    """The entry, or the same entry refused when its file cannot be read (permissions, vanished)."""
    if entry.refused:
        return entry
    try:
        with open(entry.path, "rb"):
            return entry
    except OSError as exc:
        return dataclasses.replace(entry, refused=f"the file cannot be read ({exc.strerror or exc})")


@dataclass(frozen=True)
class Task:
    """All a worker needs to grade one submission, sent with it: no shared filesystem."""

    name: str  # the file's name, as the report shows it
    notebook: bytes
    options: Options
    reference: dict  # the reference's facts, computed once by the client
    data_sha256: str  # the MNIST the client graded the reference on
    versions: dict  # the client's grader, Keras and TensorFlow versions


class WorkerMismatch(RuntimeError):
    """A worker that cannot grade as the client would (other versions, other data)."""


def grade_task(task: Task) -> dict:
    """On a worker (a local process or a Dask worker): grade one submission and return its JSON result
    and HTML report. Refuses when this worker would not grade as the client does."""
    mine = versions()
    for name in ("grader", "keras", "tensorflow", "numpy"):
        if mine[name] != task.versions.get(name):
            raise WorkerMismatch(f"the worker on {socket.gethostname()} runs {name} {mine[name]}, the batch needs "
                                 f"{task.versions[name]}: install the same versions on every worker")
    try:
        source = data.resolve(task.options.data)
    except SetupError as exc:
        raise WorkerMismatch(f"the worker on {socket.gethostname()} has no data file: {exc}") from None
    if source.sha256 != task.data_sha256:
        raise WorkerMismatch(f"the worker on {socket.gethostname()} has other MNIST data ({source.description}): give "
                             "every worker the same --data file")
    with tempfile.TemporaryDirectory(prefix="autograder-task-") as folder:
        path = Path(folder) / task.name
        path.write_bytes(task.notebook)
        result = report.to_dict(grade(path, task.options, reference=task.reference))
    result["graded_on"] = socket.gethostname()
    return {"result": result}


def _crashed(entry: Entry, reason: str) -> dict:
    return report.to_dict(error_result(entry.path, reason))


def run(source: Path, out: Path, *, options: Options = Options(), workers: int | None = None,
        force: bool = False, roster: Path | None = None, cluster: str | None = None, on_start=None,
        on_result=None, lms_export: str | None = None, lms_column: str = "CNN", lms_points: float | None = None) -> dict:
    """Grade every submission under `source` into `out`. Returns the summary (see summarise).

    cluster: a Dask scheduler's address (else $DASK_SCHEDULER_ADDRESS, else the local pool of
    `workers` processes). on_start(total, to_grade) is called once the submissions are found;
    on_result(entry, result_dict, reused) as each one is done. lms_export: "canvas" or "moodle" also
    writes that LMS's grade file (lms_column: the Canvas assignment column's header), out of lms_points, else
    the roster's Points Possible (Canvas) or Maximum Grade (Moodle), else the rubric's maximum."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # The kernels must not see the other submissions, nor each other's results.
    options = dataclasses.replace(options, hide=(*options.hide, Path(source).resolve(), out.resolve()))
    results_dir = out / ".results"
    results_dir.mkdir(exist_ok=True)
    people = lms.read_roster(roster)
    rubric = rubric_mod.load(options.rubric)
    source_data = data.resolve(options.data)
    ref, _ = reference_facts(source_data, rubric, options)  # once, here: it travels with every task
    batch_key = reference_cache.cache_key(options.reference, rubric.digest, source_data.sha256)
    workers = workers or multiprocessing.cpu_count()
    base = similarity.Base.of([locations.STARTER, Path(options.reference)])  # what every student was given

    with tempfile.TemporaryDirectory(prefix="autograder-batch-") as scratch:
        entries = [_readable(entry) for entry in discover(source, Path(scratch))]
        keys = {entry: _result_key(entry, batch_key) for entry in entries}
        results: dict[Entry, dict] = {}
        prints: dict[Entry, similarity.Print] = {}
        stored = {e: results_dir / f"{keys[e]}.json" for e in entries}
        refused = [e for e in entries if e.refused]
        todo = [e for e in entries if not e.refused and (force or not stored[e].exists())]
        if on_start:
            on_start(len(entries), len(todo))
        for entry in entries:
            if entry in todo or entry.refused:
                continue
            results[entry] = as_handed_in(json.loads(stored[entry].read_text(encoding="utf-8")), entry)
            prints[entry] = _print(entry, results[entry], base, stored[entry])
            if not (out / f"{entry.stem}.instructor.html").exists():
                report.write_dict(results[entry], out, entry.stem, instructor_copy=True)
            if on_result:
                on_result(entry, results[entry], True)
        def make_task(entry: Entry) -> Task:
            return Task(name=entry.path.name, notebook=entry.path.read_bytes(), options=options, reference=ref,
                        data_sha256=source_data.sha256, versions=client_versions)

        def on_done(entry: Entry, outcome: dict | None, reason: str | None) -> None:
            """Store each result as it comes back (atomically), so an interrupted batch resumes."""
            result = as_handed_in(outcome["result"] if outcome else _crashed(entry, reason), entry)
            results[entry] = result
            report.atomic_write(stored[entry], json.dumps(result, default=str))
            prints[entry] = _print(entry, result, base, stored[entry], fresh=True)
            report.write_dict(result, out, entry.stem, instructor_copy=True)
            if on_result:
                on_result(entry, result, False)

        for entry in refused:  # a row with its reason, graded by no one
            on_done(entry, None, entry.refused)
        client_versions = versions()
        engine = engine_for(cluster, workers) if todo else None
        try:
            if engine:
                _grade_all(todo, make_task, engine, deadline_s(options, rubric), on_done)
        finally:  # also on Ctrl-C: the gradebook covers what is done
            summary = summarise(entries, results, people, rubric)
            summary["similar"] = similar_pairs(entries, prints, summary, rubric.similarity_threshold)
            write_similarity(out / "similarity.csv", summary["similar"])
            write_gradebook(out / "gradebook.csv", summary)
            report.atomic_write(out / "index.html", report.render_class(summary))
            if lms_export:
                out_of = lms_points or lms.points_possible(roster, lms_column) or rubric.max_points
                summary["lms_scale"] = lms.Scale(rubric.max_points, out_of)
                summary["lms_file"], summary["lms_left_out"] = write_lms(out, summary, lms_export, lms_column,
                                                                         summary["lms_scale"])
    return summary


def as_handed_in(result: dict, entry: Entry) -> dict:
    """A stored grade is keyed by the file's content, so two students who hand in the same bytes share
    it; what names the submission (its file, where it is, whose it is) always comes from this entry."""
    named = {**result["submission"], "path": str(entry.path), "name": entry.path.name, "file": entry.file,
             "student": entry.student}
    return {**result, "submission": named}


def _print(entry: Entry, result: dict, base: similarity.Base, stored: Path, fresh: bool = False) -> similarity.Print:
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


def similar_pairs(entries: list[Entry], prints: dict, summary: dict, threshold: float) -> list[dict]:
    """The class's pairs above the threshold, with both students' rows (names and report links)."""
    rows = {row["file"]: row for row in summary["rows"]}  # a file is one submission; a student may have two
    keyed = {entry.file: prints[entry] for entry in entries if entry in prints}
    return [{**dataclasses.asdict(pair), "a_row": rows[pair.a], "b_row": rows[pair.b]}
            for pair in similarity.compare(keyed, threshold)]


SIMILARITY_COLUMNS = ["student_a", "file_a", "student_b", "file_b", "score", "code_score", "shared_mistakes",
                      "shared_names", "shared_lines"]


def write_similarity(path: Path, pairs: list[dict]) -> None:
    """similarity.csv: the listed pairs, for the instructor's records."""
    rows = [[p["a_row"]["student"], p["a_row"]["file"], p["b_row"]["student"], p["b_row"]["file"], p["score"],
             p["code_score"], "; ".join(f"{title}: {found}" for _, title, found in p["mistakes"]),
             ", ".join(p["names"]), len(p["lines"])] for p in pairs]
    report.atomic_write(path, report.csv_text(SIMILARITY_COLUMNS, rows))


def deadline_s(options: Options, rubric) -> float:
    """How long one submission may take in a worker before the batch gives up on it: the notebook's
    own limit, plus the kernel's start, the grader's checks and the brief training."""
    return settings.resolve(options, rubric).notebook_timeout_s + 180


class LocalPool:
    """The embedded default: spawned worker processes on this machine, no server."""

    def __init__(self, workers: int):
        self.workers = workers
        self._pool = self._new()

    def _new(self) -> ProcessPoolExecutor:
        # spawn: fresh workers, no TensorFlow state copied by fork
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"))

    def slots(self) -> int:
        return self.workers

    def submit(self, task: Task):
        return self._pool.submit(grade_task, task)

    def crash(self, exc: BaseException) -> str | None:
        """Why a submission crashed its worker, when this exception says so (the pool is then broken)."""
        return "the grading process crashed on this submission" if isinstance(exc, BrokenProcessPool) else None

    def give_up(self) -> bool:
        """Stop a submission that outlived its deadline; True when the others running were stopped too."""
        self.restart()
        return True

    def restart(self) -> None:
        sandbox.stop_descendants()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new()

    def close(self, interrupted: bool = False) -> None:
        if interrupted:  # never wait for a worker that may be stuck: Ctrl-C always ends the batch
            sandbox.stop_descendants()
        self._pool.shutdown(wait=not interrupted, cancel_futures=True)


class DaskCluster:
    """The same tasks on a running Dask scheduler (`--cluster tcp://host:8786`): its workers each grade
    one submission per thread; a task whose worker dies is retried elsewhere, up to the scheduler's
    allowed-failures, then reported as crashing its worker."""

    def __init__(self, address: str):
        from distributed import Client

        try:
            self.client = Client(address, timeout="30s")
        except OSError as exc:
            raise SetupError(None, f"cannot reach the Dask scheduler at {address} ({exc}); start it with "
                                   "`dask scheduler` and workers with `autograder worker ADDRESS`") from None
        self._executor = self.client.get_executor(pure=False)

    def slots(self) -> int:
        return max(1, sum(self.client.nthreads().values()))

    def submit(self, task: Task):
        return self._executor.submit(grade_task, task)

    def crash(self, exc: BaseException) -> str | None:
        from distributed.scheduler import KilledWorker

        if isinstance(exc, KilledWorker):
            return "the grading process crashed on this submission every time the cluster tried it"
        return None

    def give_up(self) -> bool:
        return False  # a Dask task cannot be stopped from here; its kernel's own limits end it

    def restart(self) -> None:
        pass  # the scheduler reschedules by itself

    def close(self, interrupted: bool = False) -> None:
        self._executor.shutdown(wait=False)
        self.client.close()


def engine_for(cluster: str | None, workers: int):
    """The local pool, or the Dask cluster at `cluster` (also $DASK_SCHEDULER_ADDRESS)."""
    cluster = cluster or os.environ.get("DASK_SCHEDULER_ADDRESS")
    return DaskCluster(cluster) if cluster else LocalPool(workers)


def _grade_all(todo: list[Entry], make_task, engine, deadline: float, on_done) -> None:
    """Grade `todo` on the engine, then close it (at once on Ctrl-C)."""
    waiting = list(todo)
    try:
        grade_as_they_come(lambda n: [waiting.pop(0) for _ in range(min(n, len(waiting)))], make_task, engine,
                           deadline, on_done)
    except KeyboardInterrupt:
        engine.close(interrupted=True)
        raise
    engine.close()


def grade_as_they_come(take, make_task, engine, deadline: float, on_done, more=None, tick: float = 2) -> None:
    """Grade what take(n) gives (at most n entries to start now) on the engine, at most as many at once as
    it has slots, calling on_done(entry, outcome or None, reason) for each. Returns when take gives nothing
    and nothing runs, unless more() (which may wait for work) says to go on: the service's loop. One engine
    loop for every backend and for both the batch and the service."""
    again, running, started = [], {}, {}  # again: entries whose worker was stopped under them
    while True:
        room = engine.slots() - len(running)
        starting, again = again[:room], again[room:]
        if room > len(starting):
            starting += take(room - len(starting))
        for entry in starting:
            future = engine.submit(make_task(entry))
            running[future], started[future] = entry, time.monotonic()
        if not running:
            if more is None or not more():
                return
            continue
        done, _ = wait(running, timeout=tick, return_when=FIRST_COMPLETED)
        for future in done:
            entry = running.pop(future, None)
            if entry is None:
                continue
            try:
                on_done(entry, future.result(), None)
            except Exception as exc:  # one bad submission never stops the others
                crashed = engine.crash(exc)
                on_done(entry, None, crashed or f"the grader failed: {type(exc).__name__}: {exc}")
                if crashed and isinstance(engine, LocalPool):  # the pool is broken: redo the rest
                    again = list(running.values()) + again
                    running.clear()
                    engine.restart()
                    break
        late = [f for f in running if time.monotonic() - started[f] > deadline]
        for future in late:
            on_done(running.pop(future), None, f"grading took longer than {deadline:.0f} seconds and was stopped")
            future.cancel()
        if late and engine.give_up():  # the others running on the stopped workers start again
            again = list(running.values()) + again
            running.clear()


# ---------------------------------------------------------------- gradebook and summary

def summarise(entries: list[Entry], results: dict, people: dict[str, dict], rubric) -> dict:
    rows = []
    for entry in entries:
        r = results.get(entry)
        who = entry.identity
        person = lms.lookup(people, entry.student, who.lms_id)
        row = {"student": entry.student, "name": person.get("name", ""), "file": entry.file,
               "lms": who.system, "lms_id": who.lms_id, "late": who.late,
               "report": f"{entry.stem}.report.html", "instructor_report": f"{entry.stem}.instructor.html",
               "score": None, "max_score": rubric.max_points, "percent": None, "status": "not graded yet",
               "reason": "", "checks": {}, "comment": ""}
        row.update({k: person.get(k, "") for k in ("sis_user_id", "sis_login_id", "section", "canvas_id")})
        if r is not None:
            row.update(status=r["status"], reason=r.get("reason") or "")
            if r["status"] == "graded":
                row.update(score=r["score"], percent=r["percent"])
                row["checks"] = {c["id"]: c for c in r["checks"]}
            row["comment"] = _comment(r)
        rows.append(row)
    rows.sort(key=lambda row: (row["student"].lower(), row["file"]))
    scores = [row["percent"] for row in rows if row["percent"] is not None]
    columns = [{"id": c, "title": rubric.checks[c].title, "short": rubric.checks[c].short,
                "max_points": rubric.checks[c].points} for c in CHECK_IDS]  # points: the class page sorts by them
    return {"rows": rows, "checks": check_table(rows, rubric), "columns": columns, "similar": [], "graded": len(scores),
            "mixed_versions": mixed_versions(entries, results),
            "errors": sum(row["status"] == "error" for row in rows), "total": len(rows),
            "max_score": rubric.max_points, "scores": scores,
            "mean": round(sum(scores) / len(scores), 1) if scores else None}


# What, when it differs between two results of one class, can make the same notebook's grade differ.
GRADE_VERSIONS = ("grader", "tensorflow", "keras", "numpy", "machine")


def mixed_versions(entries: list[Entry], results: dict) -> list[dict]:
    """[{"versions": "tensorflow 2.21.0, ...", "students": [...]}] when the class's results were not all made
    with the same versions (results kept from an earlier run, workers set up apart); else []."""
    groups: dict[str, list[str]] = {}
    for entry in entries:
        made_with = (results.get(entry) or {}).get("versions")
        if made_with:
            line = ", ".join(f"{k} {made_with.get(k, '?')}" for k in GRADE_VERSIONS)
            groups.setdefault(line, []).append(entry.student)
    if len(groups) < 2:
        return []
    return [{"versions": line, "students": sorted(students)} for line, students in sorted(groups.items())]


def _comment(result: dict) -> str:
    """One line for the LMS's feedback box (the LMS file puts the grade, on its own scale, before it): what
    to fix first and where, in the notebook the student has; never a file only the instructor holds."""
    if result["status"] != "graded":
        return f"Not graded: {result.get('reason') or 'the notebook could not be run'}."
    todo = report.view(result)["problems"]
    if not todo:
        return "Every check passed."
    return "Fix first, in your notebook: " + "; ".join(
        c["title"] + (f" (In [{c['where']['cell']}])" if (c.get("where") or {}).get("cell") else "")
        for c in todo[:3]) + "."


def _pattern(found: str) -> str:
    """Wrong values that differ only in their numbers are one group: 'batch_size=32' ~ 'batch_size=128'."""
    return re.sub(r"\d+(?:\.\d+)?", "#", found or "")


def check_table(rows: list[dict], rubric) -> list[dict]:
    """Per scored check: pass rate and points lost across the class, the wrong values grouped, the
    students under each; the check that cost the class most first."""
    table = []
    for check_id in CHECK_IDS:
        rule = rubric.checks[check_id]
        if rule.points <= 0:
            continue  # information only: never a class problem
        graded = [row for row in rows if check_id in row["checks"]]
        if not graded:
            continue
        groups: dict[str, dict] = {}
        for row in graded:
            c = row["checks"][check_id]
            if c["status"] == "pass":
                continue
            found = c["found"] or {"skipped": "not checked"}.get(c["status"], c["status"])
            group = groups.setdefault(_pattern(found), {"values": [], "students": []})
            if found not in group["values"]:
                group["values"].append(found)
            group["students"].append({"student": row["student"], "name": row["name"], "link": row["instructor_report"]})
        passed = sum(row["checks"][check_id]["status"] == "pass" for row in graded)
        lost = sum(row["checks"][check_id]["max_points"] - row["checks"][check_id]["points"] for row in graded)
        table.append({"check": check_id, "title": rule.title, "short": rule.short, "points": rule.points,
                      "passed": passed, "graded": len(graded), "pass_rate": round(100 * passed / len(graded)),
                      "points_lost": round(lost, 2),
                      "groups": sorted(groups.values(), key=lambda g: -len(g["students"]))})
    table.sort(key=lambda t: (-t["points_lost"], t["pass_rate"], CHECK_IDS.index(t["check"])))
    return table


GRADEBOOK_COLUMNS = ["student", "name", "file", "lms", "lms_id", "late", "score", "max_score", "percent", "status",
                     "reason"]


def _gradebook_cell(check: dict | None):
    """The points earned; for a check worth no points, what it found ("info: 8"), never a 0 that reads as a fail."""
    if check is None:
        return ""
    return f"info: {check['found']}" if check["max_points"] == 0 else check["points"]


def gradebook_row(row: dict) -> list:
    """A summary row as gradebook.csv has it: GRADEBOOK_COLUMNS, then each check's points."""
    return ([row[c] if row[c] is not None else "" for c in GRADEBOOK_COLUMNS]
            + [_gradebook_cell(row["checks"].get(c)) for c in CHECK_IDS])


def write_gradebook(path: Path, summary: dict) -> None:
    rows = [gradebook_row(row) for row in summary["rows"]]
    report.atomic_write(path, report.csv_text(GRADEBOOK_COLUMNS + list(CHECK_IDS), rows))


def write_lms(out: Path, summary: dict, system: str, column: str, scale: lms.Scale) -> tuple[Path, list[str]]:
    """canvas.csv or moodle.csv beside the gradebook, graded out of the assignment's maximum in the LMS;
    returns it and the students it had to leave out."""
    graded = [row for row in summary["rows"] if row["status"] != "not graded yet"]
    if system == "canvas":
        text, left_out = lms.canvas_csv(graded, column, scale)
    elif system == "moodle":
        text, left_out = lms.moodle_csv(graded, scale)
    else:
        raise SetupError(Path(system), f"unknown LMS; choose one of {', '.join(lms.SYSTEMS)}")
    path = out / f"{system}.csv"
    report.atomic_write(path, text)
    return path, left_out
