"""The queue is the database: a submission's status is its place in the queue.

queued → running (claim: one atomic UPDATE that only one claimer can win, and a new Attempt row)
→ graded | error (complete: written only while the row is still running under the same attempt, so a
grade that outlived a restart is dropped, never counted twice). At start, whatever a crash left running
goes back to queued and is graded again from the start."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import func, select, update
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.orm import Session, sessionmaker

from . import lti_scores
from .store import ERROR, GRADED, QUEUED, RUNNING, Attempt, Submission, now


@dataclass(frozen=True)
class Claim:
    """A submission taken off the queue: what the grader needs to grade it and to record the result."""

    id: int
    attempt: int
    filename: str
    sha256: str


def _changed(result: Result[Any]) -> int:
    """How many rows an UPDATE changed. Session.execute is typed as giving a Result; for an UPDATE it is a
    CursorResult, which carries rowcount (the cast SQLAlchemy's documentation gives for this)."""
    return cast(CursorResult[Any], result).rowcount


def waiting(session: Session, student_id: str) -> int:
    """How many of this student's submissions are not graded yet."""
    return session.scalar(select(func.count()).select_from(Submission).where(
        Submission.student_id == student_id, Submission.status.in_((QUEUED, RUNNING)))) or 0  # (a count: never None)


def ahead_of(session: Session, submission: Submission) -> int:
    """How many queued submissions will be started before this one."""
    return session.scalar(select(func.count()).select_from(Submission).where(
        Submission.status == QUEUED, Submission.id < submission.id)) or 0  # (a count: never None)


def claim(sessions: sessionmaker[Session], limit: int) -> list[Claim]:
    """Take up to `limit` queued submissions, oldest first, each won by one claimer only."""
    claims = []
    with sessions() as session:
        candidates = session.scalars(select(Submission.id).where(Submission.status == QUEUED)
                                     .order_by(Submission.id).limit(limit)).all()
        for sid in candidates:
            won = session.execute(update(Submission).where(Submission.id == sid, Submission.status == QUEUED)
                                  .values(status=RUNNING, attempt=Submission.attempt + 1, started_at=now()))
            if _changed(won) != 1:
                continue  # another claimer took it first
            row = session.get(Submission, sid, populate_existing=True)
            if row is None:  # (this transaction has just updated it)
                raise ValueError(f"submission {sid} vanished while it was claimed")
            session.add(Attempt(submission_id=sid, number=row.attempt))
            claims.append(Claim(sid, row.attempt, row.filename, row.sha256))
        session.commit()
    return claims


def complete(sessions: sessionmaker[Session], claim: Claim, result: dict[str, Any], report: str, score_policy: str = "latest") -> bool:
    """Record the result if this attempt still owns the submission; False when it no longer does. A score
    for an LMS is queued in the same transaction (lti_scores), so a grade never misses the gradebook."""
    status = GRADED if result["status"] == "graded" else ERROR
    with sessions() as session:
        done = session.execute(update(Submission).where(
            Submission.id == claim.id, Submission.status == RUNNING, Submission.attempt == claim.attempt).values(
            status=status, score=result.get("score"), max_score=result.get("max_score"),
            percent=result.get("percent"), reason=result.get("reason") or "", report=report, graded_at=now()))
        if _changed(done) != 1:
            session.rollback()
            return False
        session.execute(update(Attempt).where(Attempt.submission_id == claim.id, Attempt.number == claim.attempt)
                        .values(finished_at=now(), outcome=status))
        lti_scores.enqueue(session, claim.id, score_policy)
        session.commit()
    return True


def requeue_running(sessions: sessionmaker[Session]) -> int:
    """At start: what was running when the service stopped is queued again, to be graded from the start."""
    with sessions() as session:
        count = _changed(session.execute(update(Submission).where(Submission.status == RUNNING)
                                         .values(status=QUEUED, started_at=None)))
        session.commit()
    return count


def regrade(session: Session, submissions: list[Submission]) -> int:
    """Queue these again (the caller commits); one being graded right now is left to finish."""
    again = [s for s in submissions if s.status in (GRADED, ERROR)]
    for s in again:
        s.status, s.started_at = QUEUED, None
    return len(again)
