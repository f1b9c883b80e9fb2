"""Where PostgreSQL matters: concurrent use of one code or one refresh token (row locks)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from identity.oidc.clients import ensure_client
from identity.oidc.models import Token
from identity.oidc.testing import GW_REDIRECT, Browser, running_provider


@pytest.fixture
def provider(pg_url):
    with running_provider(pg_url) as p:
        with p.db.transaction() as s:
            ensure_client(s, "gateway", "gateway-secret", "Espace Famille", [GW_REDIRECT], True)
        yield p


def _race(provider, make_request, n=6):
    def call(_):
        return make_request(provider.client())

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(call, range(n)))


def test_one_code_exchanged_concurrently_gives_tokens_once(provider):
    b = Browser(provider)
    code, verifier = b.code(), b.verifier
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": GW_REDIRECT, "code_verifier": verifier}
    results = _race(provider, lambda http: http.post("/oidc/token", data=data, auth=("gateway", "gateway-secret")))
    assert sorted(r.status_code for r in results).count(200) == 1
    assert all(r.json["error"] == "invalid_grant" for r in results if r.status_code != 200)
    with provider.db.read() as s:
        reasons = s.scalars(sa.select(Token.revoke_reason)).all()
    # The losers found the code used: what the winner got is revoked (RFC 6749 §4.1.2).
    assert reasons == ["code_reuse"]


def test_one_refresh_token_used_concurrently_rotates_once(provider):
    b = Browser(provider)
    first = b.tokens()
    data = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    results = _race(provider, lambda http: http.post("/oidc/token", data=data, auth=("gateway", "gateway-secret")))
    assert [r.status_code for r in results].count(200) == 1
    with provider.db.read() as s:
        reasons = s.scalars(sa.select(Token.revoke_reason)).all()
    assert sorted(reasons) == ["refresh_reuse", "refresh_reuse"]
