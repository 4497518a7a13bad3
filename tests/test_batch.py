"""Batch-grading a class: layouts, gradebook, summary, resume, interruption, untouched submissions."""

from __future__ import annotations

import contextlib
import csv
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import psutil
import pytest

from autograder import GradingContext, batch, gradebook, locations
from autograder.checks import CHECK_IDS
from conftest import CELL_TIMEOUT, FIXTURES, ROOT, kernels_among, sha256

pytestmark = pytest.mark.slow  # real notebooks in real kernels


def tree_fingerprint(folder: Path) -> dict:
    return {str(p.relative_to(folder)): sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def read_gradebook(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def class_folder(tmp_path_factory):
    """Mixed layouts: a flat file, a Classroom name, folders per student, a checkpoint to ignore."""
    root = tmp_path_factory.mktemp("class")
    shutil.copy(locations.REFERENCE, root / "alice_CNN.ipynb")
    shutil.copy(FIXTURES / "batch_32.ipynb", root / "Bob Jones - CNN.ipynb")
    (root / "carol").mkdir()
    shutil.copy(FIXTURES / "not_a_notebook.ipynb", root / "carol" / "CNN.ipynb")
    (root / "dan").mkdir()
    shutil.copy(FIXTURES / "never_ending_cell.ipynb", root / "dan" / "CNN.ipynb")
    (root / "dan" / ".ipynb_checkpoints").mkdir()
    shutil.copy(FIXTURES / "no_model.ipynb", root / "dan" / ".ipynb_checkpoints" / "CNN-checkpoint.ipynb")
    (root / "roster.csv").write_text("id,name\nalice,Alice Adams\ndan,Dan Diaz\n")
    return root


@pytest.fixture(scope="module")
def class_run(class_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("graded")
    before = tree_fingerprint(class_folder)
    seen = []
    # dan's endless cell runs to its limit: 12 s (the others' cells take a few seconds) instead of 20
    summary = batch.run(class_folder, out, context=GradingContext(cell_timeout=12), workers=2,
                        roster=class_folder / "roster.csv",
                        on_result=lambda entry, result, reused: seen.append((entry.student, reused)))
    return {"out": out, "summary": summary, "seen": seen, "before": before}


def test_every_layout_is_found_with_the_students_name(class_run):
    students = sorted(student for student, _ in class_run["seen"])
    assert students == ["Bob Jones", "alice", "carol", "dan"]  # the checkpoint copy is ignored


def test_gradebook_has_one_row_per_submission_with_reasons(class_run):
    rows = {row["student"]: row for row in read_gradebook(class_run["out"] / "gradebook.csv")}
    assert list(read_gradebook(class_run["out"] / "gradebook.csv")[0]) == gradebook.GRADEBOOK_COLUMNS + list(CHECK_IDS)
    assert rows["alice"]["name"] == "Alice Adams" and float(rows["alice"]["score"]) == 100
    assert float(rows["Bob Jones"]["score"]) == 95 and rows["Bob Jones"]["fit.batch_size"] == "0.0"
    assert rows["carol"]["status"] == "error" and "not valid JSON" in rows["carol"]["reason"]
    assert rows["carol"]["score"] == "" and rows["carol"]["file"] == "carol/CNN.ipynb"
    assert rows["dan"]["status"] == "graded" and float(rows["dan"]["notebook.runs"]) == 2.5  # the endless cell


def test_each_submission_gets_its_report_and_result(class_run):
    out = class_run["out"]
    for stem in ("alice", "Bob_Jones", "carol", "dan"):
        for kind in ("report.html", "instructor.html", "result.json"):
            path = out / f"{stem}.{kind}"
            assert path.stat().st_mode & 0o777 == 0o644  # readable on a shared drive or a web server


def test_class_summary_counts_and_common_problems(class_run):
    summary = class_run["summary"]
    assert (summary["graded"], summary["errors"], summary["total"]) == (3, 1, 4)
    table = {t["check"]: t for t in summary["checks"]}
    assert "predict.digit3" not in table  # worth no points: never a class problem
    batch_size = table["fit.batch_size"]
    assert (batch_size["passed"], batch_size["graded"], batch_size["points_lost"]) == (2, 3, 5)
    (group,) = batch_size["groups"]
    assert group["values"] == ["32"] and [s["student"] for s in group["students"]] == ["Bob Jones"]
    lost = [t["points_lost"] for t in summary["checks"]]
    assert lost == sorted(lost, reverse=True)  # the check that cost the class most comes first
    html = (class_run["out"] / "index.html").read_text()
    assert "3 graded" in html and "1 could not be graded" in html
    assert 'href="Bob_Jones.instructor.html"' in html and 'href="Bob_Jones.report.html"' in html and "Dan Diaz" in html
    assert "Batch size" in html and ">fit.batch_size<" not in html  # titles, not ids
    assert "<svg" in html and not any(s in html for s in ('src="http', 'href="http'))


def test_submissions_are_untouched_and_nothing_is_written_beside_them(class_run, class_folder):
    assert tree_fingerprint(class_folder) == class_run["before"]


def test_a_second_run_reuses_every_result(class_run, class_folder):
    seen = []
    started = time.perf_counter()
    summary = batch.run(class_folder, class_run["out"], context=GradingContext(cell_timeout=12),
                        roster=class_folder / "roster.csv",
                        on_result=lambda entry, result, reused: seen.append(reused))
    assert seen == [True] * 4
    assert time.perf_counter() - started < 15  # no kernel was started
    assert summary["rows"] == class_run["summary"]["rows"]


def test_an_lms_zip_is_graded_without_unpacking_beside_it(tmp_path):
    archive = tmp_path / "submissions.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(locations.REFERENCE, "submissions/smithjane_12345_67890_CNN.ipynb")
        zf.write(FIXTURES / "no_softmax.ipynb", "submissions/doejohn_LATE_222_333_CNN.ipynb")
        zf.writestr("../evil.ipynb", "{}")  # a member that would escape the folder is skipped
        zf.writestr("submissions/notes.txt", "not a notebook")
    out = tmp_path / "out"
    summary = batch.run(archive, out, context=GradingContext(cell_timeout=CELL_TIMEOUT), lms_export="canvas",
                        lms_column="CNN (4242)")
    rows = {row["student"]: row for row in summary["rows"]}
    assert set(rows) == {"smithjane", "doejohn"}
    assert rows["smithjane"]["percent"] == 100 and rows["doejohn"]["file"].startswith("submissions.zip:")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "submissions.zip"]
    # What the Canvas file names say is kept, and the Canvas file imports as it is.
    book = {row["student"]: row for row in read_gradebook(out / "gradebook.csv")}
    assert (book["doejohn"]["lms"], book["doejohn"]["lms_id"], book["doejohn"]["late"]) == ("canvas", "222", "True")
    with open(out / "canvas.csv", newline="", encoding="utf-8") as f:
        canvas = list(csv.reader(f))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "CNN (4242)"]
    assert sorted((r[1], r[5]) for r in canvas[1:]) == sorted([("12345", "100"), ("222", f"{rows['doejohn']['score']:g}")])


def small_class(root: Path) -> Path:
    root.mkdir()
    for example in sorted((ROOT / "assignment" / "examples").glob("*.ipynb"))[:3]:
        shutil.copy(example, root / example.name)
    return root


def start_batch(source: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "autograder", "batch", str(source), "-o", str(out),
                             "--workers", "1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def wait_for_results(out: Path, n: int, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if len(list((out / ".results").glob("*.json"))) >= n:
            return
        time.sleep(0.2)
    raise AssertionError(f"no {n} results within {timeout} s")


@contextlib.contextmanager
def adopting_orphans():
    """While inside, this test process is a child subreaper: a kernel whose grader died becomes its child, not
    init's, so the test sees its own orphans and never another grader's kernels elsewhere on the machine."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    try:
        yield
    finally:
        prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        for child in psutil.Process().children():  # reap the orphans adopted, dead or killed now
            if child.status() == psutil.STATUS_ZOMBIE:
                os.waitpid(child.pid, 0)


PR_SET_CHILD_SUBREAPER = 36


def kernels_started_since(started: float) -> list:
    """Kernels of this test's process tree started since `started`, orphans included (adopting_orphans)."""
    return [p for p in kernels_among(psutil.Process().children(recursive=True)) if p.create_time() >= started]


def test_killed_batch_resumes_without_losing_or_duplicating_a_row(tmp_path):
    source, out = small_class(tmp_path / "class"), tmp_path / "out"
    started = time.time()
    with adopting_orphans():
        proc = start_batch(source, out)
        wait_for_results(out, 1)
        os.killpg(proc.pid, signal.SIGKILL)  # like kill -9 on the whole command
        proc.wait()
        time.sleep(2)
        assert kernels_started_since(started) == []  # the sandboxed kernel died with its grader
    done_before = len(list((out / ".results").glob("*.json")))
    rerun = subprocess.run([sys.executable, "-m", "autograder", "batch", str(source), "-o", str(out)],
                           capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"{3 - done_before} to grade, {done_before} graded before" in rerun.stdout
    rows = read_gradebook(out / "gradebook.csv")
    assert sorted(row["student"] for row in rows) == ["ada", "ben", "cleo"]
    assert all(row["status"] == "graded" for row in rows)


def test_ctrl_c_stops_cleanly_with_a_partial_gradebook(tmp_path):
    source, out = small_class(tmp_path / "class"), tmp_path / "out"
    started = time.time()
    with adopting_orphans():
        proc = start_batch(source, out)
        wait_for_results(out, 1)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
        output, _ = proc.communicate(timeout=60)
        time.sleep(1)
        assert kernels_started_since(started) == []  # not even one launched as the batch stopped
    assert proc.returncode == 130, output
    assert "run the same command again" in output
    rows = read_gradebook(out / "gradebook.csv")
    assert len(rows) == 3 and any(row["status"] == "graded" for row in rows)


def test_a_file_name_that_is_not_utf8_gets_its_row(tmp_path):
    source = tmp_path / "class"
    source.mkdir()
    weird = os.fsdecode(b"caf\xe9_CNN.ipynb")  # Latin-1 bytes from an old LMS export
    shutil.copy(FIXTURES / "not_a_notebook.ipynb", source / weird)
    summary = batch.run(source, tmp_path / "out", context=GradingContext(cell_timeout=CELL_TIMEOUT))
    (row,) = summary["rows"]
    assert row["status"] == "error" and "not valid JSON" in row["reason"]
    text = (tmp_path / "out" / "gradebook.csv").read_text(encoding="utf-8")
    assert "caf\\udce9" in text
    assert (tmp_path / "out" / f"{row['report']}").exists()
