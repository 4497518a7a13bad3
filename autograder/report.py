"""Renderers: the JSON result and the self-contained HTML report. They only read a GradeResult."""

from __future__ import annotations

import base64
import csv
import dataclasses
import functools
import io
import json
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import jinja2

from . import alignment as alignment_mod
from . import datasets, locations, words
from .facts import CompileFacts, Data, Evaluate, Facts
from .results import CNN_LESSON, PROBLEMS, GradeResult, percent_of

SCHEMA = "cnn-autograder/result/1"


def _graded_facts(result: GradeResult) -> tuple[Facts, Facts]:
    """(the student's facts, the reference's) of a graded result, which always carries both."""
    if result.facts is None or result.reference is None:
        raise ValueError(f"a {result.status} result carries no facts to report")
    return result.facts, result.reference


T = TypeVar("T")


def _lesson(value: T | None, what: str) -> T:
    """A part of the reference's facts: always there (pipeline.reference_facts refuses a reference without a
    model, its compile, fit and evaluate), said plainly if a hand-made result lacks it."""
    if value is None:
        raise ValueError(f"the reference's facts have no {what}")
    return value


def _layer_rows(result: GradeResult) -> list[dict[str, Any]]:
    """The side-by-side table: lesson layer, student layer, and what differs."""
    facts, reference = _graded_facts(result)
    ref, stu = _lesson(reference["model"], "model"), _lesson(facts["model"], "model")
    rows = []
    alignment = facts.get("alignment") or alignment_mod.align_layers(ref, stu)
    for row in alignment:
        r = ref["layers"][row["ref"]] if row["ref"] is not None else None
        s = stu["layers"][row["stu"]] if row["stu"] is not None else None
        differs = []
        if r and s:
            differs = [k for k in r["settings"] if r["settings"][k] != s["settings"].get(k)]
            differs += [k for k in ("output_shape", "params") if r[k] != s[k]]
        rows.append({"op": row["op"], "reference": r, "student": s, "differs": differs,
                     "ref_index": row["ref"], "stu_index": row["stu"]})
    return rows


def _setting(name: str, ref: Any, stu: Any) -> dict[str, Any]:
    return {"setting": name, "reference": ref, "student": stu}


def _describe_data(d: Data | None) -> str:
    """'the test images (10,000 × 28 × 28 × 1) and the test labels (10,000 × 10)'."""
    if not d:
        return "—"
    if d.get("kind") == "tuple":
        return " and ".join(_describe_data(i) for i in d["items"])
    kind: str = d.get("kind", "—")  # "tuple", "array", "dataset", "generator" (facts.py, a "data" value)
    if kind != "array":
        return kind
    splits: dict[str | None, str] = {"test": "the test", "train": "the training"}
    split = splits.get(d.get("split"), "other")
    noun = words.data_noun(d["shape"])
    return f"{split} {noun} ({' × '.join(f'{n:,}' for n in d['shape'])})"


def _settings_rows(result: GradeResult) -> list[dict[str, Any]]:
    s, r = _graded_facts(result)
    rows = []
    sc: CompileFacts | dict[str, Any] = s["compile"] or {}  # the student's: any part may be missing
    rc = _lesson(r["compile"], "compile")
    rows.append(_setting("loss", _lesson(rc["loss"], "loss")["written"], (sc.get("loss") or {}).get("written", "—")))
    rows.append(_setting("optimizer", _lesson(rc["optimizer"], "optimizer")["written"],
                         (sc.get("optimizer") or {}).get("written", "—")))
    rows.append(_setting("metrics", ", ".join(rc["metrics_written"]), ", ".join(sc.get("metrics_written", [])) or "—"))
    sf, rf = s.get("fit") or {}, _lesson(r["fit"], "fit")
    for key in ("batch_size", "epochs", "shuffle"):
        rows.append(_setting(key, rf[key], sf.get(key, "—") if sf else "—"))
    rows.append(_validation_row(sf, rf))
    se: Evaluate | dict[str, Any] = s["evaluate"] or {}
    re_ = r["evaluate"]  # a lesson without model.evaluate has no such row
    if re_:
        rows.append(_setting("evaluate on", _describe_data({"kind": "tuple", "items": [re_["x"], re_["y"]]}),
                             _describe_data({"kind": "tuple", "items": [se.get("x"), se.get("y")]}) if se else "—"))
    # "Same" is the check's verdict: 'acc' and 'accuracy' read differently but are the same. A row whose check
    # the assignment does not score is left out.
    verdicts = {c.id: c.status == "pass" for c in result.checks}
    kept = []
    for row, check_id in zip(rows, ("compile.loss", "compile.optimizer", "compile.metrics", "fit.batch_size",
                                    "fit.epochs", "fit.shuffle", "fit.validation_data", "evaluate.test_data")):
        if check_id in verdicts:
            kept.append({**row, "same": verdicts[check_id], "check": check_id})
    return kept


def _validation_row(sf: Any, rf: Any) -> dict[str, Any]:
    """How the network is validated while it trains: on data given to fit (validation_data), or on a part of the
    training images it holds back (validation_split), as the lesson does it."""
    if rf["validation_data"] is None and rf.get("validation_split"):
        split = sf.get("validation_split") if sf else None
        yours = _describe_data(sf.get("validation_data")) if sf and sf.get("validation_data") else \
            f"{split:g}" if split else "—"
        return _setting("validation_split", f"{rf['validation_split']:g}", yours)
    return _setting("validation_data", _describe_data(rf["validation_data"]),
                    _describe_data(sf.get("validation_data")) if sf else "—")


def to_dict(result: GradeResult) -> dict[str, Any]:
    """The JSON result: the same facts as the report, under stable ids (see README, 'The JSON result')."""
    out: dict[str, Any] = {
        "schema": SCHEMA,
        "status": result.status,
        "reason": result.reason,
        "submission": result.submission,
        "score": result.score,
        "max_score": result.max_score,
        "percent": result.percent,
        "checks": [dataclasses.asdict(c) for c in result.checks],
        "data_source": result.data_source,
        "isolation": result.isolation,
        "timings": result.timings,
        "versions": result.versions,
        "graded_at": result.graded_at,
        "due": result.due,
        "assignment": result.assignment,
    }
    if result.status == "graded":
        s, r = _graded_facts(result)
        out.update({
            "model": {"student": s["model"], "reference": r["model"], "found": s["model_found"]},
            "layers": _layer_rows(result) if s["model"] else [],
            "settings": _settings_rows(result),
            "training": {"student": s["brief_training"], "reference": r["brief_training"]},
            "digit3": {"student": s["digit3"], "reference": r["digit3"]},
            "cell_errors": s["execution"]["errors"],
            "execution": {k: v for k, v in s["execution"].items() if k != "errors"},
        })
    return out


# ---------------------------------------------------------------- what each reader sees

AUDIENCES = ("student", "instructor")


def released(due: str, now: datetime | None = None) -> bool:
    """Has the rubric's due date passed? (A due without a time zone is the grading machine's local time.)"""
    if not due:
        return False
    when = datetime.fromisoformat(due)
    now = now or (datetime.now(when.tzinfo) if when.tzinfo else datetime.now())
    return now >= when


def _shown(check: dict[str, Any], audience: str, due: str) -> bool:
    visibility = check.get("visibility", "visible")
    return audience == "instructor" or visibility == "visible" or (visibility == "after_due_date" and released(due))


def without_expected(check: dict[str, Any]) -> dict[str, Any]:
    """A check whose expected value the rubric keeps from students: the verdict, the student's own value,
    where, and the lesson step; not the message, details or tip, which quote the expected value."""
    return {**check, "expected": "", "details": [], "hint": "",
            "message": f"Yours: {check['found']}. Compare it with the lesson step below." if check["found"] else
            "Compare your notebook with the lesson step below."}


def assignment_words(data: dict[str, Any]) -> dict[str, Any]:
    """The lesson a result was graded for, as the report names it: its title, notebook and dataset (the CNN
    lesson for a result stored before results said so)."""
    about = {**CNN_LESSON, **(data.get("assignment") or {})}
    dataset = datasets.DATASETS.get(about["dataset"], datasets.DATASETS["mnist"])
    return {**about, "dataset_title": dataset.title, "train_size": dataset.train_size, "test_size": dataset.test_size}


def view(data: dict[str, Any], audience: str = "student") -> dict[str, Any]:
    """What one reader sees of a result: the checks in the order to act on them, and what is held back.

    student: the rubric's visibility is honoured (hidden checks are left out, expected values kept back
    where it says so); instructor: everything, with the grading details open."""
    if audience not in AUDIENCES:
        raise ValueError(f"audience must be one of {AUDIENCES}")
    due = data.get("due", "")
    order = {c["id"]: i for i, c in enumerate(data["checks"])}
    shown: list[dict[str, Any]] = []
    held: list[dict[str, Any]] = []
    for c in data["checks"]:
        if not _shown(c, audience, due):
            held.append(c)
        else:
            shown.append(without_expected(c) if audience == "student" and not c.get("show_expected", True) else c)
    scored = [c for c in shown if c["max_points"] > 0]
    score, max_score = sum(c["points"] for c in scored), sum(c["max_points"] for c in scored)
    # By points lost; a check that another failed check explains comes after its causes.
    problems = sorted((c for c in scored if c["status"] in PROBLEMS),
                      key=lambda c: (bool(c.get("caused_by")), -(c["max_points"] - c["points"]), order[c["id"]]))
    by_id = {c["id"]: c for c in shown}
    full = {i for i, c in by_id.items() if audience == "instructor" or c.get("show_expected", True)}
    return {
        "audience": audience,
        "problems": problems,
        "not_checked": [c for c in scored if c["status"] == "skipped"],
        "passed": [c for c in scored if c["status"] == "pass"],
        "info": [c for c in shown if c["max_points"] == 0],
        "held": {"count": len(held), "points": sum(c["max_points"] for c in held),
                 "after_due": [c for c in held if c.get("visibility") == "after_due_date"], "due": due},
        # The score, its percentage and the bar: one computation, the same rounding as the gradebook's.
        "score": score, "max_score": max_score, "percent": percent_of(score, max_score),
        "training": training_figures(data.get("training")),
        # The side-by-side sections quote the lesson's values: shown only where their checks are.
        "show_layers": all(i in full for i in ("layers.order", "layers.config", "layers.shapes")),
        "show_training": "train.learns" in by_id, "show_digit3": "predict.digit3" in by_id,
        "expected_shown": full,
        "assignment": assignment_words(data),
        "evaluates": any(row.get("check") == "evaluate.test_data" for row in data.get("settings") or []),
        # model.summary()'s shapes are pictures (height × width × channels) where the lesson's layers keep them so
        "picture_shapes": any(len(layer.get("output_shape") or []) >= 4
                              for layer in ((data.get("model") or {}).get("reference") or {}).get("layers", [])),
    }


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet read a cell as a formula


def _inert(cell: object) -> object:
    """A text cell a spreadsheet shows as text: one starting like a formula gets a leading apostrophe, as
    OWASP's CSV-injection guidance recommends (a name "=HYPERLINK(...)" never runs when the gradebook opens).
    Numbers stay numbers."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        try:
            float(cell)
            return cell
        except ValueError:
            return "'" + cell
    return cell


def _figures(q: dict[str, Any] | None) -> dict[str, Any] | None:
    """One network's brief-training figures, each a single value that the text, the table and the chart quote."""
    if not q or "heldout_accuracy" not in q:
        return None
    curve = [row[1] for row in q.get("curve") or [] if row[1] == row[1]]  # row[1] == row[1] skips NaN
    return {"brief": q.get("first_accuracy", q["heldout_accuracy"]),  # on new images, after the same brief training
            "more_epochs": q.get("more_epochs", 0), "final": q["heldout_accuracy"],  # after the extra epochs, if any
            "running_end": curve[-1] if curve else None}  # where the chart's line ends: training images, running


def training_figures(training: dict[str, Any] | None) -> dict[str, Any] | None:
    """The Brief training section's numbers: yours and the lesson's, or None when yours was not trained."""
    if not training or not _figures(training.get("student")) or not _figures(training.get("reference")):
        return None
    return {"student": _figures(training["student"]), "reference": _figures(training["reference"])}


def csv_text(header: list[str], rows: list[list[Any]]) -> str:
    """A CSV file's text: the gradebook, similarity.csv, the LMS grade files; no cell runs as a formula."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([_inert(cell) for cell in header])
    writer.writerows([_inert(cell) for cell in row] for row in rows)
    return buffer.getvalue()


def atomic_write(path: Path, text: str) -> None:
    """Write via a temporary file and a rename, so no reader ever sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, 0o644)  # mkstemp's 0600 would keep a graded/ folder on a shared drive unreadable to others
    # backslashreplace: a file name that is not valid UTF-8 is shown escaped, never a crash
    with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as f:
        f.write(text)
    os.replace(tmp, path)


# ---------------------------------------------------------------- HTML

def _curve_points(curve: list[list[float]], width: int, height: int, index: int) -> str:
    """SVG polyline points for one column of the per-batch curve (0: loss, 1: accuracy)."""
    values = [row[index] for row in curve]
    if not values:
        return ""
    step = width / max(1, len(values) - 1)
    return " ".join(f"{i * step:.1f},{height - max(0.0, min(1.0, v)) * height:.1f}"
                    for i, v in enumerate(values) if v == v)  # v == v skips NaN


def _end_labels(ends: list[float | None], height: int, gap: int = 15) -> list[float]:
    """The y of each line's end label (a line ends at its value): kept `gap` apart so that two close
    values stay readable, the lower one moved down."""
    ys = [height - max(0.0, min(1.0, v if v is not None else 0.0)) * height + 4 for v in ends]
    if len(ys) == 2 and abs(ys[0] - ys[1]) < gap:
        low, high = (0, 1) if ys[0] >= ys[1] else (1, 0)
        middle = (ys[0] + ys[1]) / 2
        ys[low], ys[high] = middle + gap / 2, middle - gap / 2
    return ys


def _when(iso: str) -> str:
    """'27 November 2026, 12:00 UTC' from an ISO timestamp."""
    try:
        moment = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return iso or "—"
    zone = " UTC" if moment.utcoffset() is not None and not moment.utcoffset() else ""
    return f"{moment.day} {moment:%B %Y, %H:%M}{zone}"


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    """Built once per process: a batch renders two reports per submission with the same templates."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(locations.TEMPLATES),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), trim_blocks=True,
                             lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters["pct"] = words.percent
    env.filters["shape"] = words.shape
    env.filters["num"] = lambda n: f"{n:,}"
    env.filters["setting"] = words.show
    env.filters["when"] = _when
    env.globals["curve_points"] = _curve_points
    env.globals["end_labels"] = _end_labels
    env.globals["counted"] = words.counted
    env.globals["bar_heights"] = _bar_heights
    return env


def _bar_heights(outputs: list[float] | None, probabilities: bool) -> list[float]:
    """0..1 for each digit's bar: probabilities as they are; other outputs (no softmax) relative to
    their own range, so the largest is the tallest bar and the guess is visible."""
    if not outputs:
        return [0.0] * 10
    if probabilities:
        return [max(0.0, min(1.0, float(v))) for v in outputs]
    low, high = min(outputs), max(outputs)
    return [(v - low) / (high - low) if high > low else 0.0 for v in outputs]


@functools.lru_cache(maxsize=1)
def _digit3_png() -> str:
    return "data:image/png;base64," + base64.b64encode(locations.HANDWRITTEN_3.read_bytes()).decode()


def render_html(result: GradeResult | dict[str, Any], audience: str = "student") -> str:
    """The report for a student (the rubric's visibility honoured) or for the instructor (everything),
    from a GradeResult or from its JSON result (as stored by a batch)."""
    data = to_dict(result) if isinstance(result, GradeResult) else result
    if data.get("cell_errors"):  # a result stored before errors carried "forgiven"
        data = {**data, "cell_errors": [{"forgiven": "", **e} for e in data["cell_errors"]]}
    return _environment().get_template("report.html.j2").render(r=data, v=view(data, audience), digit3_png=_digit3_png())


def write_dict(data: dict[str, Any], out_dir: Path, stem: str, instructor_copy: bool = False) -> tuple[Path, Path]:
    """Write STEM.report.html (the student's) and STEM.result.json (everything) into out_dir, and
    STEM.instructor.html when asked; return the report's and the result's paths."""
    html, js = Path(out_dir) / f"{stem}.report.html", Path(out_dir) / f"{stem}.result.json"
    atomic_write(js, json.dumps(data, indent=2, default=str))
    atomic_write(html, render_html(data))
    if instructor_copy:
        atomic_write(Path(out_dir) / f"{stem}.instructor.html", render_html(data, "instructor"))
    return html, js


def write(result: GradeResult, out_dir: Path, stem: str, instructor_copy: bool = False) -> tuple[Path, Path]:
    """Write STEM.report.html and STEM.result.json into out_dir; return both paths."""
    return write_dict(to_dict(result), out_dir, stem, instructor_copy)


def _histogram(percents: list[float]) -> list[dict[str, int]]:
    """Ten bins of 10 points each (100 goes in the last)."""
    bins = [0] * 10
    for p in percents:
        bins[min(9, int(p // 10))] += 1
    return [{"low": 10 * i, "high": 10 * i + 10, "count": n} for i, n in enumerate(bins)]


def render_class(summary: dict[str, Any]) -> str:
    """index.html: the class at a glance."""
    return _environment().get_template("class.html.j2").render(
        s=summary, histogram=_histogram(summary["scores"]), columns=summary["columns"], a=assignment_words(summary))
