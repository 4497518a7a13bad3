"""The similarity pass of a batch: the pairs that share more than the lesson gave them are listed for
the instructor, first; students who follow the lesson on their own are never listed."""

from __future__ import annotations

import csv
import json
import re

import pytest

from autograder import batch, gradebook

pytestmark = pytest.mark.slow  # the class is graded in real kernels

PAIRS = {("ivy", "jon"), ("kai", "lea")}


def listed(summary) -> list[tuple[str, str]]:
    return [tuple(sorted((p["a_row"]["student"], p["b_row"]["student"]))) for p in summary["similar"]]


def test_the_copied_pair_and_the_shared_mistakes_pair_rank_first_and_no_one_else_is_listed(similarity_class):
    _, summary = similarity_class
    assert set(listed(summary)) == PAIRS  # and no pair of the twelve who followed the lesson on their own
    copied = next(p for p in summary["similar"] if p["a_row"]["student"] == "ivy")
    assert copied["code_score"] >= 0.9 and len(copied["lines"]) >= 5  # renamed variables change nothing
    assert any("show_wrong_guesses" in a and "find_errors" in b for a, b in copied["lines"])
    mistakes = next(p for p in summary["similar"] if p["a_row"]["student"] == "kai")["mistakes"]
    found = {check_id: value for check_id, _, value in mistakes}
    assert "filters=48" in found["layers.config"] and "0.0005" in found["compile.optimizer"]


def test_the_instructor_gets_the_section_and_a_csv_and_students_get_nothing(similarity_class):
    out, summary = similarity_class
    with open(out / "similarity.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == gradebook.SIMILARITY_COLUMNS
    assert {tuple(sorted((r["student_a"], r["student_b"]))) for r in rows} == PAIRS
    html = (out / "index.html").read_text(encoding="utf-8")
    assert 'id="similar"' in html and "not a finding" in html and 'href="ivy.instructor.html"' in html
    for student, other in (("ivy", "jon_CNN"), ("jon", "ivy_CNN"), ("kai", "lea_CNN"), ("lea", "kai_CNN")):
        for kind in ("report.html", "instructor.html", "result.json"):
            text = (out / f"{student}.{kind}").read_text(encoding="utf-8")
            # nothing of the pass (the fixtures' folder is named similarity_class), nothing of the other
            assert not re.search(r"(?i)\bsimilar\b", text) and other not in text


def test_a_rerun_compares_from_the_stored_fingerprints(similarity_class, tmp_path, monkeypatch):
    out, summary = similarity_class
    assert len(list((out / ".results" / "prints").glob("*.json"))) == 16
    from autograder import similarity

    def no_reading(*args, **kwargs):
        raise AssertionError("a re-run read a notebook again")

    monkeypatch.setattr(similarity, "print_of", no_reading)
    from conftest import CELL_TIMEOUT, FIXTURES
    from autograder import GradingContext

    again = batch.run(FIXTURES / "similarity_class", out, context=GradingContext(cell_timeout=CELL_TIMEOUT), workers=2)
    assert listed(again) == listed(summary)
    assert json.loads(json.dumps(again["similar"], default=str)) == json.loads(json.dumps(summary["similar"], default=str))
