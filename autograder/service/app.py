"""The web side: a JSON API (Authorization: Bearer TOKEN, or the cookie a link sets) and the pages.

Every answer that is not a success carries {"error": a sentence a student can act on}. Reports are the
grader's own self-contained HTML, served with a Content-Security-Policy that runs no script at all: a
notebook's outputs quoted in a report can never run in a student's browser."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn

from flask import (Flask, Response, abort, g, jsonify, make_response, redirect, render_template, request, send_file,
                   session)
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import HTTPException

from .. import gradebook, lms, locations, report
from ..words import counted
from . import classbook, files, lti, lti_scores, queue, tokens
from .grader import Grader
from .store import ERROR, GRADED, INSTRUCTOR, QUEUED, RUNNING, Person, Submission

COOKIE = "autograder_token"
PAGE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
               "frame-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
# A report: no script at all, nothing fetched but its own inline images and styles; shown only in our pages.
REPORT_POLICY = ("default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                 "frame-ancestors 'self'; base-uri 'none'; form-action 'none'; sandbox allow-same-origin")
STAGES = {RUNNING: "starting to grade your notebook", GRADED: "graded",
          ERROR: "could not be graded"}


@dataclass(frozen=True)
class Limits:
    """What one upload may be (settings of `autograder serve`)."""

    max_bytes: int = 20 * 2**20
    max_waiting: int = 3  # submissions of one student not graded yet
    lms_column: str | None = None  # default: the assignment's (rubric.column)
    lms_points: float | None = None


def create_app(sessions: sessionmaker[Session], folder: Path, grader: Grader, limits: Limits = Limits()) -> Flask:
    app = Flask(__name__, template_folder=str(locations.TEMPLATES), static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = limits.max_bytes + 2**16  # the form's own bytes on top of the file
    folder = Path(folder)
    rubric = grader.assignment.rubric
    lti.install(app, folder, rubric.column)

    @app.before_request
    def open_session() -> None:
        g.db = sessions()

    @app.teardown_request
    def close_session(_exc: BaseException | None) -> None:
        opened = g.pop("db", None)
        if opened is not None:
            opened.close()

    @app.after_request
    def policy(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", PAGE_POLICY)
        if session.get(lti.PERSON):  # opened from an LMS: its page shows ours (and the report in it) in an iframe
            ancestors = "frame-ancestors " + " ".join(["'self'", *lti.platform_origins(folder)])
            response.headers["Content-Security-Policy"] = re.sub(
                r"frame-ancestors [^;]*", ancestors, response.headers["Content-Security-Policy"])
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"  # a link's secret never leaves in a Referer
        return response

    @app.errorhandler(HTTPException)
    def as_json(exc: HTTPException) -> ResponseReturnValue:
        if exc.response is not None:  # fail(): the sentence is in it already
            return exc.response
        sentence = SENTENCES.get(exc.code, exc.description) if exc.code is not None else exc.description
        if exc.code == 413:
            sentence = SENTENCES[413].format(mb=limits.max_bytes / 2**20)
        answer = jsonify(error=sentence)
        return (answer, exc.code) if exc.code is not None else answer  # (no code: Flask's 200, as before)

    def visitor() -> Person | None:
        """Whose secret came with the request (the link's, or its cookie), else whom an LMS launch named."""
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else request.cookies.get(COOKIE, "")
        person = tokens.holder(db(), token)
        if person is None and session.get(lti.PERSON):
            person = db().get(Person, session[lti.PERSON])
        return person

    def caller() -> Person:
        """The visitor; 401 without a valid secret or launch."""
        person = visitor()
        if person is None:
            fail(401, "This link is not valid (it may have been renewed). Ask your teacher for your current link.")
        return person

    def instructor() -> Person:
        person = caller()
        if person.role != INSTRUCTOR:
            fail(403, "Only the instructor's link can see the whole class.")
        return person

    def own(submission_id: int, person: Person) -> Submission:
        sub = db().get(Submission, submission_id)
        if sub is None or (sub.student_id != person.id and person.role != INSTRUCTOR):
            fail(404, "There is no submission with that number among yours.")
        return sub

    def described(sub: Submission) -> dict[str, Any]:
        live = files.stage(folder, sub.id) if sub.status == RUNNING else None
        stage = live or STAGES.get(sub.status) or waiting_line(queue.ahead_of(db(), sub))
        return {"id": sub.id, "status": sub.status, "stage": stage, "filename": sub.filename,
                "score": sub.score, "max_score": sub.max_score, "percent": sub.percent, "reason": sub.reason,
                "report_url": f"/reports/{sub.id}" if sub.report else None,
                "submitted_at": iso(sub.submitted_at), "graded_at": iso(sub.graded_at)}

    # ------------------------------------------------------------ API

    @app.get("/api/health")
    def health() -> ResponseReturnValue:
        counts = dict(db().execute(select(Submission.status, func.count()).where(
            Submission.status.in_((QUEUED, RUNNING))).group_by(Submission.status)).all())
        body = {"ok": not grader.problem, "queued": counts.get(QUEUED, 0), "running": counts.get(RUNNING, 0),
                "grading": grader.ready.is_set(), "problem": grader.problem}
        return jsonify(body), 503 if grader.problem else 200

    @app.post("/api/submissions")
    def submit() -> ResponseReturnValue:
        person = caller()
        upload = request.files.get("notebook")
        if upload is None:
            fail(400, f"No file came with the upload. Choose your {rubric.notebook} and send it again.")
        name = Path((upload.filename or "").replace("\\", "/")).name[:200] or rubric.notebook
        raw = upload.read(limits.max_bytes + 1)
        if len(raw) > limits.max_bytes:
            abort(413)
        why = files.why_not_a_notebook(raw, name, rubric.notebook)
        if why:
            fail(422, why.rstrip(".") + ". Nothing was submitted.")
        if queue.waiting(db(), person.id) >= limits.max_waiting:
            fail(429, f"You already have {limits.max_waiting} submissions waiting to be graded. Wait for one "
                      "to finish, then upload again.")
        sha = files.store(folder, raw)  # on the disk for good before the row that points at it
        sub = Submission(student_id=person.id, filename=name, sha256=sha)
        db().add(sub)
        db().commit()
        grader.wake()
        return jsonify(id=sub.id, status=sub.status, url=f"/api/submissions/{sub.id}"), 202

    @app.get("/api/submissions")
    def mine() -> ResponseReturnValue:
        person = caller()
        subs = db().scalars(select(Submission).where(Submission.student_id == person.id)
                            .order_by(Submission.id.desc())).all()
        return jsonify(student=person.id, name=person.name, role=person.role,
                       submissions=[described(s) for s in subs])

    @app.get("/api/submissions/<int:submission_id>")
    def one(submission_id: int) -> ResponseReturnValue:
        return jsonify(described(own(submission_id, caller())))

    def regraded(subs: list[Submission]) -> ResponseReturnValue:
        """These submissions queued again, and the grader told at once."""
        queued = queue.regrade(db(), subs)
        db().commit()
        grader.wake()
        return jsonify(queued=queued), 202

    @app.post("/api/submissions/<int:submission_id>/regrade")
    def regrade_one(submission_id: int) -> ResponseReturnValue:
        return regraded([own(submission_id, instructor())])

    @app.post("/api/class/regrade")
    def regrade_all() -> ResponseReturnValue:
        instructor()
        return regraded([sub for _, sub in classbook.chosen(db(), "latest") if sub])

    @app.get("/api/class")
    def whole_class() -> ResponseReturnValue:
        instructor()
        views = {which: classbook.summary(folder, classbook.chosen(db(), which), rubric)
                 for which in ("latest", "best")}
        best = {row["student"]: row for row in views["best"]["rows"]}
        check_ids = list(rubric.check_ids)
        columns = gradebook.GRADEBOOK_COLUMNS + check_ids
        students = [{"student": row["student"], "name": row["name"],
                     "latest": dict(zip(columns, gradebook.gradebook_row(row, check_ids))),
                     "best": dict(zip(columns, gradebook.gradebook_row(best[row["student"]], check_ids))),
                     "latest_submission": row["submission"], "best_submission": best[row["student"]]["submission"],
                     "waiting": queue.waiting(db(), row["student"])}
                    for row in views["latest"]["rows"]]
        latest = views["latest"]
        return jsonify(columns=columns, students=students, graded=latest["graded"], errors=latest["errors"],
                       mean=latest["mean"], files={name: f"/api/class/{name}" for name in
                                                   ("gradebook.csv", *classbook.LMS_FILES.values())},
                       summary="/class", lti_pending=lti_scores.pending(db()))

    @app.get("/api/class/<name>")
    def class_file(name: str) -> ResponseReturnValue:
        instructor()
        if name not in ("gradebook.csv", *classbook.LMS_FILES.values()):
            fail(404, "There is no such file: gradebook.csv, canvas.csv and moodle.csv are.")
        made = classbook.summary(folder, classbook.chosen(db(), "best"), rubric)
        scale = lms.Scale(rubric.max_points, limits.lms_points or rubric.max_points)
        out = classbook.write_files(folder, made, limits.lms_column or rubric.column, scale)
        return send_file(out / name, mimetype="text/csv", as_attachment=True, download_name=name)

    # ------------------------------------------------------------ pages and reports

    @app.get("/s/<token>")
    def arrive(token: str) -> ResponseReturnValue:
        """The link from `autograder links`: keep the secret in a cookie only this site reads, and show
        the page without the secret in the address bar (nor in the history, nor in a shared screenshot)."""
        if tokens.holder(db(), token) is None:
            return render_template("service_unknown.html.j2"), 401
        response = redirect("/")
        response.set_cookie(COOKIE, token, max_age=180 * 86400, httponly=True, samesite="Strict",
                            secure=request.is_secure)
        return response

    @app.get("/")
    def home() -> ResponseReturnValue:
        person = visitor()
        if person is None:
            return render_template("service_unknown.html.j2"), 401
        page = "service_instructor.html.j2" if person.role == INSTRUCTOR else "service_student.html.j2"
        return render_template(page, person=person, max_mb=limits.max_bytes / 2**20, notebook=rubric.notebook)

    @app.get("/static/<name>")
    def static_file(name: str) -> ResponseReturnValue:
        if name not in ("service.js",):
            abort(404)
        return send_file(locations.TEMPLATES / name, mimetype="text/javascript")

    @app.get("/reports/<int:submission_id>")
    def report_page(submission_id: int) -> ResponseReturnValue:
        person = caller()
        sub = own(submission_id, person)
        if not sub.report:
            fail(404, "This submission has no report yet: it is still waiting or being graded.")
        kind = "instructor" if request.args.get("for") == "instructor" and person.role == INSTRUCTOR else "report"
        response = make_response(send_file(folder / "reports" / f"{sub.report}.{kind}.html", mimetype="text/html"))
        response.headers["Content-Security-Policy"] = REPORT_POLICY
        return response

    @app.get("/class")
    def class_page() -> ResponseReturnValue:
        instructor()
        made = classbook.summary(folder, classbook.chosen(db(), "latest"), rubric)
        html = report.render_class(made)
        response = make_response(html)
        # The page's own sorting script runs (allowed by its hash); nothing else can.
        response.headers["Content-Security-Policy"] = REPORT_POLICY.replace(
            "script-src 'none'", "script-src " + " ".join(script_hashes(html))).replace(
            " sandbox allow-same-origin", "")
        return response

    return app


SENTENCES: dict[int, str] = {
    400: "The request was not understood.",
    404: "There is nothing at this address.",
    405: "This address does not accept that kind of request.",
    413: "This file is larger than {mb:g} MB, far larger than a notebook. Clear the outputs in Jupyter "
         "(Edit → Clear All Outputs), save, and upload it again.",
}


def fail(code: int, sentence: str) -> NoReturn:
    """Stop the request with this status and a sentence for the person who sent it."""
    response = jsonify(error=sentence)
    response.status_code = code
    if code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="autograder"'
    abort(response)


def waiting_line(ahead: int) -> str:
    return "next in line for a free grader" if not ahead else f"waiting: {counted(ahead, 'submission')} ahead of yours"


def db() -> Session:
    """This request's database session (opened before the request, closed after it)."""
    current: Session = g.db
    return current


def iso(moment: datetime | None) -> str | None:
    """UTC, ISO 8601 (SQLite hands the time back without its zone)."""
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).isoformat(timespec="seconds")


def script_hashes(html: str) -> list[str]:
    """CSP source expressions for each inline script of a page the grader wrote itself."""
    return [f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
            for body in re.findall(r"<script>(.*?)</script>", html, flags=re.S)]
