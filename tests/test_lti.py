"""LTI 1.3 against a real platform (lti1p3platform, tests/lti_platform.py) and the real service on loopback:
OIDC login → signed launch → the student's own page → submit → grade → the score arrives at the platform's
Assignment and Grade Services endpoint; a student from the course's member list (NRPS) who is not on the CSV
gets in the same way; forged, replayed and unregistered launches are refused."""

from __future__ import annotations

import base64
import json
import re
import sqlite3
import subprocess
import sys
import time

import pytest
import requests

from lti_platform import STUDENT_ROLE, TEACHER_ROLE, Platform
from service_server import Service, notebook

pytestmark = pytest.mark.slow  # a real service grades a real notebook

KERNEL_KILLER = notebook("import os\nos.kill(os.getpid(), 9)")  # graded at once: a low score, never an error


def autograder(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def lms(tmp_path_factory):
    """(service, platform): the service knows the platform through `autograder lti add-platform`, and has a
    roster with an e-mail column, the bridge from the LMS's users to the roster's students."""
    root = tmp_path_factory.mktemp("lti")
    (root / "roster.csv").write_text("id,name,email\ndan,Dan Brown,dan@school.edu\nfay,Fay Li,fay@school.edu\n")
    service = Service(root / "class", root / "roster.csv")
    platform = Platform(service.url).start()
    added = autograder("lti", "add-platform", str(service.folder), *platform.add_platform_args())
    assert added.returncode == 0, added.stderr
    elsewhere = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Instructor"  # teaches another course
    platform.users = {"dan": {"sub": "lms-user-17", "roles": [STUDENT_ROLE, elsewhere], "name": "Dan Brown",
                              "email": "dan@school.edu"},
                      "teacher": {"sub": "lms-user-1", "roles": [TEACHER_ROLE], "name": "Tess Cher"},
                      "stranger": {"sub": "lms-user-99", "roles": [STUDENT_ROLE], "email": "who@else.org",
                                   "outsider": True},  # not in the course
                      "eve": {"sub": "lms-user-23", "roles": [STUDENT_ROLE], "name": "Eve Ito",  # not on the CSV
                              "email": "eve@school.edu", "lis_person_sourcedid": "S-23"}}
    service.start()
    yield service, platform
    service.stop()
    platform.stop()


def launch_form(platform: Platform, browser: requests.Session, user: str, pick: bool = False) -> dict:
    """The LMS starts the login, the tool redirects to the LMS, the LMS answers with its signed form."""
    answer = browser.get(f"{platform.url}/start/{user}" + ("?pick" if pick else ""), timeout=30)
    assert answer.status_code == 200, answer.text
    return dict(re.findall(r'name="(id_token|state)" value="([^"]*)"', answer.text)) | {
        "action": re.search(r'action="([^"]*)"', answer.text).group(1)}


def launch(platform: Platform, user: str, pick: bool = False) -> tuple[requests.Session, requests.Response]:
    browser = requests.Session()
    form = launch_form(platform, browser, user, pick)
    answer = browser.post(form["action"], data={"id_token": form["id_token"], "state": form["state"]}, timeout=30)
    return browser, answer


def rows(service: Service) -> tuple[int, int, int]:
    """What a launch may add: its nonce, the LMS identity of a person, a person."""
    with sqlite3.connect(service.folder / "service.db") as db:
        return tuple(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                     for table in ("lti_nonces", "lti_members", "people"))


def test_a_student_launches_submits_and_the_score_reaches_the_lms_even_after_it_was_down(lms):
    service, platform = lms
    browser, page = launch(platform, "dan")
    assert page.status_code == 200 and "Dan Brown" in page.text  # their own page, no link nor token
    assert 'id="class"' not in page.text  # a student here, whatever they teach elsewhere
    assert "frame-ancestors 'self' " + platform.url in page.headers["Content-Security-Policy"]
    platform.refuse_scores = True  # the LMS is down when the grade is done
    sent = browser.post(f"{service.url}/api/submissions", files={"notebook": ("CNN.ipynb", KERNEL_KILLER)}, timeout=60)
    assert sent.status_code == 202, sent.text
    sub = sent.json()["id"]
    deadline = time.monotonic() + 120
    while browser.get(f"{service.url}/api/submissions/{sub}", timeout=10).json()["status"] != "graded":
        assert time.monotonic() < deadline, service.log.read_text()[-3000:]
        time.sleep(0.5)
    graded = browser.get(f"{service.url}/api/submissions/{sub}", timeout=10).json()

    teacher, page = launch(platform, "teacher")  # the instructor's launch opens the instructor's page
    assert page.status_code == 200 and 'id="class"' in page.text
    pending = []
    while not any(p["last_error"] for p in pending):  # the first post failed: shown, kept, tried again
        assert time.monotonic() < deadline
        pending = teacher.get(f"{service.url}/api/class", timeout=10).json()["lti_pending"]
        time.sleep(0.3)
    assert pending[0]["student"] == "dan" and "503" in pending[0]["last_error"] and not platform.scores

    platform.refuse_scores = False
    while not platform.scores:
        assert time.monotonic() < deadline, service.log.read_text()[-3000:]
        time.sleep(0.3)
    score = platform.scores[0]
    assert score["userId"] == "lms-user-17" and score["line_item"] == "1"
    assert score["scoreGiven"] == graded["score"] and score["scoreMaximum"] == graded["max_score"]
    assert score["gradingProgress"] == "FullyGraded" and f"/reports/{sub}" in score["comment"]
    assert teacher.get(f"{service.url}/api/class", timeout=10).json()["lti_pending"] == []
    assert len(platform.scores) == 1  # taken once, not again


def test_a_replayed_launch_is_refused_and_creates_nothing(lms):
    service, platform = lms
    browser = requests.Session()
    form = launch_form(platform, browser, "dan")
    posted = {"id_token": form["id_token"], "state": form["state"]}
    assert browser.post(form["action"], data=posted, timeout=30).status_code == 200
    before = rows(service)
    for again in (browser, requests.Session()):  # the same browser, or another that copied the form
        answer = again.post(form["action"], data=posted, timeout=30)
        assert answer.status_code == 400 and "already used, or it expired" in answer.text
    assert rows(service) == before


def test_a_forged_launch_is_refused(lms):
    """The signed form, with its roles changed to the instructor's: the signature no longer matches."""
    service, platform = lms
    browser = requests.Session()
    form = launch_form(platform, browser, "dan")
    before = rows(service)
    header, body, signature = form["id_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["https://purl.imsglobal.org/spec/lti/claim/roles"] = [TEACHER_ROLE]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    answer = browser.post(form["action"], data={"id_token": f"{header}.{forged}.{signature}", "state": form["state"]},
                          timeout=30)
    assert answer.status_code == 400 and "does not carry a valid signature" in answer.text
    assert browser.get(f"{service.url}/api/class", timeout=10).status_code == 401  # opened nothing
    assert rows(service) == before


def test_someone_not_on_the_roster_is_told_so(lms):
    service, platform = lms
    before = rows(service)
    browser, answer = launch(platform, "stranger")
    assert answer.status_code == 403 and "not on this class's roster" in answer.text
    assert rows(service) == before
    assert browser.get(f"{service.url}/api/submissions", timeout=10).status_code == 401


def test_an_unknown_lms_is_refused_at_login(lms):
    service, _ = lms
    answer = requests.get(f"{service.url}/lti/login", params={
        "iss": "https://lms.elsewhere.edu", "login_hint": "x", "target_link_uri": f"{service.url}/lti/launch"},
        timeout=10)
    assert answer.status_code == 400 and "not registered with this grading service" in answer.text


def test_an_unknown_deployment_is_refused(lms):
    service, platform = lms
    platform.deployment_id = "deployment-not-registered"  # the same LMS, the tool installed a second time
    try:
        _, answer = launch(platform, "dan")
    finally:
        platform.deployment_id = "deployment-1"
    assert answer.status_code == 403 and "not this deployment" in answer.text


def test_the_tools_keys_are_made_once_and_published(lms):
    service, _ = lms
    keys = requests.get(f"{service.url}/lti/jwks", timeout=10).json()["keys"]
    assert len(keys) == 1 and keys[0]["kty"] == "RSA" and keys[0]["alg"] == "RS256"
    printed = autograder("lti", "config", str(service.folder), "--base-url", "https://grader.school.edu/",
                         "--lms", "canvas")
    canvas = json.loads(printed.stdout)
    assert canvas["oidc_initiation_url"] == "https://grader.school.edu/lti/login"
    assert canvas["target_link_uri"] == "https://grader.school.edu/lti/launch"
    assert canvas["public_jwk_url"] == "https://grader.school.edu/lti/jwks"
    assert "https://purl.imsglobal.org/spec/lti-ags/scope/score" in canvas["scopes"]
    placements = canvas["extensions"][0]["settings"]["placements"]
    assert {"placement": "assignment_selection", "message_type": "LtiDeepLinkingRequest",
            "target_link_uri": "https://grader.school.edu/lti/launch"} in placements
    assert requests.get(f"{service.url}/lti/jwks", timeout=10).json()["keys"] == keys  # the same key
    moodle = autograder("lti", "config", str(service.folder), "--base-url", "https://grader.school.edu",
                        "--lms", "moodle").stdout
    assert "Public keyset: https://grader.school.edu/lti/jwks" in moodle
    assert "Initiate login URL: https://grader.school.edu/lti/login" in moodle


def test_the_instructor_adds_the_assignment_from_the_lms_picker(lms):
    """Deep Linking: the tool answers with the assignment, signed with its key; the platform checks it."""
    service, platform = lms
    _, page = launch(platform, "teacher", pick=True)
    assert page.status_code == 200 and "Add it to the course" in page.text
    back = re.search(r'action="([^"]*)"', page.text).group(1)
    assert back == f"{platform.url}/picked" and f"form-action {platform.url}" in page.headers["Content-Security-Policy"]
    jwt = re.search(r'name="JWT" value="([^"]*)"', page.text).group(1)
    assert requests.post(back, data={"JWT": jwt}, timeout=30).text == "added"
    item = platform.picked[-1]
    assert item["type"] == "ltiResourceLink" and item["url"] == f"{service.url}/lti/launch"
    assert item["lineItem"]["label"] == "CNN"
    _, refused = launch(platform, "dan", pick=True)  # a student cannot add it
    assert refused.status_code == 403 and "Only the course's instructor" in refused.text


def test_a_student_from_the_courses_member_list_gets_in_submits_and_the_score_reaches_the_lms(lms):
    """NRPS: Eve is in the course but not on the CSV; her launch reads the course's member list, which adds
    her (and no one twice, and not the teacher) to the roster."""
    service, platform = lms
    platform.offers_members = True
    try:
        browser, page = launch(platform, "eve")
        assert page.status_code == 200 and "Eve Ito" in page.text and 'id="class"' not in page.text
        _, page = launch(platform, "teacher")  # within READ_EVERY of Eve's launch: the list is not read again
        assert page.status_code == 200 and 'id="class"' in page.text and platform.members_read == 1
    finally:
        platform.offers_members = False
    with sqlite3.connect(service.folder / "service.db") as db:
        people = dict(db.execute("SELECT id, role FROM people").fetchall())
        linked = dict(db.execute("SELECT user, person_id FROM lti_members").fetchall())
    assert people == {"dan": "student", "fay": "student", "S-23": "student", "instructor": "instructor"}
    assert linked["lms-user-23"] == "S-23" and linked["lms-user-17"] == "dan"  # dan: by his e-mail, once
    sent = browser.post(f"{service.url}/api/submissions", files={"notebook": ("CNN.ipynb", KERNEL_KILLER)}, timeout=60)
    assert sent.status_code == 202, sent.text
    deadline = time.monotonic() + 120
    while not [s for s in platform.scores if s["userId"] == "lms-user-23"]:
        assert time.monotonic() < deadline, service.log.read_text()[-3000:]
        time.sleep(0.3)
    graded = browser.get(f"{service.url}/api/submissions/{sent.json()['id']}", timeout=10).json()
    score = next(s for s in platform.scores if s["userId"] == "lms-user-23")
    assert score["line_item"] == "1" and score["scoreGiven"] == graded["score"]


def test_a_student_sees_their_page_inside_the_lms_iframe(lms):
    """In Chromium: the course's page, the tool's launch inside its iframe, the student's page working there
    (a wrong file is explained, through the API the launch's cookie opens), no script refused."""
    import chromium

    chromium.require()
    service, platform = lms
    with chromium.launched() as browser:
        page = browser.new_page()
        errors = []
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{platform.url}/course/dan")
        tool = page.frame_locator("#tool")
        tool.get_by_text("Dan Brown").wait_for(timeout=30000)
        tool.locator("#notebook").set_input_files(files=[{"name": "README.md", "mimeType": "text/markdown",
                                                          "buffer": b"# not a notebook"}])
        tool.locator("#message.bad").wait_for(timeout=30000)
        assert "Nothing was submitted" in tool.locator("#message").inner_text()
        # The only errors: the 422 itself, and the test LMS's missing favicon; no script nor frame refused.
        assert [e for e in errors if not e.startswith("Failed to load resource")] == [], errors
        assert any("422" in e for e in errors)


def test_a_course_that_installs_the_tool_needs_no_roster(tmp_path):
    """`autograder serve` without --roster starts once an LMS is registered; the course's member list (NRPS)
    brings the students, whom the instructor's class page then lists like a roster's."""
    service = Service(tmp_path / "class", None)
    platform = Platform(service.url).start()
    try:
        added = autograder("lti", "add-platform", str(service.folder), *platform.add_platform_args())
        assert added.returncode == 0, added.stderr
        platform.users = {"eve": {"sub": "lms-user-23", "roles": [STUDENT_ROLE], "name": "Eve Ito",
                                  "email": "eve@school.edu"},
                          "teacher": {"sub": "lms-user-1", "roles": [TEACHER_ROLE], "name": "Tess Cher"}}
        platform.offers_members = True
        service.start()
        assert "come from the LMS's course list" in service.log.read_text()
        _, page = launch(platform, "eve")
        assert page.status_code == 200 and "Eve Ito" in page.text
        teacher, page = launch(platform, "teacher")
        assert page.status_code == 200 and 'id="class"' in page.text
        assert "Eve Ito" in teacher.get(f"{service.url}/api/class", timeout=10).text
    finally:
        service.stop()
        platform.stop()
