"""Interoperability of identity's OpenID Connect provider with an independent relying party.

identity runs as a real process (`python -m identity migrate`, then `python -m identity web`
on a free loopback port, temporary SQLite database). The relying party here is written with
PyJWT and requests only (no Authlib): it discovers the provider, signs a user in through the
real login page, checks the id_token signature and claims against the JWKS, calls userinfo,
rotates refresh tokens and logs out. Then the negative checks of the OpenID Foundation basic
certification plan.
"""
from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import socket
import subprocess
import sys
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from servicekit.db import Database
from servicekit.testing import wait_until

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID, CLIENT_SECRET = "demo-portal", "demo-portal-secret"
REDIRECT_URI = "http://127.0.0.1:8765/callback"
LOGGED_OUT_URI = "http://127.0.0.1:8765/logged-out"
EMAIL, PASSWORD = "interop.parent@example.org", "Interop-Famille-2026"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def op(tmp_path_factory):
    """identity as a real process; yields its issuer URL."""
    tmp = tmp_path_factory.mktemp("identity-interop")
    port = _free_port()
    issuer = f"http://127.0.0.1:{port}/oidc"
    db_url = f"sqlite:///{tmp / 'identity.db'}"
    env = {**os.environ, "IDENTITY_DATABASE_URL": db_url, "EF_ENV": "test", "EF_VAR_DIR": str(tmp),
           "OIDC_ISSUER": issuer, "PUBLIC_URL": f"http://127.0.0.1:{port}", "BIND": f"127.0.0.1:{port}",
           "WEB_CONCURRENCY": "1", "LOG_FORMAT": "text", "LOG_LEVEL": "WARNING"}
    subprocess.run([sys.executable, "-m", "identity", "migrate"], env=env, check=True, cwd=tmp, timeout=120,
                   capture_output=True)
    _seed(db_url)
    log = open(tmp / "web.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "identity", "web"], env=env, cwd=tmp, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: _answers(f"http://127.0.0.1:{port}/health/live") or proc.poll() is not None, timeout=60)
        assert proc.poll() is None, (tmp / "web.log").read_text()
        yield issuer
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def _seed(db_url: str) -> None:
    # The provider's own functions, as the demo seed uses them.
    from identity.oidc.clients import ensure_client
    from identity.oidc.testing import make_user

    db = Database(db_url)
    try:
        make_user(db, EMAIL, PASSWORD, given_name="Alex", family_name="Interop")
        with db.transaction() as s:
            ensure_client(s, CLIENT_ID, CLIENT_SECRET, "Portail factures", [REDIRECT_URI], False,
                          post_logout_redirect_uris=[LOGGED_OUT_URI], scopes="openid profile email invoices:read")
    finally:
        db.dispose()


# --- a minimal relying party ----------------------------------------------------------------------
def _pkce(method_plain: bool = False) -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    if method_plain:
        return verifier, verifier
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class RelyingParty:
    def __init__(self, issuer: str):
        self.issuer = issuer
        self.config = requests.get(issuer + "/.well-known/openid-configuration", timeout=5).json()
        self.jwks = jwt.PyJWKClient(self.config["jwks_uri"])
        self.browser = requests.Session()

    def auth_params(self, **extra) -> dict:
        self.verifier, challenge = _pkce()
        self.state, self.nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        params = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI,
                  "scope": "openid profile email", "state": self.state, "nonce": self.nonce,
                  "code_challenge": challenge, "code_challenge_method": "S256"}
        params.update(extra)
        return {k: v for k, v in params.items() if v is not None}

    def get(self, url, **kw):
        return self.browser.get(url, allow_redirects=False, timeout=10, **kw)

    def authorize(self, **extra):
        return self.get(self.config["authorization_endpoint"], params=self.auth_params(**extra))

    def follow_to_callback(self, resp) -> dict:
        """Follow the provider's pages (login, consent) like a user would, up to our callback."""
        for _ in range(10):
            if resp.status_code in (302, 303):
                location = resp.headers["Location"]
                if location.startswith(REDIRECT_URI):
                    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
                if location.startswith("/"):
                    location = self.issuer.rsplit("/oidc", 1)[0] + location
                resp = self.get(location)
                continue
            html = resp.text
            assert resp.status_code == 200, html[:500]
            if 'name="password"' in html:
                resp = self._submit(html, resp.url, {"email": EMAIL, "password": PASSWORD})
            elif 'name="decision"' in html:
                resp = self._submit(html, resp.url, {"decision": "accept"})
            else:
                raise AssertionError(f"unexpected page: {html[:500]}")
        raise AssertionError("too many redirects")

    def _submit(self, html: str, page_url: str, fields: dict):
        form = re.search(r"<form[^>]*method=\"post\"[^>]*>(.*?)</form>", html, re.S | re.I)
        action = unescape(re.search(r'action="([^"]*)"', form.group(0)).group(1)) or page_url
        data = {unescape(n): unescape(v) for n, v in
                re.findall(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form.group(0))}
        data.update(fields)
        if action.startswith("/"):
            action = self.issuer.rsplit("/oidc", 1)[0] + action
        return self.browser.post(action, data=data, allow_redirects=False, timeout=10)

    def token(self, data: dict, auth=(CLIENT_ID, CLIENT_SECRET)):
        return requests.post(self.config["token_endpoint"], data=data, auth=auth, timeout=10)

    def exchange(self, code: str, verifier: str | None = None, auth=(CLIENT_ID, CLIENT_SECRET)):
        return self.token({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
                           "code_verifier": verifier or self.verifier}, auth)

    def verify_id_token(self, id_token: str, access_token: str | None = None, nonce: str | None = None) -> dict:
        key = self.jwks.get_signing_key_from_jwt(id_token)
        claims = jwt.decode(id_token, key.key, algorithms=["RS256"], audience=CLIENT_ID, issuer=self.issuer,
                            options={"require": ["iss", "sub", "aud", "exp", "iat", "auth_time"]})
        if nonce is not None:
            assert claims["nonce"] == nonce
        if access_token:
            digest = hashlib.sha256(access_token.encode()).digest()
            assert claims["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
        return claims

    def userinfo(self, access_token: str):
        return requests.get(self.config["userinfo_endpoint"], headers={"Authorization": f"Bearer {access_token}"},
                            timeout=10)

    def sign_in(self) -> dict:
        callback = self.follow_to_callback(self.authorize())
        assert callback["state"] == self.state
        resp = self.exchange(callback["code"])
        assert resp.status_code == 200, resp.text
        return resp.json()


# --- the happy path ----------------------------------------------------------------------------
def test_discovery_matches_the_issuer(op):
    config = requests.get(op + "/.well-known/openid-configuration", timeout=5).json()
    assert config["issuer"] == op
    assert config["code_challenge_methods_supported"] == ["S256"]
    keys = requests.get(config["jwks_uri"], timeout=5).json()["keys"]
    assert keys and all(k["kid"] and k["alg"] == "RS256" for k in keys)


def test_code_flow_with_pkce_id_token_userinfo_refresh_and_logout(op):
    rp = RelyingParty(op)
    tokens = rp.sign_in()
    claims = rp.verify_id_token(tokens["id_token"], tokens["access_token"], rp.nonce)
    assert claims["email"] == EMAIL and claims["given_name"] == "Alex" and claims["sid"]
    assert set(claims) >= {"family_id", "communes", "agent_of", "platform_role", "email_verified", "name"}

    info = rp.userinfo(tokens["access_token"])
    assert info.status_code == 200 and info.json()["sub"] == claims["sub"]

    refreshed = rp.token({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    refreshed = refreshed.json()
    assert refreshed["refresh_token"] != tokens["refresh_token"]
    again = rp.verify_id_token(refreshed["id_token"], refreshed["access_token"])
    assert again["sub"] == claims["sub"] and again["auth_time"] == claims["auth_time"]
    # The old refresh token is spent; presenting it again kills the family.
    replay = rp.token({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert rp.userinfo(refreshed["access_token"]).status_code == 401

    # Single sign-on: a second authorization needs no login page.
    second = rp.sign_in()
    logout = rp.get(rp.config["end_session_endpoint"], params={
        "id_token_hint": second["id_token"], "post_logout_redirect_uri": LOGGED_OUT_URI, "state": "bye"})
    assert logout.status_code == 302 and logout.headers["Location"] == LOGGED_OUT_URI + "?state=bye"
    assert rp.userinfo(second["access_token"]).status_code == 401
    after = rp.authorize()
    assert urlsplit(after.headers["Location"]).path == "/oidc/login"


def test_the_access_token_carries_only_the_api_scopes_granted_to_the_client(op):
    rp = RelyingParty(op)
    assert {"invoices:read", "requests:read"} <= set(rp.config["scopes_supported"])
    rp.sign_in()  # consent for the default scopes, so the next request shows the new ones
    resp = rp.authorize(scope="openid invoices:read requests:read", prompt="consent")
    assert resp.status_code == 200 and "Consulter les factures de votre famille" in unescape(resp.text)
    assert "Consulter les demandes" not in unescape(resp.text)  # not granted to this client
    tokens = rp.exchange(rp.follow_to_callback(resp)["code"]).json()
    key = rp.jwks.get_signing_key_from_jwt(tokens["access_token"])
    access = jwt.decode(tokens["access_token"], key.key, algorithms=["RS256"], audience=CLIENT_ID, issuer=op)
    assert access["scope"] == "openid invoices:read" == tokens["scope"]


# --- negative checks of the basic certification plan -----------------------------------------------
def test_unregistered_redirect_uri_shows_an_error_and_does_not_redirect(op):
    rp = RelyingParty(op)
    resp = rp.authorize(redirect_uri="http://127.0.0.1:8765/not-registered")
    assert resp.status_code == 400 and "Location" not in resp.headers
    assert "text/html" in resp.headers["Content-Type"]


def test_code_reuse_is_refused_and_revokes_the_first_tokens(op):
    rp = RelyingParty(op)
    callback = rp.follow_to_callback(rp.authorize())
    first = rp.exchange(callback["code"])
    assert first.status_code == 200
    again = rp.exchange(callback["code"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert rp.userinfo(first.json()["access_token"]).status_code == 401


def test_wrong_code_verifier_is_refused(op):
    rp = RelyingParty(op)
    callback = rp.follow_to_callback(rp.authorize())
    resp = rp.exchange(callback["code"], verifier=_pkce()[0])
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"


def test_plain_pkce_is_refused(op):
    rp = RelyingParty(op)
    rp.sign_in()  # a session exists, so the refusal is about PKCE
    verifier, _ = _pkce(method_plain=True)
    resp = rp.authorize(code_challenge=verifier, code_challenge_method="plain")
    query = parse_qs(urlsplit(resp.headers["Location"]).query)
    assert resp.headers["Location"].startswith(REDIRECT_URI) and query["error"] == ["invalid_request"]


def test_wrong_client_secret_is_refused(op):
    rp = RelyingParty(op)
    callback = rp.follow_to_callback(rp.authorize())
    resp = rp.exchange(callback["code"], auth=(CLIENT_ID, "wrong-secret"))
    assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"


def test_prompt_none_without_session_returns_login_required_to_the_client(op):
    rp = RelyingParty(op)
    resp = rp.authorize(prompt="none")
    assert resp.status_code == 302 and resp.headers["Location"].startswith(REDIRECT_URI)
    query = parse_qs(urlsplit(resp.headers["Location"]).query)
    assert query["error"] == ["login_required"] and query["state"] == [rp.state]
