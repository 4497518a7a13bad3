"""Scores on their way to the LMS's gradebook (LTI Assignment and Grade Services).

A graded submission of a student who came through an LMS adds a row to lti_scores in the same transaction
that records the grade, so a score is never lost. A thread posts the rows that are due through pylti1p3next
(which gets the OAuth token from the LMS with the tool's key); a failure is tried again later, waiting twice
as long each time (at most an hour), until the LMS takes it."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pylti1p3.assignments_grades import AssignmentsGradesService
from pylti1p3.grade import Grade
from pylti1p3.service_connector import ServiceConnector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from . import lti
from .store import GRADED, LtiMember, LtiScore, Submission, now

log = logging.getLogger("autograder.service.lti")

PENDING, SENT = "pending", "sent"
FIRST_WAIT_S, LONGEST_WAIT_S = 5, 3600
POLICIES = ("latest", "best")


def enqueue(session: Session, submission_id: int, policy: str = "latest") -> None:
    """In the grade's own transaction: queue the score for the LMS if the student came from one."""
    sub = session.get(Submission, submission_id)
    if sub is None:  # complete() has just updated it, in this transaction
        raise ValueError(f"no submission {submission_id} to queue a score for")
    member = session.get(LtiMember, sub.student_id)
    if sub.status != GRADED or sub.score is None or member is None or not member.lineitem:
        return
    score = sub.score
    if policy == "best":
        best = session.scalar(select(func.max(Submission.score)).where(
            Submission.student_id == sub.student_id, Submission.status == GRADED))
        if best is not None:  # (never None: this graded submission with its score is among them)
            score = best
    session.add(LtiScore(submission_id=sub.id, person_id=sub.student_id, score=score, max_score=sub.max_score))


def pending(session: Session) -> list[dict[str, Any]]:
    """The scores the LMS has not taken yet, for the instructor's page."""
    rows = session.scalars(select(LtiScore).where(LtiScore.status == PENDING).order_by(LtiScore.id)).all()
    return [{"student": r.person_id, "submission": r.submission_id, "score": r.score, "tries": r.tries,
             "last_error": r.last_error} for r in rows]


class Connector(ServiceConnector):
    """pylti1p3's connection to an LMS's services, its OAuth tokens kept until they expire: per LMS and
    client id (the library's Flask one keeps them per scope only, which would mix two LMSs' tokens)."""

    tokens: dict[tuple[str | None, str | None, str], tuple[str, datetime]] = {}

    def _key(self, scope_key: str) -> tuple[str | None, str | None, str]:  # (issuer, client id, scope)
        return self._registration.get_issuer(), self._registration.get_client_id(), scope_key

    def _get_cached_access_token(self, scope_key: str) -> str | None:
        token, until = self.tokens.get(self._key(scope_key), (None, now()))
        return token if until > now() else None

    def _cache_access_token(self, scope_key: str, access_token: str, expires_in: float) -> None:
        self.tokens[self._key(scope_key)] = access_token, now() + timedelta(seconds=expires_in - 60)


def post(folder: Path, member: LtiMember, row: LtiScore, report_url: str) -> None:
    """One score to the line item of the student's launch; raises when the LMS does not take it."""
    registration = lti.registration(folder, member.issuer, member.client_id)
    if registration is None:
        raise RuntimeError(f"the LMS {member.issuer} is no longer registered (autograder lti add-platform)")
    if not member.lineitem:  # (enqueue queues a score only for a member with one, and a launch never drops it)
        raise RuntimeError(f"the LMS gave {member.person_id} no gradebook column to post to")
    grades = AssignmentsGradesService(Connector(registration),
                                      {"scope": [lti.SCORE_SCOPE], "lineitem": member.lineitem})
    grade = (Grade().set_score_given(row.score).set_score_maximum(row.max_score).set_user_id(member.user)
             .set_activity_progress("Completed").set_grading_progress("FullyGraded")
             .set_timestamp(now().isoformat()).set_comment(f"Graded by the CNN autograder. Report: {report_url}"))
    grades.put_grade(grade)


def post_due(sessions: sessionmaker[Session], folder: Path, base_url: str) -> int:
    """Post every score that is due; returns how many the LMS took."""
    taken = 0
    with sessions() as session:
        due = session.scalars(select(LtiScore).where(LtiScore.status == PENDING, LtiScore.next_try_at <= now())
                              .order_by(LtiScore.id)).all()
        for row in due:
            member = session.get(LtiMember, row.person_id)
            row.tries += 1
            try:
                if member is None:  # (enqueue queues a score only for a member, and none is ever deleted)
                    raise RuntimeError(f"{row.person_id} is no longer known to come from an LMS")
                post(folder, member, row, f"{base_url.rstrip('/')}/reports/{row.submission_id}")
            except Exception as exc:  # the LMS is down, refuses the token, ...: try again later
                wait = min(FIRST_WAIT_S * 2 ** (row.tries - 1), LONGEST_WAIT_S)
                row.next_try_at, row.last_error = now() + timedelta(seconds=wait), f"{type(exc).__name__}: {exc}"
                log.warning("score %s for %s not taken by the LMS (try %s, again in %s s): %s",
                            row.id, row.person_id, row.tries, wait, exc)
            else:
                row.status, row.sent_at, row.last_error = SENT, now(), ""
                taken += 1
            session.commit()
    return taken


class Poster:
    """The thread that posts scores: every few seconds, whatever is due."""

    def __init__(self, sessions: sessionmaker[Session], folder: Path, base_url: str, every_s: float = 2.0) -> None:
        self.sessions, self.folder, self.base_url, self.every_s = sessions, Path(folder), base_url, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lti-scores", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                post_due(self.sessions, self.folder, self.base_url)
            except Exception:  # the database went away: said in the log, tried again next round
                log.exception("posting scores stopped for a round")
