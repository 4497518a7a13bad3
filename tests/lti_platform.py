"""A real LTI 1.3 platform (an LMS's side) for the tests, built on the lti1p3platform package: its OIDC login,
signed launch, OAuth2 token endpoint, JWKS, Assignment and Grade Services score endpoint and Names and Role
Provisioning Services member list, served by Flask
on a loopback port. Only the web glue is ours: the package leaves the framework adapters (redirect, form,
request) to the application, as its Django and FastAPI adapters do."""

from __future__ import annotations

import html
import json
import threading

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, jsonify, redirect, request
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration
from lti1p3platform.request import Request
from lti1p3platform.membership import Context
from lti1p3platform.score import UpdateScoreStatus
from lti1p3platform.service_connector import AssignmentsGradesService, NamesRoleProvisioningService
from werkzeug.serving import make_server

from service_server import free_port

STUDENT_ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
TEACHER_ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"


def key_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


class FlaskRequest(Request):
    def build_metadata(self, req):
        return {"method": req.method, "form_data": req.form.to_dict(), "get_data": req.args.to_dict(),
                "headers": req.headers, "content_type": req.content_type, "path": req.path,
                "json": req.get_json(silent=True)}


class Platform:
    """One LMS with one course, one assignment (line item 1) and its users; `scores` is what AGS received."""

    def __init__(self, tool_url: str, deployment_id: str = "deployment-1"):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.issuer, self.client_id, self.deployment_id = self.url, "autograder-tool", deployment_id
        self.tool_url = tool_url
        self.private_key, self.public_key = key_pair()
        self.users: dict[str, dict] = {}
        self.scores: list[dict] = []
        self.picked: list[dict] = []  # content items the tool sent back through Deep Linking
        self.refuse_scores = False  # the LMS is down: its score endpoint answers 503
        self.offers_members = False  # launches carry the course's member list (NRPS): its users but "outsider"s
        self.members_read = 0  # how many times the tool read it
        self.app = self._make_app()
        self._server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> "Platform":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()

    def lineitem(self) -> str:
        return f"{self.url}/lineitems/1"

    def add_platform_args(self) -> list[str]:
        return ["--issuer", self.issuer, "--client-id", self.client_id, "--auth-url", f"{self.url}/auth",
                "--token-url", f"{self.url}/token", "--jwks-url", f"{self.url}/jwks",
                "--deployment-id", self.deployment_id]

    def conf(self) -> "PlatformConf":
        conf = PlatformConf(platform=self)
        conf.get_registration()
        return conf

    def _make_app(self) -> Flask:
        app = Flask("lms")
        platform = self

        @app.get("/start/<user>")
        def start(user):
            """The student clicks the assignment (or the teacher picks the tool, ?pick): the LMS starts the
            tool's OIDC login."""
            login = Login(request, platform.conf())
            login.set_lti_message_hint(pick="pick" in request.args)
            return login.initiate_login(user)

        @app.get("/course/<user>")
        def course(user):
            """The course's page, the tool inside it in an iframe, as LMSs show tools."""
            return (f'<!DOCTYPE html><title>Deep learning</title><h1>Deep learning: CNN</h1>'
                    f'<iframe id="tool" src="/start/{html.escape(user)}" width="900" height="700"></iframe>')

        @app.get("/auth")
        def auth():
            """The tool's login redirects here: the LMS answers with the signed launch, as a form to post."""
            launch = Launch(FlaskRequest(request), platform.conf())
            user = platform.users[request.args["login_hint"]]
            launch.set_user_data(user["sub"], user["roles"], user.get("name"), user.get("email"))
            launch.set_resource_link_claim("assignment-cnn", title="CNN")
            launch.set_launch_context_claim("course-1", context_title="Deep learning")
            launch.set_ags(f"{platform.url}/lineitems", platform.lineitem(), allow_creating_lineitems=False)
            if platform.offers_members:
                launch.set_nrps(f"{platform.url}/members")
            if request.args["lti_message_hint"] == "deep-link":
                launch.set_dl(f"{platform.url}/picked", title="CNN", accept_types={"ltiResourceLink"})
            return launch.lti_launch()

        @app.post("/picked")
        def picked():
            """The tool's Deep Linking answer: validated with the tool's published key, its items kept."""
            platform.picked.extend(platform.conf().validate_deeplinking_resp(request.form.to_dict()))
            return "added"

        @app.post("/token")
        def token():
            conf = platform.conf()
            return jsonify(conf.get_access_token(request.form.to_dict()))

        @app.get("/jwks")
        def jwks():
            conf = platform.conf()
            return jsonify(conf.get_jwks())

        @app.post("/lineitems/<line_item_id>/scores")
        def scores(line_item_id):
            if platform.refuse_scores:
                return jsonify(error="down for maintenance"), 503
            service = Grades(FlaskRequest(request), platform.conf(), f"{platform.url}/lineitems",
                             platform.lineitem(), allow_creating_lineitems=False)
            answer = service.handle_resp(service.handle_update_score, line_item_id=line_item_id)
            return jsonify(message=answer.message), answer.code

        @app.get("/members")
        def members():
            """The course's member list (NRPS), for a token with its scope."""
            platform.members_read += 1
            service = Members(FlaskRequest(request), platform.conf(), f"{platform.url}/members")
            answer = service.handle_resp(service.handle_get_members)
            return app.response_class(json.dumps(answer.result), status=answer.code, mimetype=answer.media_type)

        return app


class PlatformConf(LTI1P3PlatformConfAbstract):
    def init_platform_config(self, platform: Platform) -> None:
        self.platform = platform

    def get_registration_by_params(self, **kwargs) -> Registration:
        p = self.platform
        return (Registration().set_iss(p.issuer).set_client_id(p.client_id).set_deployment_id(p.deployment_id)
                .set_oidc_login_url(f"{p.tool_url}/lti/login").set_launch_url(f"{p.tool_url}/lti/launch")
                .set_tool_key_set_url(f"{p.tool_url}/lti/jwks").set_deeplink_launch_url(f"{p.tool_url}/lti/launch")
                .set_platform_public_key(p.public_key).set_platform_private_key(p.private_key))


class Login(OIDCLoginAbstract):
    def set_lti_message_hint(self, pick: bool = False) -> None:
        self._lti_message_hint = "deep-link" if pick else "assignment-cnn"

    def get_redirect(self, url: str):
        return redirect(url)


class Launch(LTIAdvantageMessageLaunchAbstract):
    def render_launch_form(self, launch_data, **kwargs) -> str:
        fields = "".join(f'<input type="hidden" name="{name}" value="{html.escape(launch_data[name])}">'
                         for name in ("id_token", "state"))
        return (f'<form method="post" action="{html.escape(launch_data["launch_url"])}" id="launch">{fields}</form>'
                '<script>document.getElementById("launch").submit()</script>')


class Grades(AssignmentsGradesService):
    """The gradebook: one line item; a score is kept in platform.scores."""

    def find_lineitems(self, *args, **kwargs):
        return {"content": [self.find_lineitem("1")], "has_next": False, "next": None}

    def find_lineitem(self, line_item_id):
        return {"id": self.platform_config.platform.lineitem(), "scoreMaximum": 10, "label": "CNN"}

    def create_lineitem(self, *args, **kwargs):
        raise NotImplementedError

    def update_lineitem(self, *args, **kwargs):
        raise NotImplementedError

    def delete_lineitem(self, *args, **kwargs):
        raise NotImplementedError

    def update_score(self, line_item_id, score):
        self.platform_config.platform.scores.append({"line_item": line_item_id, **score})
        return UpdateScoreStatus.SUCCESS

    def get_results(self, *args, **kwargs):
        return {"content": [], "has_next": False, "next": None}


class Members(NamesRoleProvisioningService):
    """The course's members: the platform's users, but those who are not in the course."""

    def get_context_by_id(self):
        return Context(id="course-1", label="DL", title="Deep learning")

    def get_member_data_page(self, *args, **kwargs):
        users = self.platform_config.platform.users.values()
        return {"content": [{"user_id": u["sub"], "roles": u["roles"], "status": "Active",
                             **{k: u[k] for k in ("name", "email", "lis_person_sourcedid") if k in u}}
                            for u in users if not u.get("outsider")], "has_next": False, "next": None}
