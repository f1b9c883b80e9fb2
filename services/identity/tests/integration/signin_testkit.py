"""Shared fixtures of the sign-in integration tests (login, throttling, reset, sessions, TOTP).

Each test module gets identity's real app (identity.app.create_app, through connexion's test
client, so ProxyFix and the whole middleware stack are exercised) on a freshly migrated
database: a temporary SQLite file and a fresh PostgreSQL database (the `backend` parameter).
Test modules import this by name after putting this folder on sys.path (--import-mode=importlib).
Time is moved with the sign-in clock (`clock` fixture), never with sleep.
"""
from __future__ import annotations

import json
import os
import re
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyotp
import pytest
import sqlalchemy as sa

from servicekit import migrations
from servicekit.db import Database
from servicekit.messaging.tables import outbox
from servicekit.testing import create_pg_database, drop_pg_database

from identity import passwords
from identity.models import AgentAssignment, AuditEntry, Commune, User
from identity.signin import clock as signin_clock

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
PUBLIC_URL = "http://portal.test"
PASSWORD = "une loutre range ses chaussettes"
# Argon2 hashing is deliberately slow: hash the shared test password once.
_PASSWORD_HASH = passwords.hash_password(PASSWORD)
_ENV_KEYS = ("IDENTITY_DATABASE_URL", "EF_ENV", "PUBLIC_URL", "EF_VAR_DIR", "FORWARDED_ALLOW_IPS")
# The test client connects as "testclient": it plays the gateway, a trusted proxy whose
# X-Forwarded-For names each test's browser.
GATEWAY_PEER = "testclient"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db_url(request, tmp_path_factory):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('signin') / 'identity.db'}"
        migrations.upgrade(MIGRATIONS, url)
        yield url
        return
    url = create_pg_database("identity_signin")
    try:
        migrations.upgrade(MIGRATIONS, url)
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture(scope="module")
def app(db_url, tmp_path_factory):
    from identity import db as identity_db, settings as identity_settings

    saved = {k: os.environ.get(k) for k in _ENV_KEYS}
    os.environ.update(IDENTITY_DATABASE_URL=db_url, EF_ENV="test", PUBLIC_URL=PUBLIC_URL,
                      EF_VAR_DIR=str(tmp_path_factory.mktemp("var")), FORWARDED_ALLOW_IPS=GATEWAY_PEER)
    identity_settings.get_settings.cache_clear()
    identity_db.get_db.cache_clear()
    from identity.app import create_app

    application = create_app()
    yield application
    application.app.config["SERVICE_DB"].dispose()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    identity_settings.get_settings.cache_clear()
    identity_db.get_db.cache_clear()


@pytest.fixture(scope="module")
def db(app) -> Database:
    return app.app.config["SERVICE_DB"]


@pytest.fixture
def client(app):
    """A browser: keeps cookies, does not follow redirects, comes from a unique address
    (the gateway's X-Forwarded-For), so tests do not share per-IP throttling."""
    c = app.test_client(follow_redirects=False)
    c.headers["X-Forwarded-For"] = unique_ip()
    return c


class Clock:
    """A settable clock for the sign-in side."""

    def __init__(self):
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock():
    fake = Clock()
    signin_clock.set_clock(fake)
    yield fake
    signin_clock.set_clock(None)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def unique_ip() -> str:
    n = uuid.uuid4().int
    return f"10.{n % 250 + 1}.{(n >> 8) % 250 + 1}.{(n >> 16) % 250 + 1}"


def make_user(db: Database, *, agent: bool = False, totp_secret: str | None = None, active: bool = True,
              email: str | None = None) -> User:
    email = email or f"{unique('parent')}@example.org"
    with db.transaction() as s:
        user = User(email=email, password_hash=_PASSWORD_HASH, is_active=active, given_name="Claire",
                    family_name="Martin", totp_secret=totp_secret, totp_enabled=totp_secret is not None)
        s.add(user)
        s.flush()
        if agent:
            slug = unique("commune")
            s.add(Commune(slug=slug, name="Heillecourt"))
            s.flush()
            s.add(AgentAssignment(user_id=user.id, commune_slug=slug, role="agent"))
    return user


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(client, path: str) -> str:
    r = client.get(path)
    assert r.status_code == 200, r.text
    match = CSRF_RE.search(r.text)
    assert match, "no CSRF token in the form"
    return match.group(1)


def login(client, email: str, password: str = PASSWORD, next_url: str = ""):
    token = csrf_of(client, "/oidc/login" + (f"?next={next_url}" if next_url else ""))
    return client.post("/oidc/login", data={"csrf_token": token, "email": email, "password": password,
                                            "next": next_url})


def submit_code(client, path: str, code: str):
    token = csrf_of(client, path)
    return client.post(path, data={"csrf_token": token, "code": code})


def totp_code(secret: str, at: datetime | None = None) -> str:
    return pyotp.TOTP(secret).at(at or signin_clock.now())


def outbox_events(db: Database, event_type: str) -> list[dict]:
    with db.read() as s:
        rows = s.execute(sa.select(outbox.c.body).where(outbox.c.routing_key == event_type)
                         .order_by(outbox.c.seq)).scalars().all()
    return [json.loads(body) for body in rows]


def audit_actions(db: Database, user_id: str | None = None, email: str | None = None) -> list[str]:
    with db.read() as s:
        entries = s.scalars(sa.select(AuditEntry).order_by(AuditEntry.id)).all()
        return [e.action for e in entries
                if (user_id and user_id in (e.subject_user_id, e.actor_user_id))
                or (email and (e.details or {}).get("email") == email)]


def sso_cookie(client) -> str | None:
    for cookie in client.cookies.jar:
        if cookie.name == "ef_sso":
            return cookie.value
    return None
