"""Gradescope: build the autograder bundle, and produce results.json inside it.

`autograder gradescope -o autograder.zip` writes a zip with setup.sh (installs
the grader and its pinned dependencies once, when Gradescope builds the image)
and run_autograder (grades /autograder/submission/*.ipynb into
/autograder/results/results.json). A submission that cannot be graded still
gets a valid results.json that says why, so students never see "The
autograder failed to execute correctly".
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
import traceback
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

from . import forking, locations, report, sandbox
from ._version import __version__
from .pipeline import error_result, grade
from .results import CheckResult, GradeResult
from .settings import Assignment

# The bundle's source/ is a small project made from the installed grader (wheel or checkout alike):
# the package with its files inside it, as a wheel has them, and this pyproject.toml.
BUNDLE_PYPROJECT = """[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "cnn-autograder"
version = "{version}"

[project.scripts]
autograder = "autograder.cli:main"

[tool.setuptools.packages.find]
include = ["autograder*"]

[tool.setuptools.package-data]
"*" = ["*.npz", "*.md", "*.j2", "*.css", "*.ipynb", "*.png", "*.toml"]
"""
PINNED = ["tensorflow", "keras", "numpy", "matplotlib", "nbformat", "nbclient", "nbconvert", "ipykernel",
          "jinja2", "click", "rich"]

SETUP_SH = """#!/usr/bin/env bash
# Runs once, as root, when Gradescope builds the autograder image.
set -euo pipefail
apt-get update -qq
# bubblewrap confines each student's kernel (no network, a private root, an unprivileged user)
apt-get install -y -qq python3 python3-venv python3-pip bubblewrap util-linux >/dev/null
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install -q --upgrade pip
/autograder/venv/bin/pip install -q -r /autograder/source/requirements.txt
/autograder/venv/bin/pip install -q --no-deps /autograder/source
# fail the build now if the reference lost full marks (source/lesson: an assignment folder, when bundled)
if [ -d /autograder/source/lesson ]; then export AUTOGRADER_ASSIGNMENT=/autograder/source/lesson; fi
/autograder/venv/bin/autograder reference
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for each submission. AUTOGRADER_ROOT and AUTOGRADER_PYTHON exist for local tests.
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PY="${AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}"
mkdir -p "$ROOT/results"
if [ -d "$ROOT/source/lesson" ]; then export AUTOGRADER_ASSIGNMENT="$ROOT/source/lesson"; fi
exec "$PY" -m autograder.gradescope "$ROOT/submission" "$ROOT/results/results.json"
"""


def _test_entry(check: CheckResult, number: int) -> dict[str, Any]:
    """One Gradescope test. The rubric's visibility becomes Gradescope's own (it hides "hidden" tests and
    shows "after_due_date" ones when the due date passes); a kept-back expected value is left out."""
    c = dataclasses.asdict(check)
    if not c["show_expected"]:
        c = report.without_expected(c)
    lines = [c["message"]] + [f"- {d}" for d in c["details"]]
    where = c["where"] or {}
    if where.get("cell") and c["status"] not in ("pass", "skipped"):
        lines += ["", f"Where: In [{where['cell']}]" + (f", line {where['line']}" if where.get("line") else "")
                  + (f": `{where['code']}`" if where.get("code") else "")]
    if c["status"] not in ("pass", "skipped") and (c["expected"] or c["found"]):
        lines += ["", *([f"Expected: {c['expected']}"] if c["expected"] else []), f"Found: {c['found']}"]
    if c["hint"]:
        lines += ["", f"Tip: {c['hint']}"]
    if c["status"] != "pass":
        lines += ["", f"Lesson step: {c['lesson']}"]
    entry = {"name": c["title"], "number": str(number), "score": c["points"], "max_score": c["max_points"],
             "output": "\n".join(lines), "output_format": "md", "visibility": c["visibility"], "tags": [c["id"]],
             "extra_data": {"id": c["id"], "status": c["status"]}}
    if c["max_points"] > 0:  # a check worth nothing is information: no red "failed" on it
        entry["status"] = "passed" if c["status"] == "pass" else "failed"
    else:
        entry["name"] += " (for your information, no points)"
    return entry


def results_json(result: GradeResult, seconds: float) -> dict[str, Any]:
    """Gradescope's results.json for one GradeResult."""
    out = {"execution_time": round(seconds), "visibility": "visible", "stdout_visibility": "hidden",
           "output_format": "md", "extra_data": {"status": result.status, "percent": result.percent}}
    if result.status != "graded":
        out.update(score=0, output=f"**Your notebook could not be graded:** {result.reason}\n\n"
                                   "Fix this and submit again. (This attempt does not count against you.)",
                   tests=[])
        return out
    out.update(score=result.score, tests=[_test_entry(c, i) for i, c in enumerate(result.checks, start=1)],
               output=f"**{result.score:g} / {result.max_score:g} points.** Each test below says what was "
                      "expected and what your notebook did.")
    return out


def find_submission(folder: Path, name: str = "CNN.ipynb") -> Path | None:
    """The notebook handed in: the one named as the assignment's (any case), else the first."""
    notebooks = sorted(Path(folder).rglob("*.ipynb"))
    notebooks = [p for p in notebooks if ".ipynb_checkpoints" not in p.parts]
    named = [p for p in notebooks if p.name.lower() == name.lower()]
    return (named or notebooks or [None])[0]  # type: ignore[list-item]  # None: no notebook at all


def unconfined_root() -> str | None:
    """Why grading must not start: as real root without the sandbox's user layer, a notebook could
    rewrite results.json itself."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        missing = [layer for layer in sandbox.probe() if layer.name in ("user", "filesystem") and not layer.active]
        if missing:
            return ("The autograder is not set up safely: " + "; ".join(f"{l.name}: {l.how}" for l in missing)
                    + ". Your teacher must rebuild it (setup.sh installs bubblewrap). Nothing was graded.")
    return None


def run(submission_dir: Path, results_path: Path) -> dict[str, Any]:
    """Grade the submission folder and write results.json, last; never raises."""
    started = time.perf_counter()
    try:
        lesson = os.environ.get("AUTOGRADER_ASSIGNMENT")  # run_autograder sets it when a folder was bundled
        assignment = Assignment.load(Path(lesson)) if lesson else None
        path = find_submission(submission_dir, assignment.rubric.notebook if assignment else "CNN.ipynb")
        refusal = unconfined_root()
        if refusal:
            result = error_result(Path(submission_dir), refusal)
        elif path is None:
            result = error_result(Path(submission_dir), "no .ipynb file was submitted; upload your notebook (.ipynb)")
        else:
            result = grade(path, assignment)
            report.write(result, Path(results_path).parent, "report")
        data = results_json(result, time.perf_counter() - started)
    except Exception as exc:  # the grader's own failure still gives Gradescope a valid file
        data = {"score": 0, "execution_time": round(time.perf_counter() - started), "tests": [],
                "output": f"The grader itself failed ({type(exc).__name__}: {exc}); tell your teacher.",
                "extra_data": {"traceback": traceback.format_exc()}}
    forking.shutdown()
    sandbox.stop_descendants()  # no process a notebook started outlives grading; results.json comes last
    report.atomic_write(Path(results_path), json.dumps(data, indent=2))
    return data


def _requirements() -> str:
    return "".join(f"{name}=={metadata.version(name)}\n" for name in PINNED)


def build_bundle(out: Path, assignment: Path | None = None) -> Path:
    """Write the Gradescope autograder zip: setup.sh and run_autograder at its root, the grader in source/,
    and an assignment folder `autograder new` wrote in source/lesson/ (default: the built-in lesson)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        def add_text(name: str, text: str, mode: int = 0o644) -> None:
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, text)

        add_text("setup.sh", SETUP_SH, 0o755)
        add_text("run_autograder", RUN_AUTOGRADER, 0o755)
        add_text("source/requirements.txt", _requirements())
        add_text("source/pyproject.toml", BUNDLE_PYPROJECT.format(version=__version__))
        for folder, inside in _package_files():
            files = folder.rglob("*") if inside == "autograder" else folder.glob("*")  # not assignment/examples
            for file in sorted(p for p in files if p.is_file() and "__pycache__" not in p.parts):
                zf.write(file, f"source/{inside}/{file.relative_to(folder).as_posix()}")
        if assignment is not None:
            Assignment.load(Path(assignment))  # a broken folder stops here, not in Gradescope's build
            for part in ("assignment.toml", "reference", "starter"):
                for file in sorted(p for p in [Path(assignment) / part, *(Path(assignment) / part).rglob("*")]
                                   if p.is_file()):
                    zf.write(file, f"source/lesson/{file.relative_to(assignment).as_posix()}")
    return out


def _package_files() -> list[tuple[Path, str]]:
    """(installed folder, its place in the bundle's package) for the grader and its files."""
    found = [(locations.PACKAGE, "autograder")]
    for name, folder in (("templates", locations.TEMPLATES), ("reference", locations.REFERENCE.parent),
                         ("assignment", locations.RUBRIC.parent)):
        if locations.PACKAGE not in folder.parents:  # a checkout keeps them beside the package
            found.append((folder, f"autograder/{name}"))
    return found


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        sys.exit("usage: python -m autograder.gradescope SUBMISSION_DIR RESULTS_JSON")
    data = run(Path(args[0]), Path(args[1]))
    print(f"score {data['score']}")


if __name__ == "__main__":
    main()
