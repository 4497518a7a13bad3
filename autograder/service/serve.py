"""`autograder serve` and `autograder links`: the service's folder, its roster and its links."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import waitress
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from .. import lms
from ..errors import SetupError
from ..settings import Assignment, GradingContext
from . import lti, lti_scores, queue, store, tokens
from .app import Limits, create_app
from .grader import Grader
from .store import INSTRUCTOR, STUDENT, Person


def open_folder(folder: Path, database: str | None) -> sessionmaker[Session]:
    """The service's database: the URL given, else the one `serve` used last in this folder, else SQLite."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    url = store.database_url(folder, database or store.load_settings(folder).get("database"))
    try:
        return store.connect(url)
    except Exception as exc:  # a wrong URL, a server that is down, a password refused
        raise SetupError(folder, f"cannot open the database ({type(exc).__name__}: {exc})") from None


def add_roster(sessions: sessionmaker[Session], roster: Path | None, folder: Path | None = None) -> int:
    """Add the roster's students not known yet (and the instructor); everyone known is kept as is. No roster
    is needed where an LMS is registered: its course's member list (LTI NRPS) brings the students."""
    with sessions() as session:
        known = set(session.scalars(select(Person.id)))
        added = 0
        if INSTRUCTOR not in known:
            session.add(Person(id=INSTRUCTOR, name="Instructor", role=INSTRUCTOR, roster={}))
        for own_id, entry in lms.roster_students(roster):
            if own_id and own_id not in known and own_id != INSTRUCTOR:
                session.add(Person(id=own_id, name=entry["name"], role=STUDENT,
                                   roster={k: v for k, v in entry.items() if k != "name"}))
                known.add(own_id)
                added += 1
        session.commit()
        students = session.scalar(select(Person.id).where(Person.role == STUDENT).limit(1))
    if students is None and not (folder and lti.platforms(folder)):
        raise SetupError(roster, "no students: give --roster, the LMS's CSV export with an id and a name column, "
                                 "or register the LMS first (autograder lti add-platform): the students then "
                                 "come from its course list when they open the assignment there")
    return added


def serve(folder: Path, *, roster: Path | None, host: str, port: int, database: str | None, cluster: str | None,
          workers: int, assignment: Assignment, context: GradingContext, limits: Limits, base_url: str | None, score_policy: str = "latest") -> None:
    folder = Path(folder)
    sessions = open_folder(folder, database)
    store.save_settings(folder, base_url=base_url or f"http://{host}:{port}",
                        **({"database": database} if database else {}))
    added = add_roster(sessions, roster, folder)
    again = queue.requeue_running(sessions)
    print(f"{added} students added from the roster; {again} submissions that were being graded when the "
          f"service stopped are queued again", flush=True)
    if roster is None and lti.platforms(folder):
        print("students not on a roster come from the LMS's course list when they open the assignment there",
              flush=True)
    grader = Grader(sessions, folder, assignment, context, cluster, workers, score_policy)
    grader.start()
    lti_scores.Poster(sessions, folder, store.load_settings(folder)["base_url"]).start()
    app = create_app(sessions, folder, grader, limits)
    print(f"serving {folder} on http://{host}:{port} (links: autograder links {folder})", flush=True)
    # Behind a reverse proxy on this machine, its X-Forwarded-Proto says whether the student used https
    # (the link's cookie is then sent over https only).
    # An upload far over the limit is cut off by waitress before it fills the disk; one just over it gets
    # the app's own answer (413 with a sentence).
    waitress.serve(app, host=host, port=port, threads=8, ident="autograder", _quiet=True,
                   max_request_body_size=2 * limits.max_bytes + 2**20,
                   trusted_proxy="127.0.0.1", trusted_proxy_headers={"x-forwarded-proto"},
                   clear_untrusted_proxy_headers=True)


def links(folder: Path, renew: tuple[str, ...], database: str | None) -> tuple[str, int]:
    """CSV student,name,token,url: a new link for everyone who has none (and for `renew`: ids, or 'all');
    the others' rows have no token, since only a hash of it is kept. Returns the text and how many those are."""
    sessions = open_folder(folder, database)
    base = store.load_settings(folder).get("base_url", "http://127.0.0.1:8000").rstrip("/")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["student", "name", "token", "url"])
    kept = 0
    with sessions() as session:
        people = session.scalars(select(Person).order_by(Person.role.desc(), Person.id)).all()  # students first
        unknown = set(renew) - {p.id for p in people} - {"all"}
        if unknown:
            raise SetupError(folder, f"no one with the id {', '.join(sorted(unknown))} (see `autograder links`)")
        for person in people:
            if person.token_hash is None or "all" in renew or person.id in renew:
                token = tokens.issue(person)
                writer.writerow([person.id, person.name, token, f"{base}/s/{token}"])
            else:
                writer.writerow([person.id, person.name, "", ""])
                kept += 1
        session.commit()
    return out.getvalue(), kept
