"""servicekit.asgi_guard in front of real connexion apps (FlaskApp and AsyncApp)."""
from __future__ import annotations

import json

import connexion
import pytest

from servicekit import asgi_guard

SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "guard test", "version": "1"},
    "paths": {
        "/things": {
            "post": {
                "operationId": "tests_asgi_guard_ops.create",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"name": {"type": "string"}}}}}},
                "responses": {"201": {"description": "made"}},
            },
            "get": {"operationId": "tests_asgi_guard_ops.listing", "responses": {"200": {"description": "all"}}},
        },
        "/things/{thing_id}": {
            "get": {
                "operationId": "tests_asgi_guard_ops.one",
                "parameters": [{"name": "thing_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "one"}},
            },
        },
    },
}


class _Ops:
    """The operations (a module-like object connexion resolves by name)."""

    @staticmethod
    def create(body):
        return {"name": body["name"]}, 201

    @staticmethod
    def listing(**_):
        return [], 200

    @staticmethod
    def one(thing_id):
        return {"id": thing_id}, 200

    @staticmethod
    def special():
        return {}, 200


@pytest.fixture(autouse=True)
def _ops_module(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tests_asgi_guard_ops", _Ops)


def _app(kind, guarded=True):
    app = kind(__name__)
    app.add_api(SPEC, strict_validation=True)
    if guarded:
        asgi_guard.install(app)
    return app


APPS = [pytest.param(connexion.FlaskApp, id="FlaskApp"), pytest.param(connexion.AsyncApp, id="AsyncApp")]
JSON = {"Content-Type": "application/json"}


def _is_french_400(response) -> str:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 400 and body["title"] == "Requête invalide"
    return body["detail"]


@pytest.mark.parametrize("kind", APPS)
def test_a_body_that_is_not_utf8_is_a_400_not_a_500(kind):
    assert _app(kind, guarded=False).test_client().post("/things", content=b'{"name": "\xbc"}',
                                                         headers=JSON).status_code == 500
    response = _app(kind).test_client().post("/things", content=b'{"name": "\xbc"}', headers=JSON)
    assert "UTF-8" in _is_french_400(response)


@pytest.mark.parametrize("kind", APPS)
@pytest.mark.parametrize("text", ["\\u0000", "a\\u0000b", "\\ud800", "\\udc00x"])
def test_nul_and_lone_surrogates_in_json_strings_are_refused(kind, text):
    client = _app(kind).test_client()
    response = client.post("/things", content=f'{{"name": "{text}"}}'.encode(), headers=JSON)
    assert "caractère interdit" in _is_french_400(response)
    # ... also as a property name
    response = client.post("/things", content=f'{{"{text}": 1, "name": "x"}}'.encode(), headers=JSON)
    assert response.status_code == 400


@pytest.mark.parametrize("kind", APPS)
@pytest.mark.parametrize("body", [
    {"name": "Léa \U0001F600 «»"},           # a surrogate pair is a real character
    {"name": "\\u0000 written out"},          # backslash then u0000: plain text
    {"name": "tab\there"},
])
def test_ordinary_json_reaches_the_operation_unchanged(kind, body):
    response = _app(kind).test_client().post("/things", content=json.dumps(body).encode(), headers=JSON)
    assert response.status_code == 201, response.text
    assert response.json() == body


@pytest.mark.parametrize("kind", APPS)
def test_a_body_that_is_not_json_is_still_connexions_400(kind):
    response = _app(kind).test_client().post("/things", content=b"{not json \\u0000", headers=JSON)
    assert response.status_code == 400
    assert "caractère interdit" not in response.text


@pytest.mark.parametrize("kind", APPS)
@pytest.mark.parametrize("path", ["/things/a%0Ab", "/things/a%00b", "/things/%0D", "/things/a%7Fb"])
def test_control_characters_in_the_path_are_a_400_not_a_500(kind, path):
    if path == "/things/a%0Ab":  # the connexion bug the guard exists for: the router misses the
        # operation; FlaskApp's Flask routes it anyway and fails (500), AsyncApp answers 404.
        expected = 500 if kind is connexion.FlaskApp else 404
        assert _app(kind, guarded=False).test_client().get(path).status_code == expected
    assert "caractère de contrôle" in _is_french_400(_app(kind).test_client().get(path))


@pytest.mark.parametrize("kind", APPS)
def test_nul_in_the_query_string_is_refused(kind):
    client = _app(kind).test_client()
    assert "caractère nul" in _is_french_400(client.get("/things?q=a%00b"))
    assert client.get("/things/x?q=%C3%A9t%C3%A9").status_code in (200, 400)  # judged by connexion


@pytest.mark.parametrize("kind", APPS)
def test_405_lists_every_method_the_spec_serves_on_the_path(kind):
    unguarded = _app(kind, guarded=False).test_client().options("/things")
    assert unguarded.status_code == 405 and "GET" not in unguarded.headers["allow"]  # connexion's bug
    response = _app(kind).test_client().options("/things")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, POST"
    response = _app(kind).test_client().delete("/things/abc")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


def test_allowed_methods_match_templates_whole_segments_only():
    guard = asgi_guard.RequestGuard(app=None)
    guard.add_route("/api/families/{family_id}", ["GET"])
    guard.add_route("/api/families", ["POST"])
    assert guard.allowed_methods("/api/families/f1") == {"GET", "HEAD"}
    assert guard.allowed_methods("/api/families") == {"POST"}
    assert guard.allowed_methods("/api/families/f1/extra") == set()
    assert guard.allowed_methods("/api/families/") == set()


def test_a_concrete_path_wins_over_a_templated_one():
    guard = asgi_guard.RequestGuard(app=None)
    guard.add_route("/s/{day}", ["PUT", "GET"])
    guard.add_route("/s/generate", ["POST"])
    assert guard.allowed_methods("/s/generate") == {"POST"}
    assert guard.allowed_methods("/s/2026-12-01") == {"GET", "HEAD", "PUT"}


def test_a_concrete_path_is_answered_without_trying_every_template(monkeypatch):
    guard = asgi_guard.RequestGuard(app=None)
    guard.add_route("/s/{day}", ["PUT", "GET"])
    guard.add_route("/s/generate", ["POST"])
    assert guard.allowed_methods("/s/generate") == {"POST"}  # the look-up table is built here
    monkeypatch.setattr(guard, "_scan", lambda path: pytest.fail(f"templates tried for {path}"))
    assert guard.allowed_methods("/s/generate") == {"POST"}
    guard.add_route("/s/generate", ["GET"])  # a later API on the same path: the table is rebuilt
    monkeypatch.undo()
    assert guard.allowed_methods("/s/generate") == {"GET", "HEAD", "POST"}


@pytest.mark.parametrize("kind", APPS)
def test_a_method_a_concrete_path_does_not_declare_is_405_not_the_templated_operation(kind):
    spec = {**SPEC, "paths": {**SPEC["paths"], "/things/special": {"post": {
        "operationId": "tests_asgi_guard_ops.special", "responses": {"200": {"description": "ok"}}}}}}

    def app(guarded):
        app = kind(__name__)
        app.add_api(spec, strict_validation=True)
        if guarded:
            asgi_guard.install(app)
        return app.test_client()

    assert app(guarded=False).get("/things/special").status_code == 200  # connexion: GET /things/{thing_id}
    response = app(guarded=True).get("/things/special")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["detail"].startswith("Cette adresse n'accepte pas")


@pytest.mark.parametrize("kind", APPS)
def test_valid_requests_pass(kind):
    client = _app(kind).test_client()
    assert client.get("/things/Léa-1").json() == {"id": "Léa-1"}
    assert client.get("/things").status_code == 200


@pytest.mark.parametrize("kind", APPS)
@pytest.mark.parametrize("content_type", ["Application/JSON", "APPLICATION/JSON; charset=UTF-8"])
def test_a_media_type_in_capitals_is_still_json(kind, content_type):
    """Media types are case-insensitive; connexion compares them as written and skipped the
    body's validation, handing the operation bytes (a 500)."""
    client = _app(kind).test_client()
    response = client.post("/things", content=b'{"name": "Lea"}', headers={"Content-Type": content_type})
    assert response.status_code == 201, response.text
    assert response.json() == {"name": "Lea"}
    response = client.post("/things", content=b'{"name": 3}', headers={"Content-Type": content_type})
    assert response.status_code == 400, response.text  # validated, not passed through
