"""The service's database: who may submit, what they submitted, each attempt at grading it.

SQLite in the service's folder by default (WAL: readers never wait for the grader's writes), or any URL
SQLAlchemy reads (postgresql://...). The schema is created and upgraded by Alembic's migrations, shipped
inside the package, at every start."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (JSON, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint, create_engine,
                        delete,
                        event)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SETTINGS_FILE = "service.json"  # in DIR: the database's URL and the links' base URL, for `autograder links`

STUDENT, INSTRUCTOR = "student", "instructor"
QUEUED, RUNNING, GRADED, ERROR = "queued", "running", "graded", "error"


def now() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Person(Base):
    """A student from the roster, or the instructor (id 'instructor')."""

    __tablename__ = "people"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(300), default="")
    role: Mapped[str] = mapped_column(String(20), default=STUDENT)
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)  # sha256 of the link's secret
    roster: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # the roster's row (LMS ids, section, email)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class Submission(Base):
    """One uploaded notebook; its status is the queue (queued → running → graded | error)."""

    __tablename__ = "submissions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    student_id: Mapped[str] = mapped_column(ForeignKey("people.id"), index=True)
    filename: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))  # the stored file: DIR/files/SHA256.ipynb
    status: Mapped[str] = mapped_column(String(20), default=QUEUED, index=True)
    attempt: Mapped[int] = mapped_column(Integer, default=0)  # how many times grading it started
    score: Mapped[float | None] = mapped_column(Float)
    max_score: Mapped[float | None] = mapped_column(Float)
    percent: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text, default="")
    report: Mapped[str | None] = mapped_column(String(100))  # the reports' stem in DIR/reports
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    graded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Attempt(Base):
    """One start of grading a submission: a crash leaves it unfinished, and the next start is a new one."""

    __tablename__ = "attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(20))  # graded | error; None: never finished


class LtiMember(Base):
    """Who a person is in an LMS (LTI 1.3), and where their score goes: from their latest launch."""

    __tablename__ = "lti_members"
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id"), primary_key=True)
    issuer: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(200))
    user: Mapped[str] = mapped_column(String(300))  # the LMS's own id of the person (the launch's "sub")
    lineitem: Mapped[str | None] = mapped_column(String(1000))  # the gradebook column's URL (AGS)
    launched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    __table_args__ = (UniqueConstraint("issuer", "user"),)


class LtiScore(Base):
    """A score to post to the LMS's gradebook: a queue of its own, retried with backoff, never dropped."""

    __tablename__ = "lti_scores"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id"))
    score: Mapped[float] = mapped_column(Float)
    max_score: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)  # pending | sent
    tries: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LtiNonce(Base):
    """Each launch's nonce, once: the same launch sent again is refused."""

    __tablename__ = "lti_nonces"
    nonce: Mapped[str] = mapped_column(String(200), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


NONCE_KEPT = timedelta(days=1)  # far longer than any launch token is valid: an older one is refused as expired


def spend_nonce(session: Session, nonce: str) -> bool:
    """Record a launch's nonce; False when it was spent before (a replayed launch). Nonces older than
    NONCE_KEPT are forgotten on the way: their launches can no longer pass, so the table stays small."""
    session.execute(delete(LtiNonce).where(LtiNonce.used_at < now() - NONCE_KEPT))
    session.add(LtiNonce(nonce=nonce))
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return False
    return True


def database_url(folder: Path, url: str | None) -> str:
    """The URL SQLAlchemy needs: SQLite in the folder by default; postgresql:// is driven by psycopg 3."""
    if not url:
        return f"sqlite:///{Path(folder).resolve() / 'service.db'}"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_pragmas(connection: Any, _record: Any) -> None:  # the driver's (sqlite3) connection: DBAPI, untyped
    """WAL lets the pages read while the grader writes; FULL sync makes a commit survive a power cut."""
    cursor = connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=10000", "foreign_keys=ON"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def connect(url: str) -> sessionmaker[Session]:
    """A session factory on the database, its schema brought up to date first."""
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    migrate(engine)
    return sessionmaker(engine, expire_on_commit=False)


def migrate(engine: Engine) -> None:
    """Alembic's upgrade to the newest schema: creates the tables in a new database, changes an old one."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def save_settings(folder: Path, **values: str) -> None:
    """What `autograder links` needs to find the service again (the database may hold a password: 0600)."""
    path = Path(folder) / SETTINGS_FILE
    known = load_settings(folder)
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(json.dumps({**known, **values}, indent=2))


def load_settings(folder: Path) -> dict[str, str]:
    """{"database": its URL, "base_url": the links' base URL}, as save_settings left them."""
    try:
        settings: dict[str, str] = json.loads((Path(folder) / SETTINGS_FILE).read_text())
        return settings
    except FileNotFoundError:
        return {}
