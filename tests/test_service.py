"""The grading service, as its users reach it: the real `autograder serve` on a loopback port, a real
database (SQLite; PostgreSQL for durability), real kernels. Every rule of the API has a test here."""

from __future__ import annotations

import glob
import io
import os
import shutil
import subprocess
import tempfile
import time
import zipfile
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from autograder.service import store
from conftest import ROOT
from service_server import Service, free_port, notebook

pytestmark = pytest.mark.slow  # real notebooks in real kernels

CLEO = ROOT / "assignment" / "examples" / "cleo_CNN.ipynb"
ROSTER = "id,name\nada,Ada Lovelace\nben,Ben Okri\ncleo,Cleo Díaz\n"


@pytest.fixture(scope="module")
def graded_pair(service):
    """Ada hands in cleo's notebook while Ben hands in one that kills its own kernel: both are graded."""
    ada = service.submit(service.tokens["ada"], CLEO.read_bytes(), "CNN.ipynb")
    ben = service.submit(service.tokens["ben"], notebook("import os\nos.kill(os.getpid(), 9)"), "CNN.ipynb")
    assert (ada.status_code, ben.status_code) == (202, 202), (ada.text, ben.text)
    done = service.wait_done(service.tokens["instructor"], [ada.json()["id"], ben.json()["id"]])
    return done[ada.json()["id"]], done[ben.json()["id"]]


def own(service, who: str) -> list[dict]:
    return service.get("/api/submissions", service.tokens[who]).json()["submissions"]


# ---------------------------------------------------------------- health and who may ask

def test_health_says_the_service_takes_work(service):
    health = service.health()
    assert health["ok"] is True and health["problem"] == ""
    assert {"queued", "running"} <= set(health)


@pytest.mark.parametrize("token", [None, "", "not-a-token", "x" * 43])
def test_without_a_valid_token_nothing_is_answered(service, token):
    for path in ("/api/submissions", "/api/class", "/api/submissions/1"):
        answer = service.get(path, token)
        assert answer.status_code == 401, (path, answer.text)
        assert "link is not valid" in answer.json()["error"]
    assert service.submit(token or "", notebook("1")).status_code == 401


def test_a_link_opens_the_page_and_keeps_its_secret_out_of_the_address_bar(service):
    session = requests.Session()
    answer = session.get(f"{service.url}/s/{service.tokens['ada']}", allow_redirects=False, timeout=10)
    assert answer.status_code == 302 and answer.headers["Location"] == "/"
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    page = session.get(service.url + "/", timeout=10)
    assert page.status_code == 200 and "Hand in CNN.ipynb" in page.text and "Ada Lovelace" in page.text
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert session.get(service.url + "/api/submissions", timeout=10).json()["student"] == "ada"  # the cookie
    stranger = requests.get(f"{service.url}/s/not-a-token", timeout=10)
    assert stranger.status_code == 401 and "Open the link your teacher sent you" in stranger.text


# ---------------------------------------------------------------- what is not a notebook

def zipped() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("CNN.ipynb", CLEO.read_text())
    return buffer.getvalue()


NOT_NOTEBOOKS = {
    "README.md": ((ROOT / "README.md").read_bytes(), "not valid JSON"),
    "CNN.zip": (zipped(), "is a .zip file, not a notebook. Unzip it"),
    "CNN.ipynb": (b'{"cells": [', "not valid JSON"),
    "empty.ipynb": (b"", "is empty"),
    "list.ipynb": (b"[1, 2, 3]", "has no cells"),
}


@pytest.mark.parametrize("name", NOT_NOTEBOOKS)
def test_a_file_that_is_not_a_notebook_is_refused_with_a_reason_and_nothing_is_recorded(service, name):
    raw, words = NOT_NOTEBOOKS[name]
    before = own(service, "cleo")
    answer = service.submit(service.tokens["cleo"], raw, name)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error.startswith(name) and words in error and error.endswith("Nothing was submitted.")
    assert own(service, "cleo") == before


def test_an_upload_without_a_file_is_refused(service):
    answer = service.post("/api/submissions", service.tokens["cleo"], data={"something": "else"})
    assert answer.status_code == 400 and "Choose your CNN.ipynb" in answer.json()["error"]


def test_a_file_over_the_size_limit_is_refused_with_413(service):
    before = own(service, "cleo")
    big = b'{"cells": [], "padding": "' + b"x" * (21 * 2**20) + b'"}'
    answer = service.submit(service.tokens["cleo"], big)
    assert answer.status_code == 413
    assert "larger than 20 MB" in answer.json()["error"] and "Clear All Outputs" in answer.json()["error"]
    assert own(service, "cleo") == before


# ---------------------------------------------------------------- grading, reports, privacy

def test_a_submission_is_graded_with_its_score_and_times(graded_pair):
    ada, _ = graded_pair
    assert ada["status"] == "graded" and ada["score"] == 80 and ada["max_score"] == 100
    assert ada["report_url"] == f"/reports/{ada['id']}"
    assert ada["submitted_at"] <= ada["graded_at"] and ada["graded_at"].endswith("+00:00")


def test_a_running_grade_says_which_stage_it_is_in_as_it_goes(service, graded_pair):
    ada, _ = graded_pair
    seen = service.stages[ada["id"]]
    assert seen[-1] == "graded"
    running = [s for s in seen if s.startswith("running your notebook")]
    assert running, seen  # the notebook runs for seconds: a poll every half second sees it
    order = ["running your notebook", "training a copy", "checking your work", "graded"]
    firsts = [next((n for n, s in enumerate(seen) if s.startswith(step)), None) for step in order]
    assert [n for n in firsts if n is not None] == sorted(n for n in firsts if n is not None), seen
    assert not (service.folder / "stages" / f"{ada['id']}.txt").exists()  # nothing left once graded


def test_a_notebook_that_kills_its_kernel_is_that_students_low_score_only(graded_pair):
    ada, ben = graded_pair
    assert ben["status"] == "graded" and ben["score"] < 20 and ada["score"] == 80


def test_the_report_is_served_without_any_script(service, graded_pair):
    ada, _ = graded_pair
    answer = service.get(ada["report_url"], service.tokens["ada"])
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/html")
    policy = answer.headers["Content-Security-Policy"]
    assert "script-src 'none'" in policy and "default-src 'none'" in policy
    assert '<span class="big">80</span>' in answer.text and "<title>Feedback on CNN.ipynb" in answer.text


def test_a_student_sees_only_their_own_submissions(service, graded_pair):
    ada, ben = graded_pair
    for path in (f"/api/submissions/{ada['id']}", ada["report_url"]):
        answer = service.get(path, service.tokens["ben"])
        assert answer.status_code == 404 and "among yours" in answer.json()["error"]
    assert [s["id"] for s in own(service, "ben")] == [ben["id"]]
    assert service.get(f"/api/submissions/{ada['id']}", service.tokens["ada"]).json()["id"] == ada["id"]


def test_too_many_waiting_for_one_student_answers_429(service, graded_pair):
    token = service.tokens["cleo"]
    ids = []
    for n in range(3):
        answer = service.submit(token, notebook(f"import time\ntime.sleep(4)  # {n}"))
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["id"])
    fourth = service.submit(token, notebook("x = 4"))
    assert fourth.status_code == 429 and "already have 3 submissions waiting" in fourth.json()["error"]
    listed = own(service, "cleo")
    assert [s["id"] for s in listed] == sorted(ids, reverse=True)  # newest first, the refused one not there
    assert {s["status"] for s in listed} <= {"queued", "running"}
    assert all(s["stage"] for s in listed)
    done = service.wait_done(token, ids)
    assert all(s["status"] == "graded" for s in done.values())
    assert service.submit(token, notebook("x = 5")).status_code == 202  # room again


# ---------------------------------------------------------------- the instructor

def test_the_class_is_for_the_instructor_only(service):
    answer = service.get("/api/class", service.tokens["ada"])
    assert answer.status_code == 403 and "Only the instructor" in answer.json()["error"]
    assert service.get("/api/class/canvas.csv", service.tokens["ada"]).status_code == 403
    assert service.post("/api/class/regrade", service.tokens["ada"]).status_code == 403


def test_the_class_has_every_students_latest_and_best_in_gradebook_columns(service, graded_pair):
    ada, ben = graded_pair
    data = service.get("/api/class", service.tokens["instructor"]).json()
    from autograder import gradebook

    assert data["columns"][:len(gradebook.GRADEBOOK_COLUMNS)] == gradebook.GRADEBOOK_COLUMNS
    rows = {s["student"]: s for s in data["students"]}
    assert set(rows) == {"ada", "ben", "cleo", "eve"}
    assert rows["ada"]["name"] == "Ada Lovelace" and rows["ada"]["best"]["score"] == 80
    assert rows["ada"]["latest_submission"] == ada["id"] and rows["ada"]["latest"]["fit.batch_size"] != ""
    canvas = service.get(data["files"]["canvas.csv"], service.tokens["instructor"])
    assert canvas.status_code == 200 and "Ada Lovelace,ada,,,,80" in canvas.text
    gradebook = service.get(data["files"]["gradebook.csv"], service.tokens["instructor"]).text
    assert gradebook.splitlines()[0].startswith("student,name,file,") and "Ben Okri" in gradebook
    summary = service.get("/class", service.tokens["instructor"])
    assert summary.status_code == 200 and "Ada Lovelace" in summary.text
    assert "script-src 'sha256-" in summary.headers["Content-Security-Policy"]
    instructors_copy = service.get(ada["report_url"] + "?for=instructor", service.tokens["instructor"])
    assert instructors_copy.status_code == 200 and instructors_copy.text != service.get(
        ada["report_url"], service.tokens["ada"]).text


def test_the_instructor_regrades_one_submission(service, graded_pair):
    _, ben = graded_pair  # the quick one to grade
    answer = service.post(f"/api/submissions/{ben['id']}/regrade", service.tokens["instructor"])
    assert answer.status_code == 202 and answer.json() == {"queued": 1}
    assert service.get(f"/api/submissions/{ben['id']}", service.tokens["ben"]).json()["status"] in ("queued", "running")
    again = service.wait_done(service.tokens["instructor"], [ben["id"]])[ben["id"]]
    assert again["score"] == ben["score"] and again["graded_at"] >= ben["graded_at"]
    assert again["report_url"] == ben["report_url"]  # the same address, the new attempt's report


# ---------------------------------------------------------------- links

def test_links_are_issued_once_and_renewed_on_demand(service):
    rows = service.links()
    assert list(rows) == ["ada", "ben", "cleo", "eve", "instructor"]
    assert all(row["token"] == "" for row in rows.values())  # only a hash of each was kept
    renewed = service.links("ben")
    assert renewed["ben"]["token"] and renewed["ben"]["url"] == f"{service.url}/s/{renewed['ben']['token']}"
    assert service.get("/api/submissions", service.tokens["ben"]).status_code == 401  # the old link
    assert service.get("/api/submissions", renewed["ben"]["token"]).json()["student"] == "ben"
    service.tokens["ben"] = renewed["ben"]["token"]


# ---------------------------------------------------------------- kill -9, restart: nothing lost, nothing twice

def postgres_binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


@pytest.fixture(scope="module")
def postgresql():
    """A throwaway PostgreSQL cluster of this test's own (initdb + pg_ctl on a free port): no system service."""
    binaries = postgres_binaries()
    if binaries is None:
        if os.environ.get("CI"):
            raise RuntimeError("PostgreSQL is not installed: .ci/run must apt-get install postgresql")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="autograder-pg-"))
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []  # initdb refuses root
    if as_postgres:
        shutil.chown(folder, "postgres")
    port = free_port()
    subprocess.run([*as_postgres, binaries / "initdb", "-D", folder / "db", "-U", "postgres", "--auth=trust"],
                   check=True, capture_output=True)
    subprocess.run([*as_postgres, binaries / "pg_ctl", "-D", folder / "db", "-l", folder / "log", "-w", "-o",
                    f"-p {port} -h 127.0.0.1 -k {folder}", "start"], check=True, capture_output=True)
    yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    subprocess.run([*as_postgres, binaries / "pg_ctl", "-D", folder / "db", "-m", "immediate", "stop"],
                   capture_output=True)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_kill_9_mid_grade_loses_nothing_and_grades_nothing_twice(tmp_path, request, database):
    url = request.getfixturevalue("postgresql") if database == "postgresql" else None
    (tmp_path / "roster.csv").write_text(ROSTER, encoding="utf-8")
    service = Service(tmp_path / "class", tmp_path / "roster.csv", database=url).start()
    try:
        tokens = {who: row["token"] for who, row in service.links().items()}
        ids = [service.submit(tokens[who], notebook(f"import time\ntime.sleep(3)  # {who}")).json()["id"]
               for who in ("ada", "ben", "cleo")]
        deadline = time.monotonic() + 300
        while service.health()["running"] == 0:  # mid-grade: a worker holds at least one
            assert time.monotonic() < deadline, service.log.read_text()
            time.sleep(0.2)
        time.sleep(1)
        service.kill()
        (tmp_path / "roster2.csv").write_text(ROSTER + "dan,Dan Diaz\n", encoding="utf-8")
        service.start(roster=tmp_path / "roster2.csv")  # a new roster: Dan is added, everything else kept
        done = service.wait_done(tokens["instructor"], ids)
        assert all(s["status"] == "graded" for s in done.values()), done
        assert "dan" in service.links() and service.get("/api/submissions", tokens["ada"]).ok  # old links work
    finally:
        service.stop()
    engine = create_engine(store.database_url(tmp_path / "class", url))
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(store.Submission)) == 3  # none lost, none added
        attempts = session.scalars(select(store.Attempt)).all()
        for sid in ids:
            mine = [a for a in attempts if a.submission_id == sid]
            assert len([a for a in mine if a.finished_at]) == 1, mine  # graded once
            assert all(a.finished_at for a in mine[-1:])  # the last attempt is the one that counted
        cut_short = [a for a in attempts if a.finished_at is None]
        assert cut_short, "the kill came before any grading started"
        for attempt in cut_short:  # graded again from the start, as a new attempt
            assert any(a.submission_id == attempt.submission_id and a.number == attempt.number + 1 for a in attempts)
    engine.dispose()
    assert len(list((tmp_path / "class" / "files").glob("*.ipynb"))) == 3
