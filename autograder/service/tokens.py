"""The secrets in the links: 256 random bits each, shown once when issued, kept only as a SHA-256 hash,
so that a copy of the database opens no one's page. Renewing one makes the old link stop working."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from .store import Person


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(person: Person) -> str:
    """A new secret for this person (the caller commits); the old one, if any, stops working."""
    token = secrets.token_urlsafe(32)
    person.token_hash = digest(token)
    return token


def holder(session: Session, token: str) -> Person | None:
    """Whose secret this is; None for an unknown, renewed or empty one."""
    if not token:
        return None
    return session.scalar(select(Person).where(Person.token_hash == digest(token)))
