"""LTI 1.3: the service as a tool of the school's LMS (Canvas, Moodle, ...), on pylti1p3next.

A student clicks the assignment in their course; the LMS sends them through /lti/login and /lti/launch,
signed with its key; the launch names them, and they land on their own page without any link. The tool's
own key pair (for the scores it posts, and for Deep Linking) is made once in DIR/lti/ and never changes:
the LMS keeps its public half through /lti/jwks. The LMSs it trusts are in DIR/lti/platforms.json,
written by `autograder lti add-platform`. Where the LMS offers the course's member list (NRPS), its
learners join the roster, so that a course needs no roster CSV."""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlparse

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, Response, g, make_response, redirect, render_template, request, session
from flask.typing import ResponseReturnValue
# From the modules that define them: pylti1p3.contrib.flask re-exports them without __all__, which a typed
# package's consumer may not rely on (mypy's implicit re-export rule).
from pylti1p3.contrib.flask.message_launch import FlaskMessageLaunch
from pylti1p3.contrib.flask.oidc_login import FlaskOIDCLogin
from pylti1p3.contrib.flask.request import FlaskRequest
from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.exception import LtiException, OIDCException, ToolConfException
from pylti1p3.lineitem import LineItem
from pylti1p3.registration import Registration
from pylti1p3.tool_config.dict import TIssConf, ToolConfDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import SetupError
from . import store
from .store import INSTRUCTOR, STUDENT, LtiMember, Person, now

log = logging.getLogger("autograder.service.lti")

PERSON = "lti_person"  # the Flask session's key: whom the launch named
SCORE_SCOPE: Final = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
AGS_CLAIM: Final = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
LIS_CLAIM: Final = "https://purl.imsglobal.org/spec/lti/claim/lis"
NRPS_SCOPE: Final = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"  # the course's members
# {issuer: [{"client_id", "deployment_ids", "default", "auth_login_url", "auth_token_url", "key_set_url"}]}
Platforms = dict[str, list[TIssConf]]


# ------------------------------------------------------------ the tool's folder: keys and platforms

def folder_of(service: Path) -> Path:
    return Path(service) / "lti"


def tool_keys(service: Path) -> tuple[str, str]:
    """(private, public) PEM of the tool's key pair: made on first use, then the same for good."""
    here = folder_of(service)
    private, public = here / "private.pem", here / "public.pem"
    if not private.exists():
        here.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo))
        private.touch(mode=0o600)
        private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    return private.read_text(), public.read_text()


def session_secret(service: Path) -> str:
    """The key that signs the launch's cookie: made once, kept in the folder (0600)."""
    path = folder_of(service) / "secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(32))
    return path.read_text()


def platforms(service: Path) -> Platforms:
    """{issuer: [registration, ...]} as pylti1p3's ToolConfDict reads it; {} before any add-platform."""
    try:
        known: Platforms = json.loads((folder_of(service) / "platforms.json").read_text())
        return known  # as add_platform wrote it
    except FileNotFoundError:
        return {}


def add_platform(service: Path, *, issuer: str, client_id: str, auth_url: str, token_url: str, jwks_url: str,
                 deployment_id: str) -> None:
    """Trust this LMS: a launch from it, with this client id and deployment, opens the service."""
    for name, url in (("--auth-url", auth_url), ("--token-url", token_url), ("--jwks-url", jwks_url)):
        if urlparse(url).scheme not in ("http", "https") or not urlparse(url).netloc:
            raise SetupError(service, f"{name} must be the LMS's full address (https://...), not {url!r}")
    known = platforms(service)
    entries = known.setdefault(issuer, [])
    entry = next((e for e in entries if e["client_id"] == client_id), None)
    if entry is None:
        entry = {"client_id": client_id, "deployment_ids": [], "default": not entries}
        entries.append(entry)
    entry.update({"auth_login_url": auth_url, "auth_token_url": token_url, "key_set_url": jwks_url})
    if deployment_id not in entry["deployment_ids"]:
        entry["deployment_ids"].append(deployment_id)
    tool_keys(service)  # made now, so that `lti config` and the LMS see the same key from the start
    folder_of(service).mkdir(parents=True, exist_ok=True)
    (folder_of(service) / "platforms.json").write_text(json.dumps(known, indent=2))


def tool_conf(service: Path) -> ToolConfDict:
    """pylti1p3's view of the platforms, with the tool's keys; read at each launch, so that a platform
    added while the service runs is trusted at once."""
    # A copy, typed as ToolConfDict's own TJsonData (a dict's value type is invariant).
    conf = ToolConfDict({issuer: entries for issuer, entries in platforms(service).items()})
    private, public = tool_keys(service)
    for issuer, entries in platforms(service).items():
        for entry in entries:
            conf.set_private_key(issuer, private, client_id=entry["client_id"])
            conf.set_public_key(issuer, public, client_id=entry["client_id"])
    return conf


def registration(service: Path, issuer: str, client_id: str) -> Registration | None:
    """The LMS's registration, or None when it is no longer in platforms.json."""
    try:
        found: Registration = tool_conf(service).find_registration_by_params(issuer, client_id)  # (unannotated)
        return found
    except ToolConfException:
        return None


def platform_origins(service: Path) -> list[str]:
    """The LMSs' own sites, which may show our pages in their iframe."""
    origins: set[str] = set()
    for entries in platforms(service).values():
        for entry in entries:
            parts = urlparse(entry["auth_login_url"])
            origins.add(f"{parts.scheme}://{parts.netloc}")
    return sorted(origins)


# ------------------------------------------------------------ what the LMS admin pastes

def config(service: Path, base_url: str) -> dict[str, Any]:
    """Canvas's developer key (JSON) and Moodle's tool settings, for this service at base_url."""
    base = base_url.rstrip("/")
    _, public = tool_keys(service)
    jwk = Registration.get_jwk(public)
    host = urlparse(base).netloc
    canvas = {
        "title": "CNN autograder", "description": "Grades the CNN notebook; the score goes to the gradebook.",
        "oidc_initiation_url": f"{base}/lti/login", "target_link_uri": f"{base}/lti/launch",
        "public_jwk_url": f"{base}/lti/jwks",
        "scopes": [SCORE_SCOPE, "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
                   "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly", NRPS_SCOPE],
        "extensions": [{"domain": host, "platform": "canvas.instructure.com", "privacy_level": "public",
                        "settings": {"placements": [  # the assignment's picker: Deep Linking
                            {"placement": "assignment_selection", "message_type": "LtiDeepLinkingRequest",
                             "target_link_uri": f"{base}/lti/launch"},
                            {"placement": "link_selection", "message_type": "LtiDeepLinkingRequest",
                             "target_link_uri": f"{base}/lti/launch"}]}}],
        "custom_fields": {},
    }
    moodle = {"Tool URL": f"{base}/lti/launch", "LTI version": "LTI 1.3", "Public key type": "Keyset URL",
              "Public keyset": f"{base}/lti/jwks", "Initiate login URL": f"{base}/lti/login",
              "Redirection URI(s)": f"{base}/lti/launch", "Supports Deep Linking (Content-Item Message)": "yes",
              "Content Selection URL": f"{base}/lti/launch",
              "IMS LTI Assignment and Grade Services": "Use this service for grade sync and column management",
              "IMS LTI Names and Role Provisioning": "Use this service to retrieve members' information as per "
                                                      "privacy settings",
              "Share launcher's name with tool": "Always", "Share launcher's email with tool": "Always"}
    return {"canvas": canvas, "moodle": moodle, "jwk": jwk}


# ------------------------------------------------------------ who the launch names

def person_of(db: Session, launch: Mapping[str, Any], teaching: bool) -> Person | None:
    """The roster's person the LMS user is: known by an earlier launch, else found by the roster's SIS id,
    login or e-mail. The course's instructor (`teaching`: pylti1p3next's reading of the roles, which
    ignores an instructor role held elsewhere in the school) opens the instructor's page. None: not on
    the roster."""
    if teaching:
        return db.get(Person, INSTRUCTOR)
    lis = launch.get(LIS_CLAIM, {})
    return matched(db, launch["iss"], launch["sub"],
                   (lis.get("person_sourcedid"), launch.get("email"), launch.get("preferred_username")))


def matched(db: Session, issuer: str, user: str, bridges: Iterable[str | None]) -> Person | None:
    """The student this LMS user is: linked by their LMS id, else the one whose roster id, SIS ids or
    e-mail is one of `bridges` (the LMS's SIS id, e-mail, login)."""
    known = db.scalar(select(LtiMember).where(LtiMember.issuer == issuer, LtiMember.user == user))
    if known:
        return db.get(Person, known.person_id)
    wanted = {v.strip().lower() for v in bridges if v}
    for person in db.scalars(select(Person).where(Person.role == STUDENT)):
        own = {person.id.lower()} | {str(person.roster.get(k, "")).strip().lower()
                                     for k in ("sis_user_id", "sis_login_id", "email")}
        if wanted & (own - {""}):
            return person
    return None


def remember(db: Session, person: Person, launch: Mapping[str, Any], client_id: str) -> None:
    """Keep who they are in the LMS and where their score goes (the launch's line item, if it may post)."""
    ags = launch.get(AGS_CLAIM, {})
    lineitem = ags.get("lineitem") if SCORE_SCOPE in ags.get("scope", []) else None
    member = db.get(LtiMember, person.id) or LtiMember(person_id=person.id)
    member.issuer, member.client_id, member.user = launch["iss"], client_id, launch["sub"]
    member.lineitem = lineitem or member.lineitem
    member.launched_at = now()
    db.add(member)


# ------------------------------------------------------------ the course's members (NRPS)

NRPS_CLAIM: Final = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
READ_EVERY: Final = timedelta(minutes=2)  # the most often one course's member list is read from the LMS
STAFF: Final = ("Instructor", "Administrator", "ContentDeveloper", "Mentor")  # a TA's role holds "Instructor"


def is_learner(member: Mapping[str, Any]) -> bool:
    """An active student of the course: a Learner role and none of its staff's (roles held elsewhere in the
    school, institution or system roles, do not count)."""
    roles = [r for r in member.get("roles", []) if "/institution/" not in r and "/system/" not in r]
    return (member.get("status", "Active") == "Active"
            and any(r == "Learner" or r.endswith("#Learner") for r in roles)
            and not any(word in r for r in roles for word in STAFF))


def new_student(db: Session, member: Mapping[str, Any]) -> Person:
    """A student the LMS's member list names, in the shape the roster's CSV import gives (so the class page
    and the gradebooks show them): their SIS id as their id where the LMS gives one, else their e-mail,
    else the LMS's own id."""
    sis, email = member.get("lis_person_sourcedid") or "", member.get("email") or ""
    own = next(i for i in (sis, email, f"lms-{member['user_id']}", f"lms-{secrets.token_hex(6)}")
               if i and i != INSTRUCTOR and db.get(Person, i) is None)
    name = member.get("name") or " ".join(filter(None, (member.get("given_name"), member.get("family_name"))))
    person = Person(id=own, name=name or email or own, role=STUDENT,
                    roster={"sis_user_id": sis, "sis_login_id": "", "section": "", "email": email,
                            "canvas_id": "", "moodle_participant": ""})
    db.add(person)
    return person


def add_members(db: Session, issuer: str, client_id: str, members: Iterable[Mapping[str, Any]]) -> int:
    """Put the course's learners on the roster, each linked to their LMS id. One already there (by LMS id,
    SIS id or e-mail) is linked, never added twice; the course's staff are not students. Returns how many
    were added."""
    added = 0
    for member in filter(is_learner, members):
        person = matched(db, issuer, member["user_id"], (member.get("lis_person_sourcedid"), member.get("email")))
        if person is None:
            person, added = new_student(db, member), added + 1
        if db.get(LtiMember, person.id) is None:  # their first launch adds where their score goes
            db.add(LtiMember(person_id=person.id, issuer=issuer, client_id=client_id, user=member["user_id"]))
        db.flush()  # the next member's match sees this one
    return added


READING = threading.Lock()  # one read of a member list at a time: two launches never add the same student


def read_course(db: Session, launch: FlaskMessageLaunch, last_read: dict[str, datetime]) -> bool:
    """Add the course's learners from the LMS's member list (NRPS, through pylti1p3next's client), when the
    launch offers one and the course was not read in the last READ_EVERY. An LMS that does not answer is
    logged, and the launch goes on with the roster as it is. True: the roster may have changed."""
    if not launch.has_nrps():
        return False
    data = launch.get_launch_data()
    url = data[NRPS_CLAIM]["context_memberships_url"]
    with READING:
        if url in last_read and now() - last_read[url] < READ_EVERY:
            return False
        last_read[url] = now()
        try:
            members = launch.get_nrps().get_members()
        except Exception as exc:  # the LMS is down or refuses the token (pylti1p3next's or requests' error)
            log.warning("could not read the course's members from %s: %s", url, exc)
            return False
        added = add_members(db, data["iss"], launch.get_client_id(), members)
        db.commit()
    log.info("%s students added from the course's member list %s", added, url)
    return True


# ------------------------------------------------------------ the routes

REFUSED = {  # what a person who clicked the assignment in their course reads (the library's reason is logged)
    "registration": "This course's LMS is not registered with this grading service. Ask your teacher to register "
                    "it (autograder lti add-platform).",
    "deployment": "This course's LMS is registered, but not this deployment of the tool. Ask your teacher to add "
                  "its deployment id (autograder lti add-platform --deployment-id).",
    "replayed": "This launch was already used, or it expired. Go back to your course and open the assignment "
                "again.",
    "signature": "This launch does not carry a valid signature from your LMS, so it was refused. Go back to your "
                 "course and open the assignment again.",
    "roster": "You are not on this class's roster yet. Ask your teacher to add you.",
    "picker": "Only the course's instructor can add this assignment to the course.",
}


REFUSALS = (LtiException, OIDCException, ToolConfException)  # pylti1p3next's ways of saying no


def why_refused(exc: Exception) -> str:
    text = str(exc).lower()
    if isinstance(exc, ToolConfException):  # an issuer or client id not in platforms.json
        return "registration"
    if "nonce" in text or "state" in text or "expired" in text:  # spent by an earlier launch, or too old
        return "replayed"
    if "deployment" in text:
        return "deployment"
    if "registration" in text or "issuer" in text or "client id" in text:
        return "registration"
    return "signature"


def refuse(code: int, reason: str, detail: str = "") -> tuple[str, int]:
    log.warning("LTI launch refused (%s): %s", reason, detail)
    return render_template("service_lti_refused.html.j2", sentence=REFUSED[reason]), code


def assignment_picked(launch: FlaskMessageLaunch, folder: Path, column: str) -> Response:
    """Deep Linking: the instructor picked this tool in the LMS's picker; the answer (signed with the tool's
    key) adds the assignment, its launch and its gradebook column (headed `column`), to the course."""
    resource = (DeepLinkResource().set_url(request.host_url + "lti/launch").set_title(column)
                .set_lineitem(LineItem().set_label(column).set_score_maximum(100)))
    link = launch.get_deep_link()
    back = launch.get_launch_data()["https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"][
        "deep_link_return_url"]
    response = make_response(render_template("service_lti_picked.html.j2", back=back, assignment_title=column,
                                             jwt=link.get_response_jwt([resource])))
    parts = urlparse(back)
    # The form goes back to the LMS (not to us), from inside the LMS's iframe.
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'unsafe-inline'; form-action {parts.scheme}://{parts.netloc}; "
        f"frame-ancestors 'self' {' '.join(platform_origins(folder))}; base-uri 'none'")
    return response


def _flask_request() -> FlaskRequest:
    """pylti1p3next's view of Flask's current request."""
    return FlaskRequest()  # unannotated in pylti1p3next: allowed by untyped_calls_exclude


def install(app: Flask, folder: Path, column: str = "CNN") -> None:
    """Add /lti/login, /lti/launch and /lti/jwks to the service's app (column: the assignment's gradebook
    column, as a Deep Linking answer names it)."""
    folder = Path(folder)
    app.secret_key = session_secret(folder)
    last_read: dict[str, datetime] = {}  # each course's member list (its URL): when it was last read
    if store.load_settings(folder).get("base_url", "").startswith("https://"):
        # An LMS shows the service in its iframe, another site: the cookie must be allowed there.
        app.config.update(SESSION_COOKIE_SAMESITE="None", SESSION_COOKIE_SECURE=True, SESSION_COOKIE_PARTITIONED=True)

    @app.route("/lti/login", methods=["GET", "POST"])
    def lti_login() -> ResponseReturnValue:
        try:
            login = FlaskOIDCLogin(_flask_request(), tool_conf(folder))
            # ours, whatever target the request names; a Werkzeug redirect (the library leaves its type open)
            answer: ResponseReturnValue = login.redirect(request.host_url + "lti/launch")
            return answer
        except REFUSALS as exc:
            return refuse(400, why_refused(exc), str(exc))

    @app.post("/lti/launch")
    def lti_launch() -> ResponseReturnValue:
        try:
            launch = FlaskMessageLaunch(_flask_request(), tool_conf(folder))
            data = launch.validate().get_launch_data()
        except REFUSALS as exc:
            reason = why_refused(exc)
            return refuse(400 if reason in ("replayed", "signature") else 403, reason, str(exc))
        teaching = launch.check_teacher_access()
        person = person_of(g.db, data, teaching)
        if (person is None or teaching) and read_course(g.db, launch, last_read):
            person = person_of(g.db, data, teaching)  # a student the course's member list has just added
        if person is None:
            return refuse(403, "roster", f"{data.get('sub')} of {data.get('iss')}")
        if not store.spend_nonce(g.db, data["nonce"]):
            return refuse(400, "replayed", f"nonce {data['nonce']} again")
        if launch.is_deep_link_launch():
            if person.role != INSTRUCTOR:
                g.db.rollback()
                return refuse(403, "picker", f"{data.get('sub')} of {data.get('iss')} is no instructor")
            g.db.commit()
            return assignment_picked(launch, folder, column)
        if person.role != INSTRUCTOR:
            remember(g.db, person, data, launch.get_client_id())
        g.db.commit()
        session.clear()  # the login's state and nonce are spent; the cookie keeps only whom it names
        session[PERSON] = person.id
        return redirect("/")

    @app.get("/lti/jwks")
    def lti_jwks() -> dict[str, Any]:
        _, public = tool_keys(folder)
        return {"keys": [Registration.get_jwk(public)]}
