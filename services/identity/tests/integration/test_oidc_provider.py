"""The provider's HTTP endpoints over a real (SQLite file) database, through Flask's test client.

Tokens are checked with PyJWT against the published JWKS, not with the provider's own code.
"""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import sqlalchemy as sa

from identity.oidc import consent as consent_mod, keys
from identity.oidc.clients import ensure_client
from identity.oidc.context import now
from identity.oidc.models import AuthorizationCode, Consent, Token
from identity.oidc.testing import (GW_REDIRECT, ISSUER, PORTAL_LOGOUT, PORTAL_REDIRECT, PUBLIC_URL, Browser,
                                   error_of, pkce_pair, running_provider, verify)
from identity.signin.models import SsoSessionRecord



@pytest.fixture
def provider(tmp_path):
    with running_provider(f"sqlite:///{tmp_path / 'identity.db'}") as p:
        with p.db.transaction() as s:
            ensure_client(s, "gateway", "gateway-secret", "Espace Famille", [GW_REDIRECT], True,
                          post_logout_redirect_uris=[PUBLIC_URL + "/"])
            ensure_client(s, "demo-portal", "demo-portal-secret", "Portail factures", [PORTAL_REDIRECT], False,
                          post_logout_redirect_uris=[PORTAL_LOGOUT])
            ensure_client(s, "mobile", None, "Application mobile", ["http://127.0.0.1:9999/cb"], False)
        yield p


# --- discovery and keys -----------------------------------------------------------------------
def test_discovery_advertises_endpoints_under_the_issuer_and_s256_only(provider):
    doc = provider.client().get("/oidc/.well-known/openid-configuration").json
    assert doc["issuer"] == ISSUER
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri", "revocation_endpoint",
                 "introspection_endpoint", "end_session_endpoint"):
        assert doc[name].startswith(ISSUER + "/")
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["response_types_supported"] == ["code"]
    assert doc["backchannel_logout_supported"] is True


def test_jwks_publishes_rs256_keys_with_kid_and_next_key(provider):
    doc = provider.client().get("/oidc/jwks").json
    assert len(doc["keys"]) == 2  # active + next
    for k in doc["keys"]:
        assert k["kty"] == "RSA" and k["alg"] == "RS256" and k["kid"] and "d" not in k


# --- code flow --------------------------------------------------------------------------------
def test_code_flow_gives_verifiable_id_token_access_token_and_userinfo(provider):
    b = Browser(provider)
    tok = b.tokens(nonce="nonce-abc")
    assert tok["token_type"] == "Bearer" and tok["expires_in"] == 300 and tok["refresh_token"]
    idt = verify(provider, tok["id_token"], "gateway")
    assert idt["sub"] == b.user.sub and idt["nonce"] == "nonce-abc" and idt["sid"] == b.sid
    assert idt["email"] == b.user.email and idt["email_verified"] is True and idt["name"] == "Camille Martin"
    assert set(idt) >= {"family_id", "communes", "agent_of", "platform_role", "auth_time", "at_hash"}
    at = verify(provider, tok["access_token"], PUBLIC_URL, typ="at+jwt")
    assert at["client_id"] == "gateway" and at["sub"] == b.user.sub and at["scope"] == "openid profile email"
    assert at["exp"] - at["iat"] == 300 and at["jti"]
    info = b.userinfo(tok["access_token"])
    assert info.status_code == 200 and info.json["sub"] == b.user.sub and info.json["email"] == b.user.email
    posted = b.http.post("/oidc/userinfo", data={"access_token": tok["access_token"]})
    assert posted.status_code == 200 and posted.json["sub"] == b.user.sub


def test_sub_is_the_same_for_every_first_party_client(provider):
    with provider.db.transaction() as s:
        ensure_client(s, "back-office", "bo-secret", "Back-office", ["http://127.0.0.1:8100/cb"], True)
    b = Browser(provider)
    a = verify(provider, b.tokens()["id_token"], "gateway")
    code = b.code(client_id="back-office", redirect_uri="http://127.0.0.1:8100/cb")
    other = b.exchange(code, client=("back-office", "bo-secret"), redirect_uri="http://127.0.0.1:8100/cb").json
    assert verify(provider, other["id_token"], "back-office")["sub"] == a["sub"] == b.user.sub


def test_scope_limits_claims(provider):
    b = Browser(provider)
    idt = verify(provider, b.tokens(scope="openid")["id_token"], "gateway")
    assert "email" not in idt and "name" not in idt and idt["sub"] == b.user.sub


def test_userinfo_refuses_missing_bad_and_revoked_tokens(provider):
    b = Browser(provider)
    assert b.http.get("/oidc/userinfo").status_code == 401
    resp = b.userinfo("not-a-token")
    assert resp.status_code == 401 and 'error="invalid_token"' in resp.headers["WWW-Authenticate"]
    tok = b.tokens()
    b.http.post("/oidc/revoke", data={"token": tok["access_token"], "token_type_hint": "access_token"},
                auth=("gateway", "gateway-secret"))
    assert b.userinfo(tok["access_token"]).status_code == 401


# --- PKCE and client authentication --------------------------------------------------------------
def test_pkce_is_required_even_for_confidential_clients(provider):
    b = Browser(provider)
    q = error_of(b.authorize(code_challenge=None, code_challenge_method=None))
    assert q["error"] == ["invalid_request"] and q["state"] == ["state-123"]


def test_plain_pkce_is_refused(provider):
    b = Browser(provider)
    verifier = pkce_pair()[0]
    q = error_of(b.http.get("/oidc/authorize", query_string={
        "response_type": "code", "client_id": "gateway", "redirect_uri": GW_REDIRECT, "scope": "openid",
        "state": "state-123", "code_challenge": verifier, "code_challenge_method": "plain"}))
    assert q["error"] == ["invalid_request"]


def test_wrong_or_missing_code_verifier_is_refused(provider):
    b = Browser(provider)
    code = b.code()
    wrong = b.exchange(code, verifier=pkce_pair()[0])
    assert wrong.status_code == 400 and wrong.json["error"] == "invalid_grant"
    missing = b.http.post("/oidc/token", data={"grant_type": "authorization_code", "code": code,
                                               "redirect_uri": GW_REDIRECT}, auth=("gateway", "gateway-secret"))
    assert missing.status_code == 400 and missing.json["error"] == "invalid_request"


def test_wrong_client_secret_and_missing_secret_are_refused(provider):
    b = Browser(provider)
    code = b.code()
    resp = b.exchange(code, client=("gateway", "not-the-secret"))
    assert resp.status_code == 401 and resp.json["error"] == "invalid_client"
    resp = b.exchange(code, client=("gateway", None))
    assert resp.status_code in (400, 401) and resp.json["error"] == "invalid_client"
    assert b.exchange(code).status_code == 200  # the code was not consumed by the failures


def test_public_client_uses_pkce_without_secret(provider):
    b = Browser(provider)
    with provider.db.transaction() as s:
        consent_mod.record(s, b.user.id, s.get(consent_mod.OAuthClient, "mobile"), "openid", "explicit")
    code = b.code(client_id="mobile", redirect_uri="http://127.0.0.1:9999/cb", scope="openid")
    resp = b.exchange(code, client=("mobile", None), redirect_uri="http://127.0.0.1:9999/cb")
    assert resp.status_code == 200 and resp.json["id_token"]


def test_redirect_uri_must_match_at_token_endpoint(provider):
    b = Browser(provider)
    resp = b.exchange(b.code(), redirect_uri="http://127.0.0.1:8000/other")
    assert resp.status_code == 400 and resp.json["error"] == "invalid_grant"


# --- refused authorization requests --------------------------------------------------------------
@pytest.mark.parametrize("overrides", [{"redirect_uri": "http://127.0.0.1:8000/evil"},
                                       {"redirect_uri": GW_REDIRECT + "/more"},
                                       {"client_id": "unknown-client"}])
def test_unregistered_redirect_uri_or_client_shows_an_error_page_without_redirect(provider, overrides):
    b = Browser(provider)
    resp = b.authorize(**overrides)
    assert resp.status_code == 400 and "Location" not in resp.headers
    assert 'lang="fr"' in resp.get_data(as_text=True) and "Demande de connexion refusée" in resp.get_data(as_text=True)


def test_unsupported_response_type_is_redirected_as_error(provider):
    b = Browser(provider)
    q = error_of(b.authorize(response_type="token"))
    assert q["error"] == ["unsupported_response_type"]


def test_nonce_replay_is_refused(provider):
    b = Browser(provider)
    b.code(nonce="same-nonce")
    q = error_of(b.authorize(nonce="same-nonce"))
    assert q["error"] == ["invalid_request"]


# --- codes ------------------------------------------------------------------------------------
def test_reused_code_is_refused_and_revokes_the_first_tokens(provider):
    b = Browser(provider)
    code = b.code()
    first = b.exchange(code).json
    again = b.exchange(code)
    assert again.status_code == 400 and again.json["error"] == "invalid_grant"
    assert b.userinfo(first["access_token"]).status_code == 401
    assert b.refresh(first["refresh_token"]).json["error"] == "invalid_grant"


def test_expired_code_is_refused(provider):
    b = Browser(provider)
    code = b.code()
    with provider.db.transaction() as s:
        row = s.scalars(sa.select(AuthorizationCode)).one()
        assert (row.expires_at - row.created_at) <= timedelta(seconds=60)
        row.expires_at = now() - timedelta(seconds=1)
    assert b.exchange(code).json["error"] == "invalid_grant"


def test_code_of_another_client_is_refused(provider):
    b = Browser(provider)
    code = b.code()
    resp = b.exchange(code, client=("demo-portal", "demo-portal-secret"))
    assert resp.status_code == 400 and resp.json["error"] == "invalid_grant"


# --- refresh ----------------------------------------------------------------------------------
def _age_session(provider, sid, seconds):
    with provider.db.transaction() as s:
        row = s.get(SsoSessionRecord, sid)
        row.auth_time = row.auth_time - timedelta(seconds=seconds)
        row.created_at = row.created_at - timedelta(seconds=seconds)
        return int(row.auth_time.timestamp()) if row.auth_time.tzinfo else None


def test_refresh_rotates_and_keeps_the_original_auth_time(provider):
    b = Browser(provider)
    _age_session(provider, b.sid, 600)
    first = b.tokens()
    auth_time = verify(provider, first["id_token"], "gateway")["auth_time"]
    second = b.refresh(first["refresh_token"])
    assert second.status_code == 200, second.json
    second = second.json
    assert second["refresh_token"] != first["refresh_token"]
    refreshed = verify(provider, second["id_token"], "gateway")
    assert refreshed["auth_time"] == auth_time and refreshed["iat"] - auth_time >= 600
    assert refreshed["sid"] == b.sid and "nonce" not in refreshed
    assert b.userinfo(second["access_token"]).status_code == 200
    assert b.refresh(second["refresh_token"]).status_code == 200


def test_replayed_refresh_token_revokes_the_whole_family(provider):
    b = Browser(provider)
    first = b.tokens()
    second = b.refresh(first["refresh_token"]).json
    replay = b.refresh(first["refresh_token"])
    assert replay.status_code == 400 and replay.json["error"] == "invalid_grant"
    assert b.refresh(second["refresh_token"]).json["error"] == "invalid_grant"
    assert b.userinfo(second["access_token"]).status_code == 401
    with provider.db.read() as s:
        assert {r.revoke_reason for r in s.scalars(sa.select(Token))} == {"refresh_reuse"}


def test_refresh_token_of_another_client_is_refused(provider):
    b = Browser(provider)
    first = b.tokens()
    assert b.refresh(first["refresh_token"], client=("demo-portal", "demo-portal-secret")).status_code == 400


def test_refresh_family_never_outlives_its_absolute_lifetime(provider):
    b = Browser(provider)
    first = b.tokens()
    with provider.db.transaction() as s:
        row = s.scalars(sa.select(Token)).one()
        assert row.refresh_expires_at - row.created_at <= timedelta(hours=12, seconds=1)
        row.refresh_expires_at = now() - timedelta(seconds=1)
    assert b.refresh(first["refresh_token"]).json["error"] == "invalid_grant"


# --- prompt and max_age ------------------------------------------------------------------------
def test_without_session_the_browser_goes_to_the_login_page_and_back(provider):
    b = Browser(provider, signed_in=False)
    resp = b.authorize()
    assert resp.status_code == 302
    loc = urlsplit(resp.headers["Location"])
    assert loc.path == "/oidc/login"
    next_url = parse_qs(loc.query)["next"][0]
    assert next_url.startswith("/oidc/authorize?") and "client_id=gateway" in next_url
    b.sign_in()
    resp = b.http.get(next_url)
    b.verifier = b.verifier  # same PKCE pair as the original request
    assert b.exchange(b.code(resp)).status_code == 200


def test_prompt_none_without_session_returns_login_required(provider):
    b = Browser(provider, signed_in=False)
    q = error_of(b.authorize(prompt="none"))
    assert q["error"] == ["login_required"] and q["state"] == ["state-123"]


def test_prompt_none_with_session_returns_a_code(provider):
    b = Browser(provider)
    assert b.exchange(b.code(prompt="none")).status_code == 200


def test_prompt_login_forces_a_new_authentication_without_looping(provider):
    b = Browser(provider)
    _age_session(provider, b.sid, 120)
    resp = b.authorize(prompt="login")
    loc = urlsplit(resp.headers["Location"])
    assert loc.path == "/oidc/login" and parse_qs(loc.query)["prompt"] == ["login"]
    next_url = parse_qs(loc.query)["next"][0]
    assert "prompt=login" not in next_url and "ef_auth_after=" in next_url
    # Coming back without having signed in again: still the login page.
    assert urlsplit(b.http.get(next_url).headers["Location"]).path == "/oidc/login"
    # After signing in again (the sign-in side refreshes auth_time): a code.
    with provider.db.transaction() as s:
        s.get(SsoSessionRecord, b.sid).auth_time = now()
    code = b.code(b.http.get(next_url))
    idt = verify(provider, b.exchange(code).json["id_token"], "gateway")
    assert idt["auth_time"] >= int(now().timestamp()) - 5


def test_max_age_older_than_the_authentication_requires_login(provider):
    b = Browser(provider)
    _age_session(provider, b.sid, 300)
    resp = b.authorize(max_age="60")
    assert urlsplit(resp.headers["Location"]).path == "/oidc/login"
    q = error_of(b.authorize(max_age="60", prompt="none"))
    assert q["error"] == ["login_required"]
    tok = b.tokens(max_age="3600")
    assert verify(provider, tok["id_token"], "gateway")["auth_time"] <= int(now().timestamp()) - 300


def test_invalid_max_age_is_an_error(provider):
    b = Browser(provider)
    assert error_of(b.authorize(max_age="soon"))["error"] == ["invalid_request"]


# --- consent ----------------------------------------------------------------------------------
def _consent_form(resp):
    import re

    html = resp.get_data(as_text=True)
    action = re.search(r'action="([^"]+)"', html).group(1).replace("&amp;", "&")
    ticket = re.search(r'name="ticket" value="([^"]+)"', html).group(1)
    return action, ticket


def test_first_party_consent_is_implicit_and_recorded(provider):
    b = Browser(provider)
    b.tokens()
    with provider.db.read() as s:
        row = s.get(Consent, (b.user.id, "gateway"))
        assert row.kind == "implicit" and "openid" in row.scope


def test_third_party_client_asks_consent_once_then_remembers(provider):
    b = Browser(provider)
    page = b.authorize(client_id="demo-portal", redirect_uri=PORTAL_REDIRECT)
    assert page.status_code == 200 and "Autoriser" in page.get_data(as_text=True)
    assert "Portail factures" in page.get_data(as_text=True)
    action, ticket = _consent_form(page)
    code = b.code(b.http.post(action, data={"ticket": ticket, "decision": "accept"}))
    assert b.exchange(code, client=("demo-portal", "demo-portal-secret"), redirect_uri=PORTAL_REDIRECT).status_code == 200
    # Second time: straight to the code.
    b.code(client_id="demo-portal", redirect_uri=PORTAL_REDIRECT)
    # prompt=consent asks again.
    assert b.authorize(client_id="demo-portal", redirect_uri=PORTAL_REDIRECT, prompt="consent").status_code == 200


def test_consent_denied_returns_access_denied(provider):
    b = Browser(provider)
    action, ticket = _consent_form(b.authorize(client_id="demo-portal", redirect_uri=PORTAL_REDIRECT))
    q = error_of(b.http.post(action, data={"ticket": ticket, "decision": "deny"}))
    assert q["error"] == ["access_denied"]


def test_consent_form_without_a_valid_ticket_is_shown_again(provider):
    b = Browser(provider)
    action, ticket = _consent_form(b.authorize(client_id="demo-portal", redirect_uri=PORTAL_REDIRECT))
    resp = b.http.post(action, data={"ticket": "forged", "decision": "accept"})
    assert resp.status_code == 200 and "Autoriser" in resp.get_data(as_text=True)
    # A ticket from another session does not work either.
    other = Browser(provider, user=b.user)
    assert other.http.post(action, data={"ticket": ticket, "decision": "accept"}).status_code == 200


def test_prompt_none_without_consent_returns_consent_required(provider):
    b = Browser(provider)
    q = error_of(b.authorize(client_id="demo-portal", redirect_uri=PORTAL_REDIRECT, prompt="none"))
    assert q["error"] == ["consent_required"]


def test_revoking_consent_revokes_tokens_and_asks_again(provider):
    b = Browser(provider)
    action, ticket = _consent_form(b.authorize(client_id="demo-portal", redirect_uri=PORTAL_REDIRECT))
    code = b.code(b.http.post(action, data={"ticket": ticket, "decision": "accept"}))
    tok = b.exchange(code, client=("demo-portal", "demo-portal-secret"), redirect_uri=PORTAL_REDIRECT).json
    with provider.db.transaction() as s:
        assert consent_mod.revoke(s, b.user.id, "demo-portal") is True
    assert b.userinfo(tok["access_token"]).status_code == 401
    assert b.authorize(client_id="demo-portal", redirect_uri=PORTAL_REDIRECT).status_code == 200


# --- revocation and introspection ----------------------------------------------------------------
def test_revoking_a_refresh_token_revokes_its_family(provider):
    b = Browser(provider)
    tok = b.tokens()
    resp = b.http.post("/oidc/revoke", data={"token": tok["refresh_token"]}, auth=("gateway", "gateway-secret"))
    assert resp.status_code == 200
    assert b.refresh(tok["refresh_token"]).json["error"] == "invalid_grant"
    assert b.userinfo(tok["access_token"]).status_code == 401


def test_revocation_of_an_unknown_token_answers_200(provider):
    resp = provider.client().post("/oidc/revoke", data={"token": "nope"}, auth=("gateway", "gateway-secret"))
    assert resp.status_code == 200


def test_introspection(provider):
    b = Browser(provider)
    tok = b.tokens()
    intro = b.http.post("/oidc/introspect", data={"token": tok["access_token"]}, auth=("gateway", "gateway-secret")).json
    assert intro["active"] is True and intro["sub"] == b.user.sub and intro["client_id"] == "gateway"
    assert intro["scope"] == "openid profile email"
    # another confidential, third-party client cannot see it
    other = b.http.post("/oidc/introspect", data={"token": tok["access_token"]},
                        auth=("demo-portal", "demo-portal-secret")).json
    assert other == {"active": False}
    # public clients cannot introspect at all
    assert b.http.post("/oidc/introspect", data={"token": tok["access_token"], "client_id": "mobile"}).status_code in (400, 401)
    b.http.post("/oidc/revoke", data={"token": tok["refresh_token"]}, auth=("gateway", "gateway-secret"))
    intro = b.http.post("/oidc/introspect", data={"token": tok["access_token"]}, auth=("gateway", "gateway-secret")).json
    assert intro == {"active": False}


# --- keys -------------------------------------------------------------------------------------
def test_rotation_signs_with_the_published_next_key_and_keeps_old_tokens_valid(provider):
    b = Browser(provider)
    before = b.tokens()
    kid_before = jwt.get_unverified_header(before["access_token"])["kid"]
    published = {k["kid"] for k in provider.client().get("/oidc/jwks").json["keys"]}
    with provider.db.transaction() as s:
        with pytest.raises(keys.RotationTooSoon):
            keys.rotate(s)
    with provider.db.transaction() as s:
        result = keys.rotate(s, now=now() + timedelta(seconds=keys.JWKS_MAX_AGE + 1))
    assert result["active"] in published and result["active"] != kid_before
    after = b.tokens()
    assert jwt.get_unverified_header(after["access_token"])["kid"] == result["active"]
    verify(provider, before["id_token"], "gateway")  # retired key still published
    assert b.userinfo(before["access_token"]).status_code == 200
    assert len(provider.client().get("/oidc/jwks").json["keys"]) == 3


# --- API scopes granted per client ------------------------------------------------------------
def test_a_client_gets_only_the_api_scopes_it_was_granted(provider):
    with provider.db.transaction() as s:
        ensure_client(s, "invoices-app", "invoices-secret", "Portail factures", ["http://127.0.0.1:8101/cb"], True,
                      scopes="openid invoices:read")
    b = Browser(provider)
    wanted = "openid profile invoices:read requests:read"
    gateway_token = b.tokens(scope=wanted)["access_token"]
    assert verify(provider, gateway_token, PUBLIC_URL, typ="at+jwt")["scope"] == "openid profile"
    code = b.code(client_id="invoices-app", redirect_uri="http://127.0.0.1:8101/cb", scope=wanted)
    token = b.exchange(code, client=("invoices-app", "invoices-secret"), redirect_uri="http://127.0.0.1:8101/cb").json
    assert verify(provider, token["access_token"], PUBLIC_URL, typ="at+jwt")["scope"] == "openid invoices:read"
    # A refresh cannot widen it either.
    refreshed = b.refresh(token["refresh_token"], client=("invoices-app", "invoices-secret"))
    assert verify(provider, refreshed.json["access_token"], PUBLIC_URL, typ="at+jwt")["scope"] == "openid invoices:read"


def test_an_api_scope_access_token_names_the_users_family_and_others_do_not(provider, monkeypatch):
    # The gateway asks billing or requests as the token's parent: it needs the family in the token.
    from identity.oidc import claims

    family = {"family_id": "fam-42", "communes": [{"slug": "heillecourt", "name": "Heillecourt"}]}
    monkeypatch.setattr(claims, "_households_family_claims", lambda: lambda _s, _user: family)
    with provider.db.transaction() as s:
        ensure_client(s, "invoices-app", "invoices-secret", "Portail factures", ["http://127.0.0.1:8101/cb"], True,
                      scopes="openid invoices:read")
    b = Browser(provider)
    code = b.code(client_id="invoices-app", redirect_uri="http://127.0.0.1:8101/cb", scope="openid invoices:read")
    token = b.exchange(code, client=("invoices-app", "invoices-secret"), redirect_uri="http://127.0.0.1:8101/cb").json
    access = verify(provider, token["access_token"], PUBLIC_URL, typ="at+jwt")
    assert access["family_id"] == "fam-42" and access["communes"] == family["communes"]
    assert "family_id" not in verify(provider, token["id_token"], "invoices-app")  # no profile scope: no claim
    gateway_token = b.tokens(scope="openid profile")["access_token"]
    assert "family_id" not in verify(provider, gateway_token, PUBLIC_URL, typ="at+jwt")


def test_the_consent_page_says_in_french_what_each_api_scope_shares(provider):
    with provider.db.transaction() as s:
        ensure_client(s, "demo-portal", "demo-portal-secret", "Portail factures", [PORTAL_REDIRECT], False,
                      post_logout_redirect_uris=[PORTAL_LOGOUT], scopes="openid invoices:read requests:read")
    b = Browser(provider)
    page = b.authorize(client_id="demo-portal", redirect_uri=PORTAL_REDIRECT, scope="openid invoices:read requests:read")
    html = page.get_data(as_text=True)
    assert "Consulter les factures de votre famille" in html
    assert "Consulter les demandes de votre famille" in html
    assert "invoices:read" not in html
