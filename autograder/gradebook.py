"""What a class's results become: the class summary (rows, the per-check table, mixed versions), gradebook.csv,
the LMS's import file and similarity.csv. Plain functions over result dicts, shared by the batch and the
service's classbook."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from . import lms, report, similarity
from .classfolder import Entry
from .errors import SetupError
from .rubric import Rubric

Row = dict[str, Any]  # one submission's row of the class summary
Result = dict[str, Any]  # a grade's JSON result (report.to_dict)


def summarise(entries: list[Entry], results: dict[Entry, Result], people: dict[str, dict[str, str]],
              rubric: Rubric) -> dict[str, Any]:
    """The class summary: a row per entry (graded or not), the per-check table, the columns, the figures."""
    rows: list[Row] = []
    for entry in entries:
        r = results.get(entry)
        who = entry.identity
        person = lms.lookup(people, entry.student, who.lms_id)
        row: Row = {"student": entry.student, "name": person.get("name", ""), "file": entry.file,
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
                "max_points": rubric.checks[c].points} for c in rubric.check_ids]  # points: the class page sorts by them
    return {"rows": rows, "checks": check_table(rows, rubric), "columns": columns, "similar": [], "graded": len(scores),
            "mixed_versions": mixed_versions(entries, results),
            "errors": sum(row["status"] == "error" for row in rows), "total": len(rows),
            "max_score": rubric.max_points, "scores": scores,
            "assignment": {"title": rubric.title, "notebook": rubric.notebook, "dataset": rubric.dataset},
            "mean": round(sum(scores) / len(scores), 1) if scores else None}


# What, when it differs between two results of one class, can make the same notebook's grade differ.
GRADE_VERSIONS = ("grader", "tensorflow", "keras", "numpy", "machine")


def mixed_versions(entries: list[Entry], results: dict[Entry, Result]) -> list[dict[str, Any]]:
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


def _comment(result: Result) -> str:
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


def check_table(rows: list[Row], rubric: Rubric) -> list[dict[str, Any]]:
    """Per scored check: pass rate and points lost across the class, the wrong values grouped, the
    students under each; the check that cost the class most first."""
    table = []
    for check_id in rubric.check_ids:
        rule = rubric.checks[check_id]
        if rule.points <= 0:
            continue  # information only: never a class problem
        graded = [row for row in rows if check_id in row["checks"]]
        if not graded:
            continue
        groups: dict[str, dict[str, Any]] = {}
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
    table.sort(key=lambda t: (-t["points_lost"], t["pass_rate"], rubric.check_ids.index(t["check"])))
    return table


GRADEBOOK_COLUMNS = ["student", "name", "file", "lms", "lms_id", "late", "score", "max_score", "percent", "status",
                     "reason"]


def _gradebook_cell(check: dict[str, Any] | None) -> str | float:
    """The points earned; for a check worth no points, what it found ("info: 8"), never a 0 that reads as a fail."""
    if check is None:
        return ""
    return f"info: {check['found']}" if check["max_points"] == 0 else check["points"]


def check_columns(summary: dict[str, Any]) -> list[str]:
    """The assignment's checks, in the order gradebook.csv gives them a column each."""
    return [column["id"] for column in summary["columns"]]


def gradebook_row(row: Row, check_ids: list[str]) -> list[Any]:
    """A summary row as gradebook.csv has it: GRADEBOOK_COLUMNS, then each check's points."""
    return ([row[c] if row[c] is not None else "" for c in GRADEBOOK_COLUMNS]
            + [_gradebook_cell(row["checks"].get(c)) for c in check_ids])


def write_gradebook(path: Path, summary: dict[str, Any]) -> None:
    check_ids = check_columns(summary)
    rows = [gradebook_row(row, check_ids) for row in summary["rows"]]
    report.atomic_write(path, report.csv_text(GRADEBOOK_COLUMNS + check_ids, rows))


def write_lms(out: Path, summary: dict[str, Any], system: str, column: str, scale: lms.Scale) -> tuple[Path, list[str]]:
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


def similar_pairs(entries: list[Entry], prints: dict[Entry, similarity.Print], summary: dict[str, Any],
                  threshold: float) -> list[dict[str, Any]]:
    """The class's pairs above the threshold, with both students' rows (names and report links)."""
    rows = {row["file"]: row for row in summary["rows"]}  # a file is one submission; a student may have two
    keyed = {entry.file: prints[entry] for entry in entries if entry in prints}
    return [{**dataclasses.asdict(pair), "a_row": rows[pair.a], "b_row": rows[pair.b]}
            for pair in similarity.compare(keyed, threshold)]


SIMILARITY_COLUMNS = ["student_a", "file_a", "student_b", "file_b", "score", "code_score", "shared_mistakes",
                      "shared_names", "shared_lines"]


def write_similarity(path: Path, pairs: list[dict[str, Any]]) -> None:
    """similarity.csv: the listed pairs, for the instructor's records."""
    rows = [[p["a_row"]["student"], p["a_row"]["file"], p["b_row"]["student"], p["b_row"]["file"], p["score"],
             p["code_score"], "; ".join(f"{title}: {found}" for _, title, found in p["mistakes"]),
             ", ".join(p["names"]), len(p["lines"])] for p in pairs]
    report.atomic_write(path, report.csv_text(SIMILARITY_COLUMNS, rows))
