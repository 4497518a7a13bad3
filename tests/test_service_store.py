"""The service's store, queue and tokens on a real SQLite database, without kernels (the fast layer): the
rules that make kill -9 safe, each on its own."""

from __future__ import annotations

from sqlalchemy import select

from autograder.service import files, queue, serve, store, tokens
from autograder.service.store import Attempt, Person, Submission
from conftest import ROOT


def database(tmp_path, roster: str = "id,name\nada,Ada Lovelace\nben,Ben Okri\n"):
    (tmp_path / "roster.csv").write_text(roster)
    sessions = serve.open_folder(tmp_path, None)
    serve.add_roster(sessions, tmp_path / "roster.csv")
    return sessions


def queued(sessions, student: str = "ada") -> int:
    with sessions() as session:
        sub = Submission(student_id=student, filename="CNN.ipynb", sha256="0" * 64)
        session.add(sub)
        session.commit()
        return sub.id


def result(score: float) -> dict:
    return {"status": "graded", "score": score, "max_score": 100, "percent": score, "reason": ""}


def test_a_submission_is_claimed_by_one_claimer_only(tmp_path):
    first = database(tmp_path)
    second = serve.open_folder(tmp_path, None)  # another service on the same database
    sid = queued(first)
    (claim,) = queue.claim(first, 5)
    assert (claim.id, claim.attempt) == (sid, 1)
    assert queue.claim(second, 5) == [] and queue.claim(first, 5) == []


def test_a_grade_from_an_attempt_cut_short_is_never_recorded(tmp_path):
    sessions = database(tmp_path)
    sid = queued(sessions)
    (old,) = queue.claim(sessions, 1)
    assert queue.requeue_running(sessions) == 1  # the service restarted mid-grade
    (new,) = queue.claim(sessions, 1)
    assert new.attempt == 2
    assert queue.complete(sessions, old, result(10), "stale") is False  # the old attempt lost the row
    assert queue.complete(sessions, new, result(80), f"{sid}-2") is True
    assert queue.complete(sessions, new, result(90), "twice") is False  # and once only
    with sessions() as session:
        sub = session.get(Submission, sid)
        assert (sub.status, sub.score, sub.report) == ("graded", 80, f"{sid}-2")
        attempts = session.scalars(select(Attempt).order_by(Attempt.number)).all()
        assert [(a.number, a.outcome) for a in attempts] == [(1, None), (2, "graded")]


def test_waiting_counts_what_is_not_graded_yet(tmp_path):
    sessions = database(tmp_path)
    for _ in range(3):
        queued(sessions)
    queued(sessions, "ben")
    queue.claim(sessions, 1)
    with sessions() as session:
        assert queue.waiting(session, "ada") == 3 and queue.waiting(session, "ben") == 1


def test_migrations_run_again_harmlessly_and_a_new_roster_only_adds(tmp_path):
    sessions = database(tmp_path)
    with sessions() as session:
        token = tokens.issue(session.get(Person, "ada"))
        session.commit()
    again = database(tmp_path, "id,name\nada,Someone Else\ncleo,Cleo Díaz\n")
    with again() as session:
        people = {p.id: p for p in session.scalars(select(Person))}
        assert set(people) == {"ada", "ben", "cleo", "instructor"}
        assert people["ada"].name == "Ada Lovelace"  # kept as it was
        assert tokens.holder(session, token).id == "ada"


def test_a_token_is_kept_only_as_its_hash_and_renewing_ends_it(tmp_path):
    sessions = database(tmp_path)
    with sessions() as session:
        ada = session.get(Person, "ada")
        old = tokens.issue(ada)
        session.commit()
        assert len(old) >= 43 and ada.token_hash == tokens.digest(old)  # 256 bits, base64
        new = tokens.issue(ada)
        session.commit()
        assert tokens.holder(session, old) is None and tokens.holder(session, new).id == "ada"
        assert tokens.holder(session, "") is None
    assert old.encode() not in (tmp_path / "service.db").read_bytes()


def test_the_upload_check_is_batchs_and_speaks_to_students():
    assert files.why_not_a_notebook(b"", "CNN.ipynb").startswith("CNN.ipynb is empty. Save your notebook")
    assert "is a .zip file" in files.why_not_a_notebook(b"PK\x03\x04rest", "CNN.zip")
    assert "not valid JSON" in files.why_not_a_notebook(b"# README", "README.md")
    assert files.why_not_a_notebook((ROOT / "reference" / "CNN.ipynb").read_bytes(), "CNN.ipynb") == ""


def test_a_stored_file_is_the_uploaded_bytes(tmp_path):
    raw = (ROOT / "reference" / "CNN.ipynb").read_bytes()
    sha = files.store(tmp_path, raw)
    assert files.path_of(tmp_path, sha).read_bytes() == raw and files.store(tmp_path, raw) == sha
    assert [p.name for p in (tmp_path / "files").iterdir()] == [f"{sha}.ipynb"]  # no temporary file left
