"""Learning-management systems: who a submission is from (read from the names LMS downloads give
files), the roster, and grade files each LMS imports as they are. The file names below are the CNN lesson's
(CNN.ipynb); another assignment's notebook has its own name in the same places.

- Canvas, "Download Submissions": smithjane_LATE_12345_67890_CNN.ipynb (name, LATE when late, Canvas user
  id, submission id, file). Its gradebook import reads the identity columns Student, ID, SIS User ID,
  SIS Login ID, Section and treats every other column as an assignment, named "Assignment (id)".
- Moodle, "Download all submissions": Jane Smith_12345_assignsubmission_file_/CNN.ipynb, where 12345 is
  the participant number. The assignment's offline grading worksheet is matched on its Identifier
  column ("Participant 12345") and needs Grade and "Last modified (grade)"; "Feedback comments" is
  imported when feedback comments are on.
- Google Classroom: Jane Smith - CNN.ipynb.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from .errors import SetupError
from .report import csv_text

CANVAS = re.compile(r"^(?P<student>[a-z0-9-]+?)(?P<late>_late)?_(?P<uid>\d+)_\d+_.+$", re.IGNORECASE)
MOODLE = re.compile(r"^(?P<student>.+?)_(?P<participant>\d+)_assignsubmission_\w+_?$")
CLASSROOM = re.compile(r"^(?P<student>.+?) - .+$")


def own_name(notebook: str) -> re.Pattern[str]:
    """The assignment's notebook name after a student's in a flat folder: alice_CNN.ipynb, alice-cnn.ipynb."""
    return re.compile(r"[ _-]+" + re.escape(Path(notebook).stem) + "$", re.IGNORECASE)


SYSTEMS = ("canvas", "moodle")
# A roster student: {"name", "sis_user_id", "sis_login_id", "section", "email", "canvas_id",
# "moodle_participant"}, each a string ("" when the roster has no such column).
Entry = dict[str, str]
# A row of the roster's CSV as csv.DictReader gives it: a short row's missing cells are None.
Row = dict[str, str | None]


@dataclass(frozen=True)
class Identity:
    """Who handed a file in, as its name says."""

    student: str  # the name or id the file or folder gives
    system: str = ""  # "canvas", "moodle", "classroom" or "" (a plain folder)
    lms_id: str = ""  # Canvas user id or Moodle participant number
    late: bool = False  # Canvas marks late submissions in the file name


def identify(relative: Path, notebook: str = "CNN.ipynb") -> Identity:
    """The student (and what the LMS says of them) from a file's path inside the class folder; notebook: the
    file the assignment asks for (rubric.notebook), which a flat folder's names end with."""
    if len(relative.parts) > 1:
        folder = relative.parts[0]
        m = MOODLE.match(folder)
        return Identity(m["student"], "moodle", m["participant"]) if m else Identity(folder)
    m = CANVAS.match(relative.stem)
    if m:
        return Identity(m["student"], "canvas", m["uid"], bool(m["late"]))
    m = CLASSROOM.match(relative.stem)
    if m:
        return Identity(m["student"], "classroom")
    return Identity(own_name(notebook).sub("", relative.stem) or relative.stem)  # alice_CNN.ipynb is alice's


# ---------------------------------------------------------------- the roster

NAME_COLUMNS = ("name", "full name", "student name", "student")


def _roster_rows(path: Path) -> list[Row]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SetupError(path, f"cannot read the roster ({exc}); it must be a CSV with a header row") from None


def _is_points_row(row: Row) -> bool:
    """Canvas' gradebook export has a row "    Points Possible" under its header: not a student."""
    return (next(iter(row.values()), "") or "").strip().lower() == "points possible"


def read_roster(path: Path | None) -> dict[str, Entry]:
    """Each roster row under every id it gives (its first column, and Canvas' ID / SIS columns):
    {"name", "sis_user_id", "sis_login_id", "section", "email", "canvas_id"}. A CSV with a header row."""
    roster: dict[str, Entry] = {}
    for own_id, entry in roster_students(path):
        for key in {own_id, entry["canvas_id"], entry["sis_login_id"], entry["email"]}:
            if key and key not in roster:
                roster[key] = entry
    return roster


def roster_students(path: Path | None) -> list[tuple[str, Entry]]:
    """(the row's own id, its entry as read_roster gives it) for each student on the roster, in its order."""
    if path is None:
        return []
    rows = [row for row in _roster_rows(path) if not _is_points_row(row)]
    if not rows:
        return []
    columns = {c.strip().lower(): c for c in rows[0] if c}
    first = next(iter(rows[0]))
    name_col = next((columns[c] for c in NAME_COLUMNS if c in columns), list(rows[0])[-1])

    def get(row: Row, *names: str) -> str:
        return next(((row.get(columns[n]) or "").strip() for n in names if n in columns), "")

    students: list[tuple[str, Entry]] = []
    for row in rows:
        entry: Entry = {"name": (row.get(name_col) or "").strip(), "sis_user_id": get(row, "sis user id"),
                 "sis_login_id": get(row, "sis login id"), "section": get(row, "section"),
                 "email": get(row, "email", "email address"), "canvas_id": get(row, "id")}
        # Moodle's worksheet names a participant "Participant 12345"; its folder names give 12345.
        cell = (row.get(first) or "").strip()
        own_id = cell.removeprefix("Participant ")
        entry["moodle_participant"] = own_id if cell != own_id else ""
        students.append((own_id, entry))
    return students


def points_possible(path: Path | None, column: str) -> float | None:
    """The assignment's maximum as the LMS's own export gives it: the number on Canvas' "Points Possible"
    row under the assignment's column, or the "Maximum Grade" of Moodle's grading worksheet. None when the
    roster does not say."""
    if path is None:
        return None
    rows = _roster_rows(path)
    canvas = [row.get(column) for row in rows if _is_points_row(row)]
    moodle = [row.get("Maximum Grade") for row in rows if not _is_points_row(row)]
    for value in canvas + moodle:
        try:
            return float((value or "").strip())
        except ValueError:
            continue
    return None


def lookup(roster: dict[str, Entry], student: str, lms_id: str) -> Entry:
    return roster.get(lms_id) or roster.get(student) or {}


# ---------------------------------------------------------------- grade files

CANVAS_IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MOODLE_COLUMNS = ["Identifier", "Full name", "Grade", "Maximum Grade", "Last modified (grade)", "Feedback comments"]


@dataclass(frozen=True)
class Scale:
    """The rubric's points as the LMS's: a score out of the rubric's maximum becomes one out of the
    assignment's maximum in the LMS, rounded as the LMS rounds (two decimals, halves up)."""

    rubric_max: float
    lms_max: float

    def grade(self, score: float | None) -> str:
        if score is None:
            return ""
        scaled = Decimal(repr(score * self.lms_max / self.rubric_max)).quantize(Decimal("0.01"), ROUND_HALF_UP)
        return f"{scaled:f}".rstrip("0").rstrip(".")  # 16.50 → 16.5, 20.00 → 20

    @property
    def out_of(self) -> str:
        return self.grade(self.rubric_max)


def canvas_csv(rows: list[dict[str, Any]], column: str, scale: Scale = Scale(100, 100)) -> tuple[str, list[str]]:
    """Canvas' gradebook import: its identity columns and one assignment column, the grade out of the
    assignment's Points Possible. Returns the text and the students left out (no Canvas user id in their
    file name nor the roster: Canvas cannot match them)."""
    out: list[list[str]] = []
    left_out: list[str] = []
    for row in rows:
        canvas_id = row["lms_id"] if row["lms"] == "canvas" else row.get("canvas_id", "")
        if not canvas_id and not row.get("sis_user_id"):
            left_out.append(row["student"])
            continue
        out.append([row["name"] or row["student"], canvas_id, row.get("sis_user_id", ""),
                    row.get("sis_login_id", ""), row.get("section", ""),
                    scale.grade(row["score"])])
    return csv_text(CANVAS_IDENTITY + [column], out), left_out


def moodle_csv(rows: list[dict[str, Any]], scale: Scale = Scale(100, 100), now: datetime | None = None) -> tuple[str, list[str]]:
    """The Moodle assignment's offline grading worksheet, keyed by participant number, the grade out of
    the assignment's maximum grade; the comment repeats that grade and what to fix first."""
    stamp = (now or datetime.now()).strftime("%Y-%m-%d %H:%M:%S")  # Moodle reads it with strtotime()
    out: list[list[str]] = []
    left_out: list[str] = []
    for row in rows:
        if row["lms"] != "moodle" or not row["lms_id"]:
            left_out.append(row["student"])
            continue
        grade = scale.grade(row["score"])
        comment = f"{grade} / {scale.out_of}. {row['comment']}" if grade else row.get("comment", "")
        out.append([f"Participant {row['lms_id']}", row["name"] or row["student"], grade, scale.out_of, stamp,
                    comment])
    return csv_text(MOODLE_COLUMNS, out), left_out
