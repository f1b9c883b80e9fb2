"""Helpers for the provider's tests (unit, integration, interoperability); never used by the app.

`open_sso_session` signs a user in the way the sign-in pages do (identity.sessions.start), so
tests of the provider do not depend on the login form.
"""
from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from http.cookies import SimpleCookie

from flask import Response

from servicekit.db import Database

from identity import passwords, sessions
from identity.models import User


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def make_user(db: Database, email: str | None = None, password: str | None = None, **fields) -> User:
    email = email or f"parent-{uuid.uuid4().hex[:10]}@example.org"
    with db.transaction() as s:
        user = User(email=email.lower(), password_hash=passwords.hash_password(password) if password else None,
                    given_name=fields.pop("given_name", "Camille"), family_name=fields.pop("family_name", "Martin"),
                    is_active=fields.pop("is_active", True), **fields)
        s.add(user)
        s.flush()
        s.expunge(user)
    return user


def open_sso_session(db: Database, user_id: str, amr: tuple[str, ...] = ("pwd",)) -> tuple[str, str]:
    """Start an SSO session for the user; returns (sid, value of the `ef_sso` cookie)."""
    with db.transaction() as s:
        response = Response()
        sso = sessions.start(s, response, s.get(User, user_id), list(amr))
    cookie = SimpleCookie()
    for header in response.headers.getlist("Set-Cookie"):
        cookie.load(header)
    return sso.sid, cookie[sessions.COOKIE_NAME].value


# --- a provider over a real database, for the HTTP tests --------------------------------------
import os  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
ISSUER = "http://127.0.0.1:8000/oidc"
PUBLIC_URL = "http://127.0.0.1:8000"


@dataclass
class Provider:
    app: object          # the connexion app
    flask: object        # its Flask app
    db: Database
    settings: object

    def client(self):
        return self.flask.test_client()


@contextmanager
def running_provider(database_url: str, **env):
    """Migrate `database_url` and build identity's app on it (env vars restored afterwards)."""
    from servicekit import migrations
    from servicekit.testing import service_app

    migrations.upgrade(MIGRATIONS, database_url)
    wanted = {"IDENTITY_DATABASE_URL": database_url, "EF_ENV": "test", "OIDC_ISSUER": ISSUER,
              "PUBLIC_URL": PUBLIC_URL, **env}
    with service_app("identity", wanted) as app:
        flask_app = app.app
        flask_app.config["TESTING"] = True
        yield Provider(app, flask_app, flask_app.config["OIDC_DB"], flask_app.config["OIDC_SETTINGS"])


# --- a browser and a relying party, for the flow tests -----------------------------------------
from urllib.parse import parse_qs, urlsplit  # noqa: E402

GW_REDIRECT = "http://127.0.0.1:8000/auth/callback"
PORTAL_REDIRECT = "http://127.0.0.1:8765/callback"
PORTAL_LOGOUT = "http://127.0.0.1:8765/logged-out"


class Browser:
    """A user agent signed in at the provider, and the relying party's side of the flow."""

    def __init__(self, provider, user=None, signed_in=True):
        self.p = provider
        self.http = provider.client()
        self.user = user or make_user(provider.db)
        self.sid = None
        if signed_in:
            self.sign_in()

    def sign_in(self):
        self.sid, cookie = open_sso_session(self.p.db, self.user.id)
        self.http.set_cookie("ef_sso", cookie, path="/oidc")

    def authorize(self, client_id="gateway", redirect_uri=GW_REDIRECT, scope="openid profile email", **extra):
        self.verifier, challenge = pkce_pair()
        params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": scope,
                  "state": "state-123", "nonce": extra.pop("nonce", pkce_pair()[0][:20]),
                  "code_challenge": challenge, "code_challenge_method": "S256", **extra}
        self.params = {k: v for k, v in params.items() if v is not None}
        return self.http.get("/oidc/authorize", query_string=self.params)

    def code(self, resp=None, **kw):
        resp = resp if resp is not None else self.authorize(**kw)
        assert resp.status_code == 302, resp.data[:300]
        query = parse_qs(urlsplit(resp.headers["Location"]).query)
        assert "code" in query, query
        assert query["state"] == ["state-123"]
        return query["code"][0]

    def exchange(self, code, client=("gateway", "gateway-secret"), redirect_uri=GW_REDIRECT, verifier=None):
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "code_verifier": verifier or self.verifier}
        if client[1] is None:
            return self.http.post("/oidc/token", data={**data, "client_id": client[0]})
        return self.http.post("/oidc/token", data=data, auth=client)

    def refresh(self, refresh_token, client=("gateway", "gateway-secret")):
        return self.http.post("/oidc/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                              auth=client)

    def tokens(self, **kw):
        resp = self.exchange(self.code(**kw))
        assert resp.status_code == 200, resp.json
        return resp.json

    def userinfo(self, access_token):
        return self.http.get("/oidc/userinfo", headers={"Authorization": f"Bearer {access_token}"})


def verify(provider, token, audience, typ=None):
    import jwt

    jwks = jwt.PyJWKSet.from_dict(provider.client().get("/oidc/jwks").json)
    header = jwt.get_unverified_header(token)
    if typ:
        assert header["typ"] == typ
    key = next(k for k in jwks.keys if k.key_id == header["kid"])
    return jwt.decode(token, key.key, algorithms=["RS256"], audience=audience, issuer=ISSUER)


def error_of(resp):
    assert resp.status_code == 302, resp.data[:300]
    return parse_qs(urlsplit(resp.headers["Location"]).query)


