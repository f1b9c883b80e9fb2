"""Shared fixtures and helpers of the accounts and households integration tests.

Test modules import it by name (pytest runs with --import-mode=importlib, so they put this
folder on sys.path first). One migrated PostgreSQL database per test module; tests isolate
themselves with unique communes and e-mails.
"""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from servicekit import migrations, tokens
from servicekit.db import Database
from servicekit.messaging.tables import outbox
from servicekit.testing import create_pg_database, drop_pg_database

from identity import passwords
from identity.models import AgentAssignment, Commune, User

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
SECRET = "accounts-tests-service-token-secret-0123456789"


@pytest.fixture(scope="module")
def db_url():
    url = create_pg_database("identity_accounts")
    migrations.upgrade(MIGRATIONS, url)
    yield url
    drop_pg_database(url)


@pytest.fixture(scope="module")
def db(db_url):
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture(scope="module")
def app(db_url):
    from identity import db as identity_db, settings as identity_settings

    saved = {k: os.environ.get(k) for k in ("IDENTITY_DATABASE_URL", "SERVICE_TOKEN_SECRET", "EF_ENV", "PUBLIC_URL")}
    os.environ.update(IDENTITY_DATABASE_URL=db_url, SERVICE_TOKEN_SECRET=SECRET, EF_ENV="test",
                      PUBLIC_URL="http://portal.test")
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


@pytest.fixture
def client(app):
    return app.test_client()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def auth(caller: tokens.Caller) -> dict:
    return {"Authorization": f"Bearer {tokens.mint(caller, 'identity', SECRET)}"}


def make_commune(db: Database, name: str | None = None) -> str:
    slug = unique("commune")
    with db.transaction() as s:
        s.add(Commune(slug=slug, name=name or f"Commune {slug}"))
    return slug


def make_agent(db: Database, commune: str, role: str = "agent") -> tokens.Caller:
    """An agent of `commune` as identity knows them, and the caller the gateway would send."""
    with db.transaction() as s:
        user = User(email=f"{unique('agent')}@example.org", is_active=True,
                    password_hash=passwords.hash_password("agent-password-long"))
        s.add(user)
        s.flush()
        s.add(AgentAssignment(user_id=user.id, commune_slug=commune, role=role))
        sub = user.sub
    return tokens.Caller(sub=sub, role=role, commune=commune)


def parent_caller(sub: str) -> tokens.Caller:
    return tokens.Caller(sub=sub, role="parent")


def gateway_caller() -> tokens.Caller:
    """What the gateway sends for a visitor who is not signed in (a link holder)."""
    return tokens.Caller(sub="gateway", role="anonymous")


def outbox_events(db: Database, event_type: str | None = None) -> list[dict]:
    with db.read() as s:
        rows = s.execute(sa.select(outbox.c.routing_key, outbox.c.body).order_by(outbox.c.seq)).all()
    events = [json.loads(body) for key, body in rows if event_type is None or key == event_type]
    return events


def link_token(db: Database, email: str, event_type: str = "activation.issued.v1") -> str:
    """The token of the latest link e-mailed to `email` (read from the event notify would get)."""
    events = [e for e in outbox_events(db, event_type) if e["data"]["email"] == email]
    assert events, f"no {event_type} event for {email}"
    return events[-1]["data"]["link"].rsplit("/", 1)[1]


PROFILE = {
    "family_name": "Martin", "given_name": "Claire", "birth_date": "1985-04-12",
    "street": "3 rue des Lilas", "postcode": "54180", "city": "Heillecourt",
    "phone": "06 12 34 56 78",
}
GOOD_PASSWORD = "une girafe mange des myrtilles"


def register(client, agent: tokens.Caller, email: str, family_name: str = "Martin"):
    return client.post("/internal/agent/families", json={"family_name": family_name, "email": email},
                       headers=auth(agent))


def activate(client, db: Database, agent: tokens.Caller, email: str, family_name: str = "Martin") -> dict:
    """Register and fully activate a family; returns the activation result (sub, family_id…)."""
    r = register(client, agent, email, family_name)
    assert r.status_code == 201, r.text
    token = link_token(db, email)
    gw = auth(gateway_caller())
    r = client.post(f"/internal/activations/{token}/profile", json={**PROFILE, "email": email}, headers=gw)
    assert r.status_code == 200, r.text
    r = client.post(f"/internal/activations/{token}/password", json={"password": GOOD_PASSWORD}, headers=gw)
    assert r.status_code == 200, r.text
    return r.json()
