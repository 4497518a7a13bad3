"""The types that flow out of the pipeline: a check's verdict, its scored result, and the grade.

Every renderer (report, gradescope, selfcheck, batch) reads these and nothing else of the pipeline.
The JSON result (report.to_dict) is GradeResult with the facts flattened for readers; its schema is
described in the README ("The JSON result")."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .facts import CellErrorFacts, Facts, Isolation, Where


class Status(str, Enum):
    """A check's verdict. A str, so JSON, CSV and templates see the plain word."""

    PASS = "pass"  # full points
    PARTIAL = "partial"  # the rubric's partial share
    FAIL = "fail"
    ERROR = "error"  # the grader itself failed in this check
    SKIPPED = "skipped"  # nothing to check (no model, no compile, no fit)

    def __str__(self) -> str:
        return self.value


STATUSES = tuple(s.value for s in Status)
PROBLEMS = (Status.FAIL, Status.PARTIAL, Status.ERROR)


@dataclass
class Verdict:
    """What one check concluded, before the rubric gives it points."""

    status: Status
    expected: str
    found: str
    message: str
    hint: str = ""
    details: list[str] = field(default_factory=list)
    where: Where | None = None  # {cell, line, code}: the student's own line this verdict is about

    def __post_init__(self) -> None:
        self.status = Status(self.status)  # a misspelt status fails here, not in a report


@dataclass
class CheckResult:
    """A verdict with the rubric's points, title, lesson step and visibility."""

    id: str
    title: str
    status: str
    points: float
    max_points: float
    expected: str
    found: str
    message: str
    hint: str
    lesson: str
    details: list[str]
    where: Where | None = None
    short: str = ""  # the rubric's column heading
    visibility: str = "visible"  # the rubric's: visible, hidden, after_due_date
    show_expected: bool = True
    caused_by: list[str] = field(default_factory=list)  # failed checks that likely explain this one


CNN_LESSON = {"title": "Build a CNN", "notebook": "CNN.ipynb", "dataset": "mnist"}  # results stored before lessons


@dataclass
class GradeResult:
    status: str  # "graded" or "error"
    reason: str | None
    submission: dict[str, str]  # path, name, and sha256 once read
    score: float = 0.0
    max_score: float = 0.0
    checks: list[CheckResult] = field(default_factory=list)
    facts: Facts | None = None  # the student's facts, as the checks saw them (see capture.collect)
    reference: Facts | None = None  # the reference's facts
    data_source: dict[str, Any] | None = None  # data.DataSource's kind, description, sha256, and repeated
    isolation: Isolation | None = None
    timings: dict[str, float | bool] = field(default_factory=dict)  # seconds by stage; reference_cached
    versions: dict[str, str] = field(default_factory=dict)  # package → version (pipeline.versions)
    graded_at: str = ""
    due: str = ""  # the rubric's [release] due: when "after_due_date" checks are shown to students
    # Which lesson it was graded for (the rubric's [assignment]): the report speaks of its title and dataset.
    assignment: dict[str, str] = field(default_factory=lambda: dict(CNN_LESSON))

    @property
    def percent(self) -> float:
        return percent_of(self.score, self.max_score)

    @property
    def full_marks(self) -> bool:
        return self.status == "graded" and self.score >= self.max_score


def percent_of(score: float, max_score: float) -> float:
    """The percentage of the points, as the gradebook and every report show it."""
    return round(100 * score / max_score, 1) if max_score else 0.0


def at(where: Where | CellErrorFacts | None) -> str:
    """'In [14], line 2' for a place in the student's notebook ('' when unknown)."""
    if not where or not where.get("cell"):
        return ""
    return f"In [{where['cell']}]" + (f", line {where['line']}" if where.get("line") else "")
