"""Values from the browser's URL reach the services as one quoted path segment."""
import pytest
from flask import Flask, jsonify, request

from helpers import make_settings, migrate, serve

from gateway import clients
from gateway.app import create_app

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("value, segment", [
    ("abc", "abc"),
    ("abc?role=admin", "abc%3Frole%3Dadmin"),
    ("a/../../internal/agent", "a%2F..%2F..%2Finternal%2Fagent"),
    ("50%#x", "50%25%23x"),
    ("..", "%2E%2E"),
    (".", "%2E"),
    (42, "42"),
])
def test_each_parameter_is_one_segment(value, segment):
    assert clients.internal_path("/internal/invitations/{}/accept", value) == f"/internal/invitations/{segment}/accept"


def recording_identity():
    app = Flask("identity")
    seen = []

    @app.get("/internal/invitations/<path:rest>")
    def invitation(rest):
        seen.append({"raw": request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI"),
                     "query": request.query_string.decode()})
        return jsonify(detail="Ce lien n'existe pas."), 404

    return app, seen


def test_an_encoded_question_mark_in_a_link_token_cannot_add_a_query_string(tmp_path):
    app, seen = recording_identity()
    with serve(app) as base:
        settings = make_settings(tmp_path, IDENTITY_URL=base)
        migrate(settings)
        with create_app(settings).test_client() as c:
            resp = c.get("/invitation/abc%3Fstatus=all")
    assert resp.status_code == 404
    assert seen == [{"raw": "/internal/invitations/abc%3Fstatus%3Dall", "query": ""}]
