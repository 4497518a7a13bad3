"""The HTML report and the JSON result say the same things, self-contained."""

from __future__ import annotations

import json
import re

import pytest

from autograder import report
from autograder.checks import CHECK_IDS

pytestmark = pytest.mark.slow  # real notebooks in real kernels


@pytest.fixture(scope="module")
def pooling_html(graded):
    return report.render_html(graded("pooling_after_the_last_conv"))


def test_report_shows_every_check_with_its_verdict(graded, pooling_html):
    for c in graded("pooling_after_the_last_conv").checks:
        shown = "info" if c.max_points == 0 else c.status  # a check worth nothing is information
        assert f'data-check="{c.id}" data-status="{shown}"' in pooling_html
    assert "MaxPooling2D is in the wrong place" in pooling_html
    assert "Lesson step:" in pooling_html


def test_report_is_self_contained(pooling_html):
    assert not re.search(r"""(src|href)=["'](https?:)?//""", pooling_html)
    assert "<script" not in pooling_html
    assert "@media print" in pooling_html


def test_layer_table_marks_the_moved_and_different(pooling_html):
    assert pooling_html.count('data-op="moved"') == 1  # the one layer out of the lesson's order
    assert "<mark>22 × 22 × 32</mark>" in pooling_html  # (None, 22, 22, 32) as a student reads it


def test_training_curves_and_digit3_bars_are_drawn(pooling_html):
    curves = re.findall(r'<polyline class="(ref|stu)" points="([^"]+)"', pooling_html)
    assert {c for c, _ in curves} == {"ref", "stu"}
    assert all(len(points.split()) > 10 for _, points in curves)
    assert pooling_html.count('<rect class="stu"') == 10
    assert "data:image/png;base64," in pooling_html


def test_cell_errors_are_listed_with_the_cell_number_jupyter_shows_and_the_line(graded):
    html = report.render_html(graded("never_compiled_with_dropout_changed"))  # fit fails: never compiled
    assert "In [11], line 1: ValueError" in html and "model.fit(train_images, train_labels, batch_size=64" in html


def test_problem_cards_say_where_in_the_students_code(graded):
    html = report.render_html(graded("batch_32"))
    assert "Where: <strong>In [11]</strong>, line 1: <code>model.fit(train_images, train_labels, batch_size=32" in html


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


def test_error_result_report_says_why(tmp_path):
    from autograder import grade

    bad = tmp_path / "x.ipynb"
    bad.write_text("{")
    html = report.render_html(grade(bad))
    assert "Not graded" in html and "not valid JSON" in html


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


def test_the_score_and_its_percentage_are_the_gradebooks(graded):
    """#20 item 5: the percentage at the top of the report is the result's own, rounded once."""
    result = graded("batch_32")
    html = report.render_html(result, "instructor")
    assert f'<span class="pct">{result.percent:g}%</span>' in html
    assert f'style="width: {result.percent}%"' in html
