"""The HTML report and the JSON result say the same things, self-contained."""

from __future__ import annotations

import json
import re

import pytest

from autograder import report
from autograder.checks import CHECK_IDS, run_checks
from autograder.results import GradeResult

slow = pytest.mark.slow  # real notebooks in real kernels: every test but the fast ones at the end


@pytest.fixture(scope="module")
def pooling_html(graded):
    return report.render_html(graded("pooling_after_the_last_conv"))


@slow
def test_report_shows_every_check_with_its_verdict(graded, pooling_html):
    for c in graded("pooling_after_the_last_conv").checks:
        shown = "info" if c.max_points == 0 else c.status  # a check worth nothing is information
        assert f'data-check="{c.id}" data-status="{shown}"' in pooling_html
    assert "MaxPooling2D is in the wrong place" in pooling_html
    assert "Lesson step:" in pooling_html


@slow
def test_report_is_self_contained(pooling_html):
    assert not re.search(r"""(src|href)=["'](https?:)?//""", pooling_html)
    assert "<script" not in pooling_html
    assert "@media print" in pooling_html


@slow
def test_layer_table_marks_the_moved_and_different(pooling_html):
    assert pooling_html.count('data-op="moved"') == 1  # the one layer out of the lesson's order
    assert "<mark>22 × 22 × 32</mark>" in pooling_html  # (None, 22, 22, 32) as a student reads it


@slow
def test_training_curves_and_digit3_bars_are_drawn(pooling_html):
    curves = re.findall(r'<polyline class="(ref|stu)" points="([^"]+)"', pooling_html)
    assert {c for c, _ in curves} == {"ref", "stu"}
    assert all(len(points.split()) > 10 for _, points in curves)
    assert pooling_html.count('<rect class="stu"') == 10
    assert "data:image/png;base64," in pooling_html


@slow
def test_cell_errors_are_listed_with_the_cell_number_jupyter_shows_and_the_line(graded):
    html = report.render_html(graded("never_compiled_with_dropout_changed"))  # fit fails: never compiled
    assert "In [11], line 1: ValueError" in html and "model.fit(train_images, train_labels, batch_size=64" in html


@slow
def test_problem_cards_say_where_in_the_students_code(graded):
    html = report.render_html(graded("batch_32"))
    assert "Where: <strong>In [11]</strong>, line 1: <code>model.fit(train_images, train_labels, batch_size=32" in html


@slow
def test_json_result_has_stable_ids_and_the_same_facts(graded, tmp_path):
    result = graded("no_softmax")
    _, path = report.write(result, tmp_path, "r")
    data = json.loads(path.read_text())
    assert data["schema"] == "cnn-autograder/result/1"
    assert [c["id"] for c in data["checks"]] == list(CHECK_IDS)
    for key in ("status", "score", "max_score", "percent", "submission", "layers", "settings", "training",
                "digit3", "cell_errors", "data_source", "isolation", "timings", "versions"):
        assert key in data
    assert data["submission"]["sha256"] and data["versions"]["keras"].startswith("3.")
    assert len(data["layers"]) == 8 and data["model"]["reference"]["total_params"] == 120_586
    assert data["training"]["student"]["heldout_accuracy"] < 0.3


@slow
def test_error_result_report_says_why(tmp_path):
    from autograder import grade

    bad = tmp_path / "x.ipynb"
    bad.write_text("{")
    html = report.render_html(grade(bad))
    assert "Not graded" in html and "not valid JSON" in html


@slow
def test_a_forgiven_slip_is_a_calm_note_never_an_error_box(graded):
    result = graded("lesson_copied_literally")  # test_acc, the lesson's own NameError: forgiven
    assert result.full_marks
    html = report.render_html(result)
    assert 'class="cell-error"' not in html and 'href="#errors"' not in html
    assert html.count('class="cell-note"') == 1 and "That slip is the lesson" in html


def _section(html: str, name: str) -> str:
    start = html.index(f'<section id="{name}">')
    return html[start:html.index("</section>", start)]


def _figures_in(text: str) -> list[str]:
    return re.findall(r"\d+%", re.sub(r"<[^>]+>", " ", text))


@slow
def test_every_training_figure_is_one_value_and_says_what_it_measures(graded):
    """#20 item 5: the text, the chart and the check's card quote the same computed values, each named."""
    data = report.to_dict(graded("no_softmax"))  # a slow starter: given more epochs before being judged
    q, rq = data["training"]["student"], data["training"]["reference"]
    assert q["more_epochs"] >= 1
    html = report.render_html(data)
    section = _section(html, "training")
    pct = report.words.percent
    said = dict(re.findall(r'data-figure="(brief|final)">(.*?)</p>', section))
    assert _figures_in(said["brief"]) == [pct(q["first_accuracy"]), pct(rq["heldout_accuracy"])]
    assert _figures_in(said["final"]) == [pct(q["heldout_accuracy"])] and "more epoch" in said["final"]
    # The card says the same figures, in the same order: after the brief training, the lesson's, after more.
    learns = next(c for c in data["checks"] if c["id"] == "train.learns")
    assert _figures_in(learns["message"]) == _figures_in(said["brief"]) + _figures_in(said["final"])
    # The chart's lines end at labelled values, the running training accuracy, named as such in the caption.
    ends = re.findall(r'<text class="end (stu|ref)"[^>]*data-figure="running_end">([^<]+)</text>', section)
    assert ends == [("stu", pct(q["curve"][-1][1])), ("ref", pct(rq["curve"][-1][1]))]
    caption = re.sub(r"<[^>]+>", " ", section[section.index("<figcaption>"):])
    assert f"{ends[0][1]} (yours) and {ends[1][1]} (the lesson's)" in caption and "running accuracy" in caption
    # No other percentage anywhere in the section: the axis, the text's and the chart's figures, nothing else.
    axis = {"0%", "25%", "50%", "75%", "100%"}
    named = set(_figures_in(said["brief"] + said["final"])) | {e for _, e in ends}
    assert set(_figures_in(section)) <= axis | named


@slow
def test_the_score_and_its_percentage_are_the_gradebooks(graded):
    """#20 item 5: the percentage at the top of the report is the result's own, rounded once."""
    result = graded("batch_32")
    html = report.render_html(result, "instructor")
    assert f'<span class="pct">{result.percent:g}%</span>' in html
    assert f'style="width: {result.percent}%"' in html


# ---------------------------------------------------------------- another lesson, from facts made by hand (fast)

def _fashion_result() -> GradeResult:
    """A Dense network on Fashion-MNIST graded from facts (test_checks_fast.dense_reference): one wrong output
    layer, no model.evaluate, no handwritten 3."""
    from test_checks_fast import FASHION, dense_reference

    reference, student = dense_reference(), dense_reference()
    student["model"]["layers"][2]["settings"]["activation"] = "relu"
    student["brief_training"]["heldout_accuracy"] = 0.1
    found = run_checks(student, reference, FASHION)
    return GradeResult(status="graded", reason=None, submission={"path": "Dense.ipynb", "name": "Dense.ipynb"},
                       score=sum(c.points for c in found), max_score=FASHION.max_points, checks=found,
                       facts=student, reference=reference,
                       versions={"grader": "1", "keras": "3", "tensorflow": "2", "python": "3.11"},
                       graded_at="2026-12-07T12:00:00+00:00",
                       assignment={"title": FASHION.title, "notebook": "Dense.ipynb", "dataset": FASHION.dataset})


def _visible_text(html: str) -> str:
    """What a reader sees: no style sheet, no tags, and not the grader's own name (cnn-autograder)."""
    text = re.sub(r"<style>.*?</style>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", text).replace("cnn-autograder", "")


def test_another_lessons_report_names_it_and_never_the_cnn_lesson():
    data = report.to_dict(_fashion_result())
    assert data["assignment"]["title"] == "Dense on Fashion-MNIST"
    html = report.render_html(data, "instructor")
    text = _visible_text(html)
    assert "Dense on Fashion-MNIST" in text and "on Fashion-MNIST" in text
    assert not re.search(r"MNIST|\bCNN\b|digit|convolution", text.replace("Fashion-MNIST", ""), re.I), \
        re.findall(r".{60}(?:MNIST|CNN|digit|convolution).{60}", text.replace("Fashion-MNIST", ""), re.I | re.S)
    assert 'id="digit3"' not in html and 'href="#digit3"' not in html
    assert "height × width × channels" not in text  # a Dense network's shapes are not pictures
    assert "model.evaluate" not in text  # the lesson never calls it


def test_another_lessons_settings_table_has_its_own_rows():
    rows = {row["setting"]: row for row in report.to_dict(_fashion_result())["settings"]}
    assert "evaluate on" not in rows and "validation_data" not in rows  # no model.evaluate; validated on a split
    assert rows["validation_split"]["reference"] == "0.2" and rows["validation_split"]["same"]
