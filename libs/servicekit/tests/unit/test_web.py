"""The service app factory: health, problem+json, correlation id, service-token security."""
import textwrap

import pytest
from starlette.testclient import TestClient

from servicekit import tokens
from servicekit.db import Database
from servicekit.settings import ServiceSettings, load
from servicekit.web import Problem, create_app, current_caller

SPEC = textwrap.dedent("""
    openapi: 3.0.3
    info: {title: probe, version: "1"}
    paths:
      /internal/whoami:
        get:
          operationId: whoami
          security: [{serviceToken: []}]
          responses: {"200": {description: ok}}
      /internal/fail:
        get:
          operationId: fail
          responses: {"200": {description: ok}}
      /internal/items:
        post:
          operationId: create_item
          requestBody:
            required: true
            content:
              application/json:
                schema: {type: object, required: [name], properties: {name: {type: string}}}
          responses: {"201": {description: created}}
    components:
      securitySchemes:
        serviceToken: {type: http, scheme: bearer, x-bearerInfoFunc: servicekit.web.verify_bearer}
""")


def whoami():
    return {"sub": current_caller().sub, "role": current_caller().role}


def fail():
    raise Problem(409, "Cette famille est déjà inscrite.", errors={"email": "Adresse déjà utilisée."})


def create_item(body):
    return body, 201


@pytest.fixture
def app_and_settings(tmp_path, monkeypatch):
    (tmp_path / "openapi.yaml").write_text(SPEC)
    settings = load(ServiceSettings, "probe", env={"EF_VAR_DIR": str(tmp_path),
                                                   "AMQP_URL": "amqp://guest:guest@127.0.0.1:1//"})
    app = create_app(settings, Database(settings.database_url), tmp_path / "openapi.yaml", __name__)
    return TestClient(app), settings


def test_ready_needs_only_the_database_and_details_show_the_rest(app_and_settings):
    client, _ = app_and_settings
    assert client.get("/health/live").json()["status"] == "ok"
    ready = client.get("/health/ready")
    # The broker URL points at a closed port: still ready, the process can serve.
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": {"ok": True}}
    details = client.get("/health/details")
    assert details.status_code == 503 and details.json()["status"] == "degraded"
    checks = details.json()["checks"]
    assert checks["database"]["ok"] is True and checks["broker"]["ok"] is False
    # No outbox table yet in this bare (unmigrated) database: the details say so instead of crashing.
    assert checks["outbox"]["ok"] is False and "error" in checks["outbox"]


def test_problem_json_with_french_detail(app_and_settings):
    client, _ = app_and_settings
    resp = client.get("/internal/fail")
    assert resp.status_code == 409
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["detail"] == "Cette famille est déjà inscrite."
    assert resp.json()["errors"] == {"email": "Adresse déjà utilisée."}


def test_invalid_body_is_a_400_problem_not_a_500(app_and_settings):
    client, _ = app_and_settings
    resp = client.post("/internal/items", json={"nom": 1})
    assert resp.status_code == 400
    assert resp.headers["content-type"].startswith("application/problem+json")


def test_unknown_path_is_a_404_problem(app_and_settings):
    client, _ = app_and_settings
    resp = client.get("/nope")
    assert resp.status_code == 404 and resp.headers["content-type"].startswith("application/problem+json")


def test_correlation_id_is_echoed_or_made(app_and_settings):
    client, _ = app_and_settings
    assert client.get("/health/live", headers={"X-Correlation-ID": "abc123"}).headers["X-Correlation-ID"] == "abc123"
    assert len(client.get("/health/live").headers["X-Correlation-ID"]) == 32


def test_service_token_required_and_checked(app_and_settings):
    client, settings = app_and_settings
    assert client.get("/internal/whoami").status_code == 401
    wrong = tokens.mint(tokens.Caller(sub="u1", role="parent"), "other-service", settings.service_token_secret)
    assert client.get("/internal/whoami", headers={"Authorization": f"Bearer {wrong}"}).status_code == 401
    good = tokens.mint(tokens.Caller(sub="u1", role="parent"), "probe", settings.service_token_secret)
    resp = client.get("/internal/whoami", headers={"Authorization": f"Bearer {good}"})
    assert resp.status_code == 200 and resp.json() == {"sub": "u1", "role": "parent"}


def test_each_app_checks_tokens_against_its_own_audience_and_secret(tmp_path):
    """Two services' apps in one process (as in a test run) do not share their token check."""
    (tmp_path / "openapi.yaml").write_text(SPEC)
    apps = {}
    for name, secret in (("alpha", "a" * 40), ("beta", "b" * 40)):
        settings = load(ServiceSettings, name, env={"EF_VAR_DIR": str(tmp_path), "SERVICE_TOKEN_SECRET": secret})
        apps[name] = (TestClient(create_app(settings, Database(settings.database_url), tmp_path / "openapi.yaml",
                                            __name__)), secret)
    for name, (client, secret) in apps.items():
        own = tokens.mint(tokens.Caller(sub="u1", role="parent"), name, secret)
        assert client.get("/internal/whoami", headers={"Authorization": f"Bearer {own}"}).status_code == 200
    alpha_token = tokens.mint(tokens.Caller(sub="u1", role="parent"), "alpha", "a" * 40)
    beta_client, _ = apps["beta"]
    assert beta_client.get("/internal/whoami", headers={"Authorization": f"Bearer {alpha_token}"}).status_code == 401


def test_the_token_checks_signature_is_not_inspected_on_every_request(app_and_settings, monkeypatch):
    import connexion.utils

    client, settings = app_and_settings
    good = tokens.mint(tokens.Caller(sub="u-sig", role="parent"), "probe", settings.service_token_secret)
    assert client.get("/internal/whoami", headers={"Authorization": f"Bearer {good}"}).status_code == 200
    inspected = []
    real_signature = connexion.utils.inspect.signature
    monkeypatch.setattr(connexion.utils.inspect, "signature", lambda f, *a, **kw: inspected.append(f) or real_signature(f, *a, **kw))
    resp = client.get("/internal/whoami", headers={"Authorization": f"Bearer {good}"})
    assert resp.status_code == 200 and resp.json()["sub"] == "u-sig"
    assert [f for f in inspected if f.__name__ == "check"] == []
