"""What reaches each person from a batch: the right student's name on their report, grades on the LMS's
own scale, names as written. One small class graded once, then again with one more student."""

from __future__ import annotations

import csv
import json
import shutil

import pytest

from autograder import GradingContext, batch, locations
from conftest import CELL_TIMEOUT, FIXTURES

pytestmark = pytest.mark.slow  # real notebooks in real kernels

CANVAS_EXPORT = ("Student,ID,SIS User ID,SIS Login ID,Section,CNN (4242)\n"
                 "    Points Possible,,,,,20\n"
                 "Jane Smith,12345,S-1,jsmith,Period 2,\n"
                 "Anh Ngo,222,S-2,ango,Period 2,\n")


def read_csv(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Run 1: smithjane (the lesson's notebook), María López (batch size 32, a Moodle folder), 李华 (not a
    notebook). Run 2, into the same folder: ngoanh hands in smithjane's very bytes."""
    root = tmp_path_factory.mktemp("people")
    source, out = root / "class", root / "out"
    source.mkdir()
    shutil.copy(locations.REFERENCE, source / "smithjane_12345_67890_CNN.ipynb")
    (source / "María López_678_assignsubmission_file_").mkdir()
    shutil.copy(FIXTURES / "batch_32.ipynb", source / "María López_678_assignsubmission_file_" / "CNN.ipynb")
    (source / "李华_679_assignsubmission_file_").mkdir()
    shutil.copy(FIXTURES / "not_a_notebook.ipynb", source / "李华_679_assignsubmission_file_" / "CNN.ipynb")
    roster = root / "canvas-export.csv"
    roster.write_text(CANVAS_EXPORT, encoding="utf-8")
    context = GradingContext(cell_timeout=CELL_TIMEOUT)
    first = batch.run(source, out, context=context, workers=2, roster=roster, lms_export="canvas",
                      lms_column="CNN (4242)")
    canvas = read_csv(out / "canvas.csv")
    shutil.copy(source / "smithjane_12345_67890_CNN.ipynb", source / "ngoanh_222_333_CNN.ipynb")
    seen = []
    second = batch.run(source, out, context=context, workers=2, roster=roster, lms_export="moodle", lms_points=7,
                       on_result=lambda entry, result, reused: seen.append((entry.student, reused)))
    return {"out": out, "first": first, "second": second, "canvas": canvas, "seen": dict(seen)}


def test_a_reused_grade_names_the_submission_at_hand(two_runs):
    out = two_runs["out"]
    assert two_runs["seen"]["ngoanh"] is True  # the same bytes: smithjane's grade is reused
    result = json.loads((out / "ngoanh.result.json").read_text(encoding="utf-8"))
    assert result["submission"]["name"] == "ngoanh_222_333_CNN.ipynb"
    assert result["submission"]["path"].endswith("/ngoanh_222_333_CNN.ipynb") and result["submission"]["student"] == "ngoanh"
    for copy in ("report", "instructor"):
        html = (out / f"ngoanh.{copy}.html").read_text(encoding="utf-8")
        assert "ngoanh_222_333_CNN.ipynb" in html and "smithjane" not in html, copy
    assert "smithjane_12345_67890_CNN.ipynb" in (out / "smithjane.report.html").read_text(encoding="utf-8")


def test_lms_files_grade_on_the_assignments_own_scale(two_runs):
    # Canvas: the roster's Points Possible row says 20; 100 / 100 is 20 there.
    assert [(r["ID"], r["CNN (4242)"]) for r in two_runs["canvas"]] == [("12345", "20")]
    # Moodle: out of --lms-points 7; batch size 32 costs 5 of 100 points: 95 / 100 → 6.65 / 7.
    rows = {r["Identifier"]: r for r in read_csv(two_runs["out"] / "moodle.csv")}
    maria = rows["Participant 678"]
    assert (maria["Grade"], maria["Maximum Grade"]) == ("6.65", "7")
    assert maria["Feedback comments"].startswith("6.65 / 7. Fix first, in your notebook: Batch size (In [")
    assert ".html" not in maria["Feedback comments"]  # never a file the student does not receive


def test_names_are_shown_as_written_and_files_read_as_the_name(two_runs):
    out, rows = two_runs["out"], {r["student"]: r for r in two_runs["second"]["rows"]}
    assert rows["María López"]["report"] == "Maria_Lopez.report.html" and (out / "Maria_Lopez.report.html").exists()
    assert rows["李华"]["report"] == "moodle_679.report.html" and (out / "moodle_679.report.html").exists()
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "María López" in index and "李华" in index and "Mar_a" not in index
    assert not list(out.glob("Mar_a*")) and not list(out.glob("_*"))
    assert {r["student"] for r in read_csv(out / "gradebook.csv")} >= {"María López", "李华"}
