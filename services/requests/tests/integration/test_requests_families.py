"""The requests service's families projection through real processes' pieces: identity's events on a real
RabbitMQ vhost → requests's worker → PostgreSQL → GET /internal/families/{id}."""
import threading
import uuid
from pathlib import Path

import kombu
import pytest
import sqlalchemy as sa

from contracts.envelope import Envelope
from contracts.identity import FamilyActivated, FamilyRegistered
from servicekit import migrations, tokens
from servicekit.db import Database
from servicekit.messaging.broker import events_exchange
from servicekit.settings import load
from servicekit.testing import wait_until

import demandes
from demandes import app as requests_app, db as requests_db, settings as requests_settings
from demandes.models import families
from demandes.worker import create_worker

pytestmark = pytest.mark.integration

MIGRATIONS = Path(demandes.__file__).resolve().parent.parent / "migrations"
SECRET = "requests-test-service-token-secret-0123456789"


@pytest.fixture
def env(pg_url, amqp_vhost_url, monkeypatch):
    monkeypatch.setenv("REQUESTS_DATABASE_URL", pg_url)
    monkeypatch.setenv("AMQP_URL", amqp_vhost_url)
    monkeypatch.setenv("SERVICE_TOKEN_SECRET", SECRET)
    monkeypatch.setenv("EF_ENV", "test")
    for cached in (requests_settings.get_settings, requests_db.get_db):
        cached.cache_clear()
    migrations.upgrade(MIGRATIONS, pg_url)
    yield load(requests_settings.RequestsSettings, "requests")
    for cached in (requests_settings.get_settings, requests_db.get_db):
        cached.cache_clear()


@pytest.fixture
def running_worker(env):
    db = Database(env.database_url)
    worker = create_worker(env, db)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    assert worker.ready.wait(15), "worker did not start consuming"
    yield worker, db
    worker.stop()
    thread.join(20)
    db.dispose()


def publish(amqp_url: str, envelope: Envelope) -> None:
    with kombu.Connection(amqp_url) as conn:
        conn.Producer().publish(envelope.model_dump_json(), exchange=events_exchange("identity"),
                                routing_key=envelope.type, content_type="application/json",
                                message_id=envelope.id, retry=True, declare=[events_exchange("identity")])


def envelope(payload) -> Envelope:
    return Envelope(type=payload.EVENT_TYPE, source="identity", data=payload.model_dump(mode="json"))


def family_rows(db, family_id):
    with db.read() as s:
        return [dict(r) for r in s.execute(sa.select(families).where(families.c.family_id == family_id)).mappings()]


def test_identity_events_build_the_projection_once(env, running_worker):
    worker, db = running_worker
    family_id = uuid.uuid4().hex
    registered = envelope(FamilyRegistered(family_id=family_id, commune="heillecourt", family_name="Durand",
                                           email="durand@example.org"))
    publish(env.amqp_url, registered)
    publish(env.amqp_url, registered)  # a duplicate delivery
    wait_until(lambda: family_rows(db, family_id), timeout=15)
    publish(env.amqp_url, envelope(FamilyActivated(family_id=family_id, commune="heillecourt", user_id="u1")))
    wait_until(lambda: family_rows(db, family_id)[0]["status"] == "active", timeout=15)
    [row] = family_rows(db, family_id)
    assert (row["commune"], row["family_name"]) == ("heillecourt", "Durand")
    with db.read() as s:
        processed = s.execute(sa.text("SELECT count(*) FROM inbox WHERE event_id = :id"), {"id": registered.id}).scalar()
    assert processed == 1


def test_endpoint_applies_tenancy(env):
    db = requests_db.get_db()
    with db.transaction() as s:
        s.execute(families.insert().values(family_id="fam-9", commune="heillecourt", family_name="Petit",
                                           status="active", updated_at=sa.func.now()))
    client = requests_app.create_app().test_client()

    def get(caller):
        token = tokens.mint(caller, "requests", SECRET)
        return client.get("/internal/families/fam-9", headers={"Authorization": f"Bearer {token}"})

    ok = get(tokens.Caller(sub="a", role="agent", commune="heillecourt"))
    assert ok.status_code == 200 and ok.json()["family_name"] == "Petit"
    assert get(tokens.Caller(sub="b", role="agent", commune="ludres")).status_code == 404
    assert get(tokens.Caller(sub="p", role="parent", family_id="fam-9")).status_code == 200
    assert get(tokens.Caller(sub="q", role="parent", family_id="fam-other")).status_code == 404
