"""Sign-in, bearer tokens and back-channel logout against a local fake of identity's OpenID
endpoints signing with test RSA keys (integration tests use the real identity)."""
from urllib.parse import parse_qs, urlsplit

import pytest

from helpers import FakeIdentity, PARENT, access_claims, make_settings, migrate, serve, sign_in

from gateway.app import create_app

ISSUER = "http://gateway.test/oidc"


@pytest.fixture
def identity():
    fake = FakeIdentity(ISSUER)
    with serve(fake.app) as base:
        fake.base = base
        yield fake


@pytest.fixture
def app(identity, tmp_path):
    settings = make_settings(tmp_path, OIDC_ISSUER=ISSUER, PUBLIC_URL="http://gateway.test",
                             IDENTITY_URL=identity.base)
    migrate(settings)
    return create_app(settings)


@pytest.fixture
def client(app):
    with app.test_client() as c:
        yield c


CLAIMS = {"sub": "parent-1", "email": "parent@example.org", "email_verified": True, "name": "Camille Martin",
          "given_name": "Camille", "family_name": "Martin", "family_id": "fam-1",
          "communes": [{"slug": "heillecourt", "name": "Heillecourt"}],
          "agent_of": [{"slug": "heillecourt", "name": "Heillecourt", "role": "agent"}], "platform_role": None}


def _start_login(client, next_="/aide"):
    resp = client.get(f"/auth/login?next={next_}", follow_redirects=False)
    assert resp.status_code == 302
    url = urlsplit(resp.headers["location"])
    return url, {k: v[0] for k, v in parse_qs(url.query).items()}


def test_login_uses_code_flow_with_pkce_s256_state_and_nonce(client, identity):
    url, query = _start_login(client)
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{ISSUER}/authorize"  # browser-facing
    assert query["response_type"] == "code" and query["client_id"] == "gateway"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) >= 43
    assert query["state"] and query["nonce"] and "openid" in query["scope"].split()
    assert query["redirect_uri"] == "http://gateway.test/auth/callback"


def test_callback_signs_in_and_returns_to_next(client, identity):
    identity.claims = CLAIMS
    _, query = _start_login(client)
    code = identity.authorize(query)
    resp = client.get(f"/auth/callback?code={code}&state={query['state']}", follow_redirects=False)
    assert resp.status_code == 302 and resp.headers["location"] == "/aide"
    me = client.get("/api/me").json()
    assert me["sub"] == "parent-1" and me["family_id"] == "fam-1" and me["authenticated_by"] == "session"
    # token endpoint reached server-to-server (IDENTITY_URL), with the PKCE verifier
    assert identity.token_requests[0]["form"]["code_verifier"]
    # agents act for their first commune
    assert "Commune active" in client.get("/").text


def test_callback_with_a_forged_state_is_refused(client, identity):
    identity.claims = CLAIMS
    _, query = _start_login(client)
    code = identity.authorize(query)
    resp = client.get(f"/auth/callback?code={code}&state=forged")
    assert resp.status_code == 400 and "La connexion n&#39;a pas abouti" in resp.text
    assert client.get("/api/me").status_code == 401


def test_id_token_with_a_wrong_nonce_is_refused(client, identity):
    identity.claims = CLAIMS
    _, query = _start_login(client)
    code = identity.authorize({**query, "nonce": "another"})
    resp = client.get(f"/auth/callback?code={code}&state={query['state']}")
    assert resp.status_code == 400
    assert client.get("/api/me").status_code == 401


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example"])
def test_next_must_be_a_relative_path(client, identity, target):
    identity.claims = CLAIMS
    _, query = _start_login(client, next_=target)
    code = identity.authorize(query)
    resp = client.get(f"/auth/callback?code={code}&state={query['state']}", follow_redirects=False)
    assert resp.headers["location"] == "/"


def test_logout_goes_to_identity_end_session_with_id_token_hint(client, identity):
    identity.claims = CLAIMS
    _, query = _start_login(client)
    code = identity.authorize(query)
    client.get(f"/auth/callback?code={code}&state={query['state']}")
    import re
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text).group(1)
    resp = client.post("/auth/logout", data={"csrf_token": token}, follow_redirects=False)
    url = urlsplit(resp.headers["location"])
    params = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{ISSUER}/logout"
    assert params["post_logout_redirect_uri"] == "http://gateway.test/" and params["id_token_hint"].count(".") == 2
    assert client.get("/api/me").status_code == 401


# --- bearer tokens on the public API -----------------------------------------------------------
def _me(client, token):
    return client.get("/api/me", headers={"Authorization": f"Bearer {token}"})


def test_bearer_token_is_accepted(client, identity):
    resp = _me(client, identity.key.sign(access_claims(ISSUER, family_id="fam-1")))
    assert resp.status_code == 200
    assert resp.json()["sub"] == "user-123" and resp.json()["authenticated_by"] == "bearer"


@pytest.mark.parametrize("change, status", [
    ({"aud": "another-api"}, 401),
    ({"iss": "http://evil.example/oidc"}, 401),
    ({"exp": 1_000_000_000, "iat": 999_999_000}, 401),
    ({"scope": "email"}, 403),
])
def test_bearer_token_with_wrong_claims_is_refused(client, identity, change, status):
    resp = _me(client, identity.key.sign({**access_claims(ISSUER), **change}))
    assert resp.status_code == status
    assert resp.headers["content-type"].startswith("application/problem+json")


def test_bearer_token_with_unknown_kid_is_refused(client, identity):
    from helpers import SigningKey
    stranger = SigningKey("unknown-kid")
    assert _me(client, stranger.sign(access_claims(ISSUER))).status_code == 401


def test_rotated_key_is_fetched_when_its_kid_appears(client, app, identity):
    from helpers import SigningKey
    app.app.extensions["oidc_provider"].jwks.min_refetch = 0  # the test does not wait 10 s
    assert _me(client, identity.key.sign(access_claims(ISSUER))).status_code == 200  # JWKS cached
    new_key = SigningKey("key-2")
    identity.keys.append(new_key)
    assert _me(client, new_key.sign(access_claims(ISSUER))).status_code == 200


def test_bearer_token_signed_with_hs256_is_refused(client, identity):
    import jwt
    forged = jwt.encode(access_claims(ISSUER), "secret", algorithm="HS256", headers={"kid": "key-1"})
    assert _me(client, forged).status_code == 401


# --- back-channel logout -----------------------------------------------------------------------
def _logout_token(identity, **claims):
    import time
    now = int(time.time())
    base = {"iss": ISSUER, "aud": "gateway", "iat": now, "exp": now + 120, "jti": f"j{now}",
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}}}
    base.update(claims)
    return identity.key.sign(base)


def test_backchannel_logout_ends_the_session_with_that_sid(client, app, identity):
    import time
    sign_in(client, app.app, PARENT, time.time(), sid="sid-42")
    assert client.get("/api/me").status_code == 200
    resp = client.post("/auth/backchannel-logout", data={"logout_token": _logout_token(identity, sid="sid-42")})
    assert resp.status_code == 200 and resp.headers["cache-control"] == "no-store"
    assert client.get("/api/me").status_code == 401


def test_backchannel_logout_by_subject_ends_older_sessions(client, app, identity):
    import time
    sign_in(client, app.app, PARENT, time.time() - 5, sid="sid-7")
    resp = client.post("/auth/backchannel-logout", data={"logout_token": _logout_token(identity, sub="parent-1")})
    assert resp.status_code == 200
    assert client.get("/api/me").status_code == 401


@pytest.mark.parametrize("claims", [
    {"sid": "sid-1", "nonce": "n"},                    # a logout token never has a nonce
    {"sid": "sid-1", "events": {}},                    # not a logout event
    {"sid": "sid-1", "aud": "another-client"},
    {},                                                # neither sid nor sub
])
def test_invalid_logout_tokens_are_refused(client, identity, claims):
    resp = client.post("/auth/backchannel-logout", data={"logout_token": _logout_token(identity, **claims)})
    assert resp.status_code == 400


def test_login_page_is_503_when_identity_is_down(tmp_path):
    from helpers import closed_port
    settings = make_settings(tmp_path, OIDC_ISSUER=ISSUER, IDENTITY_URL=f"http://127.0.0.1:{closed_port()}")
    migrate(settings)
    with create_app(settings).test_client() as c:
        resp = c.get("/auth/login")
    assert resp.status_code == 503 and "momentanément indisponible" in resp.text


def test_unknown_kids_do_not_make_the_gateway_refetch_every_time(client, app, identity):
    from helpers import SigningKey
    jwks = app.app.extensions["oidc_provider"].jwks
    calls = []
    original = jwks._fetch
    jwks._fetch = lambda: calls.append(1) or original()
    assert _me(client, identity.key.sign(access_claims(ISSUER))).status_code == 200
    for i in range(5):
        assert _me(client, SigningKey(f"forged-{i}").sign(access_claims(ISSUER))).status_code == 401
    assert len(calls) == 1


def test_a_copy_of_the_cookie_taken_before_sign_out_is_refused_after_it(app, client, identity):
    identity.claims = CLAIMS
    _, query = _start_login(client)
    code = identity.authorize(query)
    client.get(f"/auth/callback?code={code}&state={query['state']}")
    stolen = client.cookies.get("ef_session")
    import re
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text).group(1)
    client.post("/auth/logout", data={"csrf_token": token}, follow_redirects=False)
    with app.test_client() as thief:
        thief.cookies.set("ef_session", stolen, domain="testserver.local", path="/")
        assert thief.get("/api/me").status_code == 401
    # Signing in again opens a new gateway session, which is not ended.
    _, query = _start_login(client)
    code = identity.authorize(query)
    client.get(f"/auth/callback?code={code}&state={query['state']}")
    assert client.get("/api/me").status_code == 200


def test_a_token_without_the_operations_scope_gets_a_french_403_problem(client, identity):
    token = identity.key.sign(access_claims(ISSUER, scope="invoices:read requests:read"))
    resp = _me(client, token)
    assert resp.status_code == 403 and resp.headers["content-type"].startswith("application/problem+json")
    assert "« openid »" in resp.json()["detail"]
