"""Sibling portals read a family's pending requests through the gateway's public API with an
access token carrying `requests:read`; the gateway asks the requests service as that parent."""
import pytest
from flask import jsonify

from helpers import PORTAL_ISSUER as ISSUER, access_claims, bearer_get, fake_service, \
    portal_identity, public_api_client, served  # noqa: F401 (portal_identity: the `identity` fixture)


@pytest.fixture
def requests_service():
    app = fake_service("fake-requests", "requests")

    @app.get("/internal/me/requests/pending")
    def pending():
        caller = app.caller()
        return jsonify({"items": [{"id": "r1", "reference": "D-2026-00001", "status": "envoyee",
                                   "family_id": caller.family_id}], "total": 1})

    with served(app):
        yield app


@pytest.fixture
def client(identity, requests_service, tmp_path):
    with public_api_client(tmp_path, identity, REQUESTS_URL=requests_service.base) as c:
        yield c


def pending(client, token):
    return bearer_get(client, "/api/requests/pending", token)


def test_a_portal_token_with_requests_read_lists_its_familys_pending_requests(client, identity, requests_service):
    token = identity.key.sign(access_claims(ISSUER, scope="openid requests:read", family_id="fam-1",
                                            communes=[{"slug": "heillecourt"}]))
    resp = pending(client, token)
    assert resp.status_code == 200, resp.text
    assert resp.json()["items"][0]["family_id"] == "fam-1"
    caller, _path = requests_service.seen[-1]
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
