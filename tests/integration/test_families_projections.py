"""Booking, billing and requests each keep a local copy of the families of their communes
(servicekit.projections.families), fed by identity's events. Through real pieces: identity's
events on a real RabbitMQ vhost → the service's worker → PostgreSQL → its
GET /internal/families/{id}, with its tenancy rules. One test, run for each service."""
import importlib
import threading
import uuid

import kombu
import pytest
import sqlalchemy as sa

from contracts.envelope import Envelope
from contracts.identity import FamilyActivated, FamilyRegistered
from servicekit import migrations, tokens
from servicekit.db import Database
from servicekit.messaging.broker import events_exchange
from servicekit.testing import wait_until

pytestmark = pytest.mark.integration

SECRET = "projection-test-service-token-secret-0123456789"
# package -> service name (its token audience and env prefix)
SERVICES = {"booking": "booking", "billing": "billing", "demandes": "requests"}


class Service:
    """One service's modules, configured on a fresh database and broker vhost."""

    def __init__(self, package: str):
        self.name = SERVICES[package]
        self.settings_module = importlib.import_module(f"{package}.settings")
        self.db_module = importlib.import_module(f"{package}.db")
        self.app_module = importlib.import_module(f"{package}.app")
        self.families = importlib.import_module(f"{package}.models").families
        self.agents = importlib.import_module(f"{package}.models").agents
        self.create_worker = importlib.import_module(f"{package}.worker").create_worker
        self.migrations_dir = importlib.import_module(f"{package}.__main__").COMMANDS.migrations_dir

    def clear_caches(self):
        self.settings_module.get_settings.cache_clear()
        self.db_module.get_db.cache_clear()


@pytest.fixture(params=sorted(SERVICES))
def service(request, pg_url, amqp_vhost_url, monkeypatch):
    svc = Service(request.param)
    monkeypatch.setenv(f"{svc.name.upper()}_DATABASE_URL", pg_url)
    monkeypatch.setenv("AMQP_URL", amqp_vhost_url)
    monkeypatch.setenv("SERVICE_TOKEN_SECRET", SECRET)
    monkeypatch.setenv("EF_ENV", "test")
    svc.clear_caches()
    migrations.upgrade(svc.migrations_dir, pg_url)
    yield svc
    svc.clear_caches()


@pytest.fixture
def running_worker(service):
    settings = service.settings_module.get_settings()
    db = Database(settings.database_url)
    worker = service.create_worker(settings, db)
    thread = threading.Thread(target=worker.run, name=f"test-{worker.service}", daemon=True)
    thread.start()
    try:
        # `ready`: every consumer thread consumes, and has logged so (no log after the setup phase)
        assert worker.ready.wait(30), "worker did not start consuming"
        yield db, settings.amqp_url
    finally:  # stopped and joined even if it never got ready: nothing of it outlives the test
        worker.stop()
        thread.join(60)
        db.dispose()
    assert not thread.is_alive(), "worker did not stop"


def publish(amqp_url: str, envelope: Envelope) -> None:
    with kombu.Connection(amqp_url) as conn:
        conn.Producer().publish(envelope.model_dump_json(), exchange=events_exchange("identity"),
                                routing_key=envelope.type, content_type="application/json",
                                message_id=envelope.id, retry=True, declare=[events_exchange("identity")])


def envelope(payload) -> Envelope:
    return Envelope(type=payload.EVENT_TYPE, source="identity", data=payload.model_dump(mode="json"))


def test_identity_events_build_the_projection_once(service, running_worker):
    db, amqp_url = running_worker
    table = service.families

    def rows(family_id):
        with db.read() as s:
            return [dict(r) for r in s.execute(sa.select(table).where(table.c.family_id == family_id)).mappings()]

    family_id = uuid.uuid4().hex
    registered = envelope(FamilyRegistered(family_id=family_id, commune="heillecourt", family_name="Durand",
                                           email="durand@example.org"))
    publish(amqp_url, registered)
    publish(amqp_url, registered)  # a duplicate delivery
    wait_until(lambda: rows(family_id), timeout=15)
    publish(amqp_url, envelope(FamilyActivated(family_id=family_id, commune="heillecourt", user_id="u1")))
    wait_until(lambda: rows(family_id)[0]["status"] == "active", timeout=15)
    [row] = rows(family_id)
    assert (row["commune"], row["family_name"]) == ("heillecourt", "Durand")
    with db.read() as s:
        processed = s.execute(sa.text("SELECT count(*) FROM inbox WHERE event_id = :id"), {"id": registered.id}).scalar()
    assert processed == 1


def test_endpoint_applies_tenancy(service):
    db = service.db_module.get_db()
    with db.transaction() as s:
        s.execute(service.families.insert().values(family_id="fam-9", commune="heillecourt", family_name="Petit",
                                                   status="active", updated_at=sa.func.now()))
        # Identity says both agents are current (servicekit.projections.agents refuses others).
        for sub, commune in (("a", "heillecourt"), ("b", "ludres")):
            s.execute(service.agents.insert().values(user_id=sub, commune=commune, role="agent", active=True,
                                                     changed_at=sa.func.now(), updated_at=sa.func.now()))
    client = service.app_module.create_app().test_client()

    def get(caller):
        token = tokens.mint(caller, service.name, SECRET)
        return client.get("/internal/families/fam-9", headers={"Authorization": f"Bearer {token}"})

    ok = get(tokens.Caller(sub="a", role="agent", commune="heillecourt"))
    assert ok.status_code == 200 and ok.json()["family_name"] == "Petit"
    assert get(tokens.Caller(sub="b", role="agent", commune="ludres")).status_code == 404
    assert get(tokens.Caller(sub="p", role="parent", family_id="fam-9")).status_code == 200
    assert get(tokens.Caller(sub="q", role="parent", family_id="fam-other")).status_code == 404
