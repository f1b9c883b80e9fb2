"""An async public API operation that lists `identityBearer: [invoices:read]` takes only an
access token carrying that scope (the gateway's connexion security, auth.connexion_security)."""
import pytest
from connexion.resolver import Resolver

from helpers import FakeIdentity, access_claims, make_settings, migrate, serve

from gateway.app import create_app

ISSUER = "http://gateway.test/oidc"


async def list_invoices():
    return {"items": []}


INVOICES_API = {
    "openapi": "3.0.3",
    "info": {"title": "invoices (test)", "version": "1"},
    "paths": {"/invoices": {"get": {
        "operationId": "list_invoices",
        "security": [{"identityBearer": ["invoices:read"]}],
        "responses": {"200": {"description": "the family's invoices"}},
    }}},
    "components": {"securitySchemes": {"identityBearer": {
        "type": "oauth2",
        "flows": {"authorizationCode": {"authorizationUrl": "/oidc/authorize", "tokenUrl": "/oidc/token",
                                        "scopes": {"invoices:read": "Read the family's invoices."}}}}}},
}


@pytest.fixture
def identity():
    fake = FakeIdentity(ISSUER)
    with serve(fake.app) as base:
        fake.base = base
        yield fake


@pytest.fixture
def client(identity, tmp_path):
    settings = make_settings(tmp_path, OIDC_ISSUER=ISSUER, PUBLIC_URL="http://gateway.test", IDENTITY_URL=identity.base)
    migrate(settings)
    app = create_app(settings)
    app.api.add_api(INVOICES_API, base_path="/api/test", resolver=Resolver(lambda _op_id: list_invoices))
    with app.test_client() as c:
        yield c


def invoices(client, token=None):
    return client.get("/api/test/invoices", headers={"Authorization": f"Bearer {token}"} if token else {})


def test_a_token_with_the_scope_reads(client, identity):
    resp = invoices(client, identity.key.sign(access_claims(ISSUER, scope="openid invoices:read")))
    assert resp.status_code == 200 and resp.json() == {"items": []}


def test_a_token_of_a_client_without_the_scope_gets_a_french_403_problem(client, identity):
    resp = invoices(client, identity.key.sign(access_claims(ISSUER, scope="openid profile email requests:read")))
    assert resp.status_code == 403 and resp.headers["content-type"].startswith("application/problem+json")
    assert "« invoices:read »" in resp.json()["detail"]


@pytest.mark.parametrize("token", [None, "not-a-jwt"])
def test_no_or_a_bad_token_is_a_french_401_problem(client, token):
    resp = invoices(client, token)
    assert resp.status_code == 401 and resp.headers["content-type"].startswith("application/problem+json")
    assert "jeton d'accès" in resp.json()["detail"].lower()


def test_a_token_for_another_audience_is_refused(client, identity):
    resp = invoices(client, identity.key.sign(access_claims(ISSUER, aud="another-api", scope="openid invoices:read")))
    assert resp.status_code == 401
