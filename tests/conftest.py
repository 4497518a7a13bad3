"""Shared fixtures: each fixture notebook is graded once per test session, in a real kernel.

The reference's facts are cached in a per-session folder, so the first grade
pays for running the reference once and every later grade reuses it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent  # the repository: examples, fixtures, CI files
FIXTURES = ROOT / "tests" / "fixtures"
CELL_TIMEOUT = 20  # seconds; keeps never_ending_cell affordable


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Never touch the user's ~/.cache or ~/.keras while testing."""
    saved = {k: os.environ.get(k) for k in ("AUTOGRADER_CACHE", "KERAS_HOME")}
    os.environ["AUTOGRADER_CACHE"] = str(tmp_path_factory.mktemp("grader-cache"))
    os.environ["KERAS_HOME"] = str(tmp_path_factory.mktemp("keras-home"))
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def fingerprints_before():
    """Every fixture's hash before anything is graded (grading must never change a submission)."""
    return {p.name: sha256(p) for p in FIXTURES.glob("*.ipynb")}


NAMED = pytest.StashKey[list]()


def pytest_collection_finish(session):
    """The fixture notebooks the selected tests will ask `graded` for by name (their parameters)."""
    names = set()
    for item in session.items:
        if "graded" in getattr(item, "fixturenames", ()):
            for value in getattr(getattr(item, "callspec", None), "params", {}).values():
                if isinstance(value, str) and (FIXTURES / f"{value}.ipynb").is_file():
                    names.add(value)
    session.config.stash[NAMED] = sorted(names)


@pytest.fixture(scope="session")
def graded(fingerprints_before, request):
    """graded(name) -> GradeResult for tests/fixtures/NAME.ipynb, graded once per session. At the first call,
    the fixtures the selected tests name are graded two at a time (pregrade.py); any other, when asked."""
    from dataclasses import replace

    from autograder import Assignment, GradingContext, grade
    from autograder.pipeline import reference_facts
    from pregrade import ALONE, ENDLESS_LIMIT, grade_all

    results = {}
    context = GradingContext(cell_timeout=CELL_TIMEOUT)
    assignment = Assignment.load()
    named = [n for n in request.config.stash.get(NAMED, []) if n not in ALONE]

    def get(name):
        """A fixture's name, or the path of any notebook."""
        if len(named) > 2 and not results:
            known = assignment.knowing(reference_facts(assignment, context)[0])  # once, before the workers
            results.update(grade_all({n: FIXTURES / f"{n}.ipynb" for n in named}, known, context))
        if name not in results:
            path = name if isinstance(name, Path) else FIXTURES / f"{name}.ipynb"
            limit = ENDLESS_LIMIT.get(name) if isinstance(name, str) else None
            results[name] = grade(path, assignment, replace(context, cell_timeout=limit) if limit else context)
        return results[name]

    get.results = results
    return get


def by_id(result) -> dict:
    return {c.id: c for c in result.checks}


def is_kernel(p) -> bool:
    """A grading kernel: started as ipykernel, or forked from the fork server (named so for ps), or a
    process one of them started (it inherits the name)."""
    return p.name() == "grading-kernel" or "ipykernel" in " ".join(p.cmdline())


def kernels_among(processes) -> list:
    """The running Jupyter kernels among these processes (a zombie, e.g. a browser's, is not running)."""
    import psutil

    found = []
    for p in processes:
        try:
            if p.status() != psutil.STATUS_ZOMBIE and is_kernel(p):
                found.append(p)
        except psutil.Error:
            pass
    return found


@pytest.fixture(scope="session")
def similarity_class(tmp_path_factory):
    """(output folder, summary) of tests/fixtures/similarity_class/ graded as a batch, once per session:
    twelve students who follow the lesson, ivy and jon (one copied the other, renaming the variables),
    kai and lea (the same unusual mistakes)."""
    from autograder import GradingContext, batch

    out = tmp_path_factory.mktemp("similarity-class")
    summary = batch.run(FIXTURES / "similarity_class", out, context=GradingContext(cell_timeout=CELL_TIMEOUT), workers=2)
    return out, summary


@pytest.fixture(scope="session")
def service(tmp_path_factory):
    """One real grading service (`autograder serve`, SQLite) for test_service and test_service_browser, with
    its links in .tokens; eve is the browser test's student."""
    from service_server import Service

    root = tmp_path_factory.mktemp("service")
    (root / "roster.csv").write_text("id,name\nada,Ada Lovelace\nben,Ben Okri\ncleo,Cleo Díaz\neve,Eve Adeyemi\n",
                                     encoding="utf-8")
    running = Service(root / "class", root / "roster.csv").start()
    running.tokens = {who: row["token"] for who, row in running.links().items()}
    yield running
    running.stop()
