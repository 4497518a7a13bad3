"""An assignment's rules (assignment.toml): what it is (title, notebook, dataset, its notebooks), points per
check, time limits, the brief-training budget, and the expected values `autograder new` derived from the
solution ([expected], read by expectations.py). A rubric file without an [assignment] table is the CNN lesson's
(the grader's own before assignments had folders): every check is scored."""

from __future__ import annotations

import datetime
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Mapping
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from . import datasets
from .errors import SetupError

# The checks a rubric scores, in the report's order: the keys of its [checks."ID"] tables. checks.CHECKS
# implements exactly these, in this order (tests hold the two equal). Kept here, not read from checks, so that
# the rubric imports no check and checks may import the rubric.
CHECK_IDS = ("notebook.runs", "data.prepared", "model.found", "model.sequential", "layers.order", "layers.config",
             "layers.shapes", "compile.loss", "compile.optimizer", "compile.metrics", "fit.batch_size", "fit.epochs",
             "fit.validation_data", "fit.shuffle", "evaluate.test_data", "train.learns", "predict.digit3")

# The lesson's known slips (shared/ASSIGNMENT.md) a rubric may forgive.
SLIPS = ("extra_parenthesis", "test_acc", "pooling_below_second_conv")


@dataclass(frozen=True)
class CheckRule:
    points: float
    title: str
    lesson: str
    partial: float = 0.5  # share of the points a "partial" verdict earns
    short: str = ""  # a column heading on the class page ("Loss")
    # Who sees it, as Gradescope's `visibility`: "visible", "hidden" (the instructor only) or
    # "after_due_date" (students see it once [release] due has passed). The instructor's copy shows all.
    visibility: str = "visible"
    show_expected: bool = True  # False: students see the verdict and tip, not the expected value


@dataclass(frozen=True)
class Rubric:
    path: Path
    digest: str
    limits: dict[str, Any]  # the rubric's [limits]: seconds, or "auto" (SCHEMA says which)
    harness: dict[str, int]
    training: dict[str, float]  # whole numbers (seed, images, epochs) are ints
    checks: dict[str, CheckRule]
    forgive: tuple[str, ...] = ()  # the lesson's slips that cost nothing (see slips.py)
    slips: bool = True  # the lesson is the one whose text has the slips (its file has a [slips] table, or is a
    # rubric from before assignment folders): only its students are told "the lesson wrote it so"
    due: str = ""  # ISO date and time after which "after_due_date" checks are shown to students
    similarity_threshold: float = 0.5  # a pair of submissions this similar is listed for the instructor
    title: str = "Build a CNN"  # the lesson, as reports and LMS files name it
    notebook: str = "CNN.ipynb"  # the file students hand in
    column: str = "CNN"  # the grade column's header in the LMS (Canvas, Moodle; LTI's line item)
    dataset: str = "mnist"  # datasets.DATASETS
    reference: Path | None = None  # the solution and the starter, when the file names them (beside it)
    starter: Path | None = None
    expected: dict[str, Any] | None = None  # [expected]: expectations.apply reads it

    @property
    def max_points(self) -> float:
        return sum(rule.points for rule in self.checks.values())

    @property
    def check_ids(self) -> tuple[str, ...]:
        """The checks this assignment scores, in the report's order."""
        return tuple(c for c in CHECK_IDS if c in self.checks)


# Every key the rubric's tables may hold, with its type: a typo is an error that names the key.
NUMBER = (int, float)
Types = tuple[type, ...]
SCHEMA: dict[str, dict[str, Types]] = {
    "limits": {"cell_timeout_s": (int, float, str), "notebook_timeout_s": NUMBER},
    "harness": {"seed": (int,), "fit_samples": (int,), "max_real_epochs": (int,), "evaluate_samples": (int,),
                "predict_batch": (int,)},
    "training": {"seed": (int,), "train_images": (int,), "heldout_images": (int,), "epochs": (int,),
                 "batch_size": (int,), "time_limit_s": NUMBER, "pass_within": NUMBER, "partial_within": NUMBER,
                 "borderline_within": NUMBER, "more_epochs": (int,)},
    "slips": {"forgive": (list,)},
    "release": {"due": (datetime.datetime, datetime.date, str)},
    "similarity": {"threshold": NUMBER},
    "assignment": {"title": (str,), "notebook": (str,), "dataset": (str,), "reference": (str,), "starter": (str,),
                   "column": (str,)},
}
OPTIONAL_TABLES = ("slips", "release", "similarity", "assignment")
# Keys added after instructors had written rubrics of their own: a rubric without them gets these values.
DEFAULTS = {"training": {"borderline_within": 0.04, "more_epochs": 2}}
CHECK_KEYS = {"points": NUMBER, "title": (str,), "lesson": (str,), "partial": NUMBER, "short": (str,),
              "visibility": (str,), "show_expected": (bool,)}
VISIBILITIES = ("visible", "hidden", "after_due_date")


def _validate(path: Path, data: dict[str, Any]) -> None:
    unknown = [t for t in data if t not in (*SCHEMA, "checks", "expected")]
    if unknown:
        raise SetupError(path, f"unknown table [{unknown[0]}]; the rubric has " + ", ".join(f"[{t}]" for t in SCHEMA)
                         + ", [expected] and [checks.\"ID\"]")
    for table, keys in SCHEMA.items():
        given = data.get(table)
        if given is None:
            if table in OPTIONAL_TABLES:
                continue
            raise SetupError(path, f"the [{table}] table is missing")
        _keys(path, table, given, keys, required=table not in OPTIONAL_TABLES)
    for check_id, entry in data.get("checks", {}).items():
        if check_id not in CHECK_IDS:
            raise SetupError(path, f"[checks.\"{check_id}\"] is not a check; the checks are " + ", ".join(CHECK_IDS))
        _keys(path, f'checks."{check_id}"', entry, CHECK_KEYS, required=False)


def _words(types: Types) -> str:
    if float in types:
        return "a number" + (' or "auto"' if str in types else "")
    return {int: "a whole number", str: "text", list: "a list", bool: "true or false",
            datetime.datetime: "a date and time (2026-12-01T17:00:00)"}[types[0]]


def _keys(path: Path, table: str, given: dict[str, Any], keys: Mapping[str, Types], required: bool) -> None:
    for key, value in given.items():
        if key not in keys:
            raise SetupError(path, f"[{table}] has an unknown key {key!r}; allowed: " + ", ".join(keys))
        if isinstance(value, bool) != (bool in keys[key]) or not isinstance(value, keys[key]):
            raise SetupError(path, f"[{table}] {key} is {value!r}; it must be {_words(keys[key])}")
    missing = [k for k in keys if k not in given and k not in DEFAULTS.get(table, {})] if required else []
    if missing:
        raise SetupError(path, f"[{table}] lacks {', '.join(missing)}")


def load(path: Path) -> Rubric:
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise SetupError(path, "file not found; pass --assignment with a folder `autograder new` wrote, "
                               "or --rubric with the path to a rubric") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SetupError(path, f"the rubric is not valid TOML ({exc}); fix the line it names") from None
    _validate(path, data)
    checks = {}
    for check_id, entry in data.get("checks", {}).items():
        try:
            checks[check_id] = CheckRule(points=float(entry["points"]), title=entry["title"],
                                         lesson=entry.get("lesson", ""), partial=float(entry.get("partial", 0.5)),
                                         short=entry.get("short") or entry["title"],
                                         visibility=entry.get("visibility", "visible"),
                                         show_expected=entry.get("show_expected", True))
        except (KeyError, TypeError, ValueError) as exc:
            raise SetupError(path, f"[checks.\"{check_id}\"] needs points and title ({exc})") from None
        if checks[check_id].visibility not in VISIBILITIES:
            raise SetupError(path, f"[checks.\"{check_id}\"] visibility is {checks[check_id].visibility!r}; "
                                   f"it must be one of {', '.join(VISIBILITIES)}")
    about = data.get("assignment", {})
    missing = [c for c in CHECK_IDS if c not in checks] if not about else []  # a lesson's own file lists its checks
    if missing:
        raise SetupError(path, "no entry for the checks " + ", ".join(missing) + "; add a [checks.\"ID\"] table for each")
    limit = data["limits"].get("cell_timeout_s")
    if limit != "auto" and not (isinstance(limit, (int, float)) and limit > 0):
        raise SetupError(path, f"[limits] cell_timeout_s is {limit!r}; give a number of seconds or \"auto\"")
    # The CNN lesson's slips are forgiven unless the rubric says otherwise; another lesson has none of them.
    forgive = data.get("slips", {}).get("forgive", [] if data.get("assignment") else list(SLIPS))
    unknown = [name for name in forgive if name not in SLIPS]
    if unknown:
        raise SetupError(path, f"[slips] forgive names {', '.join(unknown)}; known slips: {', '.join(SLIPS)}")
    due = data.get("release", {}).get("due", "")
    if isinstance(due, datetime.date) and not isinstance(due, datetime.datetime):
        due = datetime.datetime.combine(due, datetime.time(23, 59, 59))  # a date alone: the end of that day
    if isinstance(due, str) and due:
        try:
            due = datetime.datetime.fromisoformat(due)
        except ValueError:
            raise SetupError(path, f"[release] due is {due!r}; write a date and time like 2026-12-01T17:00:00") from None
    uses_due = [c for c, rule in checks.items() if rule.visibility == "after_due_date"]
    if uses_due and not due:
        raise SetupError(path, f"[checks.\"{uses_due[0]}\"] is shown after the due date, but [release] has no due")
    if about.get("dataset", "mnist") not in datasets.DATASETS:
        raise SetupError(path, f"[assignment] dataset is {about['dataset']!r}; the grader knows "
                               + ", ".join(datasets.DATASETS))
    if not checks:
        raise SetupError(path, "no [checks.\"ID\"] table: the assignment scores nothing")
    notebooks = {key: (path.parent / about[key]).resolve() for key in ("reference", "starter") if key in about}
    return Rubric(path=path, digest=hashlib.sha256(raw).hexdigest(), limits=data["limits"],
                  harness=data["harness"], training={**DEFAULTS["training"], **data["training"]}, checks=checks, forgive=tuple(forgive),
                  due=due.isoformat() if due else "",
                  similarity_threshold=float(data.get("similarity", {}).get("threshold", 0.5)),
                  title=about.get("title", Rubric.title), notebook=about.get("notebook", Rubric.notebook),
                  column=about.get("column", about.get("title", Rubric.column)),
                  dataset=about.get("dataset", Rubric.dataset), reference=notebooks.get("reference"),
                  slips="slips" in data or not about,
                  starter=notebooks.get("starter"), expected=data.get("expected"))
