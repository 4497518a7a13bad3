"""Renderers: the JSON result and the self-contained HTML report. They only read a GradeResult."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import tempfile
from pathlib import Path

import jinja2

from . import checks, locations
from .pipeline import GradeResult
from .rubric import CHECK_IDS

SCHEMA = "cnn-autograder/result/1"


def _layer_rows(result: GradeResult) -> list[dict]:
    """The side-by-side table: lesson layer, student layer, and what differs."""
    ref, stu = result.reference["model"], result.facts["model"]
    rows = []
    for row in checks.align_layers(ref, stu):
        r = ref["layers"][row["ref"]] if row["ref"] is not None else None
        s = stu["layers"][row["stu"]] if row["stu"] is not None else None
        differs = []
        if r and s:
            differs = [k for k in r["settings"] if r["settings"][k] != s["settings"].get(k)]
            differs += [k for k in ("output_shape", "params") if r[k] != s[k]]
        rows.append({"op": row["op"], "reference": r, "student": s, "differs": differs,
                     "ref_index": row["ref"], "stu_index": row["stu"]})
    return rows


def _setting(name: str, ref, stu) -> dict:
    return {"setting": name, "reference": ref, "student": stu}


def _describe_data(d: dict | None) -> str:
    if not d:
        return "—"
    if d.get("kind") == "tuple":
        return "(" + ", ".join(_describe_data(i) for i in d["items"]) + ")"
    if d.get("kind") != "array":
        return d.get("kind", "—")
    split = {"test": "test", "train": "training"}.get(d.get("split"), "other")
    return f"{split} data {tuple(d['shape'])}"


def _settings_rows(result: GradeResult) -> list[dict]:
    s, r = result.facts, result.reference
    rows = []
    sc, rc = s.get("compile") or {}, r["compile"]
    rows.append(_setting("loss", rc["loss"]["written"], (sc.get("loss") or {}).get("written", "—")))
    rows.append(_setting("optimizer", rc["optimizer"]["written"], (sc.get("optimizer") or {}).get("written", "—")))
    rows.append(_setting("metrics", ", ".join(rc["metrics_written"]), ", ".join(sc.get("metrics_written", [])) or "—"))
    sf, rf = s.get("fit") or {}, r["fit"]
    for key in ("batch_size", "epochs", "shuffle"):
        rows.append(_setting(key, rf[key], sf.get(key, "—") if sf else "—"))
    rows.append(_setting("validation_data", _describe_data(rf["validation_data"]),
                         _describe_data(sf.get("validation_data")) if sf else "—"))
    se, re_ = s.get("evaluate") or {}, r["evaluate"]
    rows.append(_setting("evaluate on", _describe_data({"kind": "tuple", "items": [re_["x"], re_["y"]]}),
                         _describe_data({"kind": "tuple", "items": [se.get("x"), se.get("y")]}) if se else "—"))
    # "Same" is the check's verdict: 'acc' and 'accuracy' read differently but are the same.
    for row, check_id in zip(rows, ("compile.loss", "compile.optimizer", "compile.metrics", "fit.batch_size",
                                    "fit.epochs", "fit.shuffle", "fit.validation_data", "evaluate.test_data")):
        row["same"] = next(c.status == "pass" for c in result.checks if c.id == check_id)
    return rows


def to_dict(result: GradeResult) -> dict:
    """The JSON result: the same facts as the report, under stable ids (see README, 'The JSON result')."""
    out = {
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
    }
    if result.status == "graded":
        s, r = result.facts, result.reference
        out.update({
            "model": {"student": s["model"], "reference": r["model"], "found": s["model_found"]},
            "layers": _layer_rows(result) if s["model"] else [],
            "settings": _settings_rows(result),
            "training": {"student": s["quick_train"], "reference": r["quick_train"]},
            "digit3": {"student": s["digit3"], "reference": r["digit3"]},
            "cell_errors": s["execution"]["errors"],
            "execution": {k: v for k, v in s["execution"].items() if k != "errors"},
        })
    return out


def atomic_write(path: Path, text: str) -> None:
    """Write via a temporary file and a rename, so no reader ever sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    # backslashreplace: a file name that is not valid UTF-8 is shown escaped, never a crash
    with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as f:
        f.write(text)
    os.replace(tmp, path)


# ---------------------------------------------------------------- HTML

def _curve_points(curve: list, width: int, height: int, index: int) -> str:
    """SVG polyline points for one column of the per-batch curve (0: loss, 1: accuracy)."""
    values = [row[index] for row in curve]
    if not values:
        return ""
    step = width / max(1, len(values) - 1)
    return " ".join(f"{i * step:.1f},{height - max(0.0, min(1.0, v)) * height:.1f}"
                    for i, v in enumerate(values) if v == v)  # v == v skips NaN


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(locations.TEMPLATES),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), trim_blocks=True,
                             lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters["pct"] = lambda x: f"{x * 100:.0f}%"
    env.filters["shape"] = lambda s: "(" + ", ".join("None" if d is None else str(d) for d in s) + ")" if s else "—"
    env.filters["num"] = lambda n: f"{n:,}"
    env.filters["setting"] = lambda v: "(" + ", ".join(map(str, v)) + ")" if isinstance(v, list) else repr(v) if isinstance(v, str) else str(v)
    env.globals["curve_points"] = _curve_points
    return env


def render_html(result: GradeResult | dict) -> str:
    """The report, from a GradeResult or from its JSON result (as stored by a batch)."""
    data = to_dict(result) if isinstance(result, GradeResult) else result
    digit3 = "data:image/png;base64," + base64.b64encode(locations.HANDWRITTEN_3.read_bytes()).decode()
    counts = {status: sum(c["status"] == status for c in data["checks"]) for status in checks.STATUSES}
    return _environment().get_template("report.html.j2").render(r=data, counts=counts, digit3_png=digit3)


def write_dict(data: dict, out_dir: Path, stem: str) -> tuple[Path, Path]:
    """Write STEM.report.html and STEM.result.json into out_dir from a JSON result."""
    html, js = Path(out_dir) / f"{stem}.report.html", Path(out_dir) / f"{stem}.result.json"
    atomic_write(js, json.dumps(data, indent=2, default=str))
    atomic_write(html, render_html(data))
    return html, js


def write(result: GradeResult, out_dir: Path, stem: str) -> tuple[Path, Path]:
    """Write STEM.report.html and STEM.result.json into out_dir; return both paths."""
    return write_dict(to_dict(result), out_dir, stem)


def write_json(result: GradeResult, path: Path) -> None:
    atomic_write(path, json.dumps(to_dict(result), indent=2, default=str))


def _histogram(percents: list[float]) -> list[dict]:
    """Ten bins of 10 points each (100 goes in the last)."""
    bins = [0] * 10
    for p in percents:
        bins[min(9, int(p // 10))] += 1
    return [{"low": 10 * i, "high": 10 * i + 10, "count": n} for i, n in enumerate(bins)]


def render_class(summary: dict) -> str:
    """index.html: the class at a glance."""
    return _environment().get_template("class.html.j2").render(
        s=summary, histogram=_histogram(summary["scores"]), check_ids=list(CHECK_IDS))
