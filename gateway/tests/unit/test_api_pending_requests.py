"""Sibling portals read a family's pending requests through the gateway's public API with an
access token carrying `requests:read`; the gateway asks the requests service as that parent."""
import pytest
from flask import Flask, jsonify, request

from helpers import FakeIdentity, access_claims, make_settings, migrate, serve
from servicekit import tokens

from gateway.app import create_app

ISSUER = "http://gateway.test/oidc"
SECRET = "dev-only-service-token-secret-change-me"


@pytest.fixture
def identity():
    fake = FakeIdentity(ISSUER)
    with serve(fake.app) as base:
        fake.base = base
        yield fake


@pytest.fixture
def requests_service():
    app = Flask("fake-requests")
    app.seen = []

    @app.get("/internal/me/requests/pending")
    def pending():
        caller = tokens.verify(request.headers["Authorization"].split()[1], "requests", SECRET)
        app.seen.append(caller)
        return jsonify({"items": [{"id": "r1", "reference": "D-2026-00001", "status": "envoyee",
                                   "family_id": caller.family_id}], "total": 1})

    with serve(app) as base:
        app.base = base
        yield app


@pytest.fixture
def client(identity, requests_service, tmp_path):
    settings = make_settings(tmp_path, OIDC_ISSUER=ISSUER, PUBLIC_URL="http://gateway.test", IDENTITY_URL=identity.base,
                             REQUESTS_URL=requests_service.base, SERVICE_TOKEN_SECRET=SECRET)
    migrate(settings)
    with create_app(settings).test_client() as c:
        yield c


def pending(client, token):
    return client.get("/api/requests/pending", headers={"Authorization": f"Bearer {token}"})


def test_a_portal_token_with_requests_read_lists_its_familys_pending_requests(client, identity, requests_service):
    token = identity.key.sign(access_claims(ISSUER, scope="openid requests:read", family_id="fam-1",
                                            communes=[{"slug": "heillecourt"}]))
    resp = pending(client, token)
    assert resp.status_code == 200, resp.text
    assert resp.json()["items"][0]["family_id"] == "fam-1"
    caller = requests_service.seen[-1]
    assert caller.role == "parent" and caller.family_id == "fam-1" and caller.sub == "user-123"


def test_without_the_scope_the_service_is_never_asked(client, identity, requests_service):
    token = identity.key.sign(access_claims(ISSUER, scope="openid invoices:read", family_id="fam-1"))
    resp = pending(client, token)
    assert resp.status_code == 403 and "requests:read" in resp.json()["detail"]
    assert requests_service.seen == []


def test_an_account_without_a_family_is_refused(client, identity, requests_service):
    resp = pending(client, identity.key.sign(access_claims(ISSUER, scope="openid requests:read")))
    assert resp.status_code == 403 and resp.headers["content-type"].startswith("application/problem+json")
    assert requests_service.seen == []
