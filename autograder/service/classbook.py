"""The class as the batch shows it (summary, gradebook.csv columns, LMS files), built from the database:
each student's latest and best graded submission, read back from the results the grader stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import gradebook, lms
from ..classfolder import Entry
from ..rubric import Rubric
from .store import ERROR, GRADED, STUDENT, Person, Submission

LMS_FILES = {"canvas": "canvas.csv", "moodle": "moodle.csv"}


def _latest(submissions: list[Submission]) -> Submission | None:
    done = [s for s in submissions if s.status in (GRADED, ERROR)]
    return max(done, key=lambda s: s.id, default=None)


def _best(submissions: list[Submission]) -> Submission | None:
    graded = [s for s in submissions if s.status == GRADED]
    return max(graded, key=lambda s: (s.score or 0, s.id), default=None) or _latest(submissions)


def chosen(session: Session, which: str) -> list[tuple[Person, Submission | None]]:
    """Every student on the roster with their latest (or best) finished submission, None when none is."""
    pick = _latest if which == "latest" else _best
    people = session.scalars(select(Person).where(Person.role == STUDENT).order_by(Person.id)).all()
    mine: dict[str, list[Submission]] = {p.id: [] for p in people}
    for s in session.scalars(select(Submission)):
        mine.setdefault(s.student_id, []).append(s)
    return [(p, pick(mine[p.id])) for p in people]


def summary(folder: Path, pairs: list[tuple[Person, Submission | None]], rubric: Rubric) -> dict[str, Any]:
    """gradebook.summarise over these submissions; each row's links point at the service's own reports."""
    entries: list[Entry] = []
    results: dict[Entry, dict[str, Any]] = {}
    people: dict[str, dict[str, str]] = {}
    ids: dict[str, int | None] = {}
    for person, sub in pairs:
        moodle = person.roster.get("moodle_participant", "")
        entry = Entry(student=person.id, path=Path(sub.filename if sub else ""),
                            file=sub.filename if sub else "", stem=sub.report or "" if sub else "",
                            identity=lms.Identity(person.id, "moodle" if moodle else "", moodle))
        entries.append(entry)
        people[person.id] = {**person.roster, "name": person.name}
        ids[person.id] = sub.id if sub else None
        if sub and sub.report:
            results[entry] = json.loads((Path(folder) / "reports" / f"{sub.report}.result.json").read_text())
    made = gradebook.summarise(entries, results, people, rubric)
    for row in made["rows"]:
        sid = ids[row["student"]]
        row["submission"] = sid
        row["report"] = f"/reports/{sid}" if sid else ""
        row["instructor_report"] = f"/reports/{sid}?for=instructor" if sid else ""
    made["checks"] = gradebook.check_table(made["rows"], rubric)  # its links, too, are the service's
    return made


def write_files(folder: Path, made: dict[str, Any], column: str, scale: lms.Scale) -> Path:
    """gradebook.csv and the LMS files in DIR/class, written as the batch writes them; returns the folder."""
    out = Path(folder) / "class"
    gradebook.write_gradebook(out / "gradebook.csv", made)
    for system in LMS_FILES:
        gradebook.write_lms(out, made, system, column, scale)
    return out
