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

    from identity import db as identity_db, settings as identity_settings

    migrations.upgrade(MIGRATIONS, database_url)
    wanted = {"IDENTITY_DATABASE_URL": database_url, "EF_ENV": "test", "OIDC_ISSUER": ISSUER,
              "PUBLIC_URL": PUBLIC_URL, **env}
    saved = {k: os.environ.get(k) for k in wanted}
    os.environ.update(wanted)
    identity_settings.get_settings.cache_clear()
    identity_db.get_db.cache_clear()
    try:
        from identity.app import create_app

        app = create_app()
        flask_app = app.app
        flask_app.config["TESTING"] = True
        yield Provider(app, flask_app, flask_app.config["OIDC_DB"], flask_app.config["OIDC_SETTINGS"])
        flask_app.config["OIDC_DB"].dispose()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        identity_settings.get_settings.cache_clear()
        identity_db.get_db.cache_clear()
