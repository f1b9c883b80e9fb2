"""A form that creates something carries an idempotency key: submitting it twice sends the same
Idempotency-Key to the service; a new rendering, and every other call, does not reuse it."""
import re
import time

import pytest
from flask import Flask, jsonify, request

from helpers import AGENT, make_settings, migrate, serve, sign_in

from gateway import clients
from gateway.app import create_app

pytestmark = pytest.mark.integration


def recording_identity():
    app = Flask("identity")
    seen = []

    @app.route("/internal/agent/families", methods=["GET", "POST"])
    def families():
        seen.append((request.method, request.headers.get("Idempotency-Key")))
        if request.method == "GET":
            return jsonify(items=[], total=0)
        return jsonify(id="fam-1", name=request.json["family_name"], login_email=request.json["email"]), 201

    return app, seen


def form_fields(html: str) -> dict:
    form = html[html.index('action="/agent/familles"'):]
    return dict(re.findall(r'name="(csrf_token|idempotency_key)" value="([^"]+)"', form)[:2])


def test_the_same_rendered_form_submitted_twice_sends_the_same_key(tmp_path):
    app, seen = recording_identity()
    with serve(app) as base:
        settings = make_settings(tmp_path, IDENTITY_URL=base)
        migrate(settings)
        gateway = create_app(settings)
        with gateway.test_client() as c:
            sign_in(c, gateway.app, AGENT, time.time(), commune="heillecourt")
            fields = form_fields(c.get("/agent/familles").text)
            body = {**fields, "family_name": "Martin", "email": "martin@example.org"}
            for _ in range(2):
                assert c.post("/agent/familles", data=body, follow_redirects=False).status_code == 302
            again = form_fields(c.get("/agent/familles").text)
    posts = [key for method, key in seen if method == "POST"]
    assert posts == [fields["idempotency_key"]] * 2 and len(posts[0]) >= 32
    assert again["idempotency_key"] != fields["idempotency_key"]
    assert all(key is None for method, key in seen if method == "GET")


def test_only_posts_carry_an_idempotency_key():
    with pytest.raises(ValueError):
        clients.ServiceClient("identity", "http://127.0.0.1:9", "s" * 40, clients.make_session()).request(
            "PATCH", "/internal/me/family", idempotency_key="k" * 32, caller=clients.caller_for(None))
