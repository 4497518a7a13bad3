"""The service's store, queue and tokens on a real SQLite database, without kernels (the fast layer): the
rules that make kill -9 safe, each on its own."""

from __future__ import annotations

from sqlalchemy import select, update

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


# ---------------------------------------------------------------- LTI: the score queue and the tool's folder

def test_lti_the_migrations_make_exactly_the_models_tables(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    sessions = database(tmp_path)
    with sessions() as session:
        assert compare_metadata(MigrationContext.configure(session.connection()), store.Base.metadata) == []


def test_lti_a_grade_queues_the_score_only_for_a_student_who_came_from_an_lms(tmp_path):
    from autograder.service.store import LtiMember, LtiScore

    sessions = database(tmp_path)
    with sessions() as session:
        session.add(LtiMember(person_id="ada", issuer="https://lms.school.edu", client_id="c", user="u-1",
                              lineitem="https://lms.school.edu/lineitems/1"))
        session.commit()
    ada, ben = queued(sessions, "ada"), queued(sessions, "ben")
    for claim, score in zip(queue.claim(sessions, 2), (70, 60)):
        assert queue.complete(sessions, claim, result(score), f"{claim.id}-1")
    later = queued(sessions, "ada")
    (claim,) = queue.claim(sessions, 1)
    assert queue.complete(sessions, claim, result(50), f"{later}-1", score_policy="best")
    with sessions() as session:
        rows = session.scalars(select(LtiScore).order_by(LtiScore.id)).all()
        assert [(r.submission_id, r.person_id, r.score, r.status) for r in rows] == [
            (ada, "ada", 70, "pending"), (later, "ada", 70, "pending")]  # "best": 70, not the latest 50
    assert ben  # ben has no LMS: graded, nothing queued


def test_lti_a_score_the_lms_does_not_take_waits_longer_each_time_and_stays(tmp_path):
    from autograder.service import lti_scores
    from autograder.service.store import LtiMember, LtiScore, now

    sessions = database(tmp_path)
    with sessions() as session:  # an LMS the folder does not know (never registered): every post fails
        session.add(LtiMember(person_id="ada", issuer="https://gone.school.edu", client_id="c", user="u-1",
                              lineitem="https://gone.school.edu/lineitems/1"))
        session.add(LtiScore(submission_id=queued(sessions), person_id="ada", score=80, max_score=100))
        session.commit()
    waits = []
    for _ in range(3):
        with sessions() as session:
            session.execute(LtiScore.__table__.update().values(next_try_at=now()))  # due now
            session.commit()
        assert lti_scores.post_due(sessions, tmp_path, "https://grader.school.edu") == 0
        with sessions() as session:
            row = session.scalar(select(LtiScore))
            next_try = row.next_try_at.replace(tzinfo=now().tzinfo)
            waits.append(round((next_try - now()).total_seconds()))
            assert row.status == "pending" and "no longer registered" in row.last_error
    assert waits == [5, 10, 20] and row.tries == 3
    with sessions() as session:
        assert [p["student"] for p in lti_scores.pending(session)] == ["ada"]


def test_lti_add_platform_checks_its_addresses_and_makes_the_keys_once(tmp_path):
    import pytest

    from autograder.errors import SetupError
    from autograder.service import lti

    good = dict(issuer="https://lms.school.edu", client_id="c1", auth_url="https://lms.school.edu/auth",
                token_url="https://lms.school.edu/token", jwks_url="https://lms.school.edu/jwks", deployment_id="d1")
    with pytest.raises(SetupError, match="--token-url must be the LMS's full address"):
        lti.add_platform(tmp_path, **{**good, "token_url": "lms.school.edu/token"})
    lti.add_platform(tmp_path, **good)
    key = (tmp_path / "lti" / "private.pem").read_bytes()
    lti.add_platform(tmp_path, **{**good, "deployment_id": "d2"})  # a second deployment of the same tool
    assert (tmp_path / "lti" / "private.pem").read_bytes() == key
    assert (tmp_path / "lti" / "private.pem").stat().st_mode & 0o077 == 0  # the tool's secret: the owner's only
    assert lti.platforms(tmp_path)["https://lms.school.edu"][0]["deployment_ids"] == ["d1", "d2"]
    assert lti.platform_origins(tmp_path) == ["https://lms.school.edu"]


def test_lti_a_nonce_is_spent_once_and_forgotten_when_no_launch_could_use_it_again(tmp_path):
    from datetime import timedelta

    sessions = database(tmp_path)
    with sessions() as session:
        assert store.spend_nonce(session, "first") and store.spend_nonce(session, "second")
        session.commit()
        assert not store.spend_nonce(session, "first")  # a replayed launch
        session.execute(update(store.LtiNonce).where(store.LtiNonce.nonce == "second")
                        .values(used_at=store.now() - store.NONCE_KEPT - timedelta(minutes=1)))
        session.commit()
        assert store.spend_nonce(session, "third")
        session.commit()
        assert sorted(session.scalars(select(store.LtiNonce.nonce))) == ["first", "third"]


def test_lti_the_courses_members_join_the_roster_once_and_its_staff_never(tmp_path):
    """NRPS: the LMS's member list adds its learners as the roster's CSV would, linked to their LMS ids; a
    student already on the roster (by SIS id or e-mail) is linked, and a second read adds no one."""
    from autograder.service import lti
    from autograder.service.store import LtiMember

    learner = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
    members = [
        {"user_id": "u-1", "roles": [learner], "name": "Ada Lovelace", "email": "ada@school.edu"},
        {"user_id": "u-2", "roles": [learner], "name": "Cy Twombly", "email": "cy@school.edu",
         "lis_person_sourcedid": "S-3"},
        {"user_id": "u-3", "roles": ["Learner"], "given_name": "Di", "family_name": "Ng", "email": "di@school.edu"},
        {"user_id": "u-4", "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"],
         "name": "Tess Cher", "email": "tess@school.edu"},
        {"user_id": "u-5", "roles": [learner, "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor"
                                             "#TeachingAssistant"], "name": "Tao A"},
        {"user_id": "u-6", "roles": [learner], "status": "Inactive", "name": "Gone Away"},
        {"user_id": "u-7", "roles": [learner, "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Instructor"],
         "name": "Ed Wu", "email": "ed@school.edu"},  # teaches elsewhere in the school, learns here
    ]
    sessions = database(tmp_path, "id,name,email\nada,Ada Lovelace,ada@school.edu\nben,Ben Okri,ben@school.edu\n")
    with sessions() as session:
        assert lti.add_members(session, "https://lms.school.edu", "c", members) == 3
        session.commit()
        assert lti.add_members(session, "https://lms.school.edu", "c", members) == 0  # the next read
        session.commit()
        people = {p.id: p for p in session.scalars(select(Person).where(Person.role == "student"))}
        links = {m.user: m.person_id for m in session.scalars(select(LtiMember))}
    assert sorted(people) == ["S-3", "ada", "ben", "di@school.edu", "ed@school.edu"]
    assert links == {"u-1": "ada", "u-2": "S-3", "u-3": "di@school.edu", "u-7": "ed@school.edu"}
    assert people["S-3"].name == "Cy Twombly" and people["di@school.edu"].name == "Di Ng"
    assert people["S-3"].roster == {"sis_user_id": "S-3", "sis_login_id": "", "section": "",
                                    "email": "cy@school.edu", "canvas_id": "", "moodle_participant": ""}


def test_lti_a_service_with_an_lms_may_start_without_a_roster(tmp_path):
    import pytest

    from autograder.errors import SetupError
    from autograder.service import lti

    sessions = serve.open_folder(tmp_path, None)
    with pytest.raises(SetupError, match="give --roster.*or register the LMS first"):
        serve.add_roster(sessions, None, tmp_path)
    lti.add_platform(tmp_path, issuer="https://lms.school.edu", client_id="c1", auth_url="https://lms.school.edu/a",
                     token_url="https://lms.school.edu/t", jwks_url="https://lms.school.edu/j", deployment_id="d1")
    assert serve.add_roster(sessions, None, tmp_path) == 0  # its course's member list brings the students
