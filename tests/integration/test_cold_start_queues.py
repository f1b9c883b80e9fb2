"""A platform just started: identity's seed events are published as soon as identity's worker
runs, maybe before notify's worker has ever declared its queues. A topic exchange routes a
message to the queues bound at that instant: with booking's queue bound and notify's not yet,
`family.registered.v1` is routable (publisher confirms with `mandatory` see nothing wrong) and
reaches booking only; notify never learns the demo parent's address.

`migrate` (run for every service before any worker starts: `make run`, compose, the k8s jobs)
declares the service's consumer queues and bindings, so the event waits in notify's queue until
notify's worker consumes it. Real RabbitMQ (a vhost of its own), notify's real CLI and worker."""
from __future__ import annotations

import threading
import uuid

import kombu
import pytest
import sqlalchemy as sa

from contracts.envelope import Envelope
from contracts.identity import FamilyRegistered
from servicekit import cli
from servicekit.db import Database
from servicekit.messaging.broker import events_exchange
from servicekit.messaging.confirms import ConfirmingPublisher, Outgoing
from servicekit.testing import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def notify_env(tmp_path, amqp_vhost_url, monkeypatch):
    from notify import db as notify_db, settings as notify_settings

    monkeypatch.setenv("NOTIFY_DATABASE_URL", f"sqlite:///{tmp_path / 'notify.db'}")
    monkeypatch.setenv("AMQP_URL", amqp_vhost_url)
    monkeypatch.setenv("EF_ENV", "test")
    monkeypatch.setenv("EF_VAR_DIR", str(tmp_path))
    notify_settings.get_settings.cache_clear()
    notify_db.get_db.cache_clear()
    yield amqp_vhost_url
    notify_settings.get_settings.cache_clear()
    notify_db.get_db.cache_clear()


def publish_as_identitys_relay(amqp_url: str, envelope: Envelope) -> None:
    """As the outbox relay publishes: mandatory, with publisher confirms."""
    with kombu.Connection(amqp_url) as conn:
        channel = conn.channel()
        events_exchange("identity")(channel).declare()
        [result] = ConfirmingPublisher(channel).publish([Outgoing(
            exchange="identity.events", routing_key=envelope.type, body=envelope.model_dump_json(),
            message_id=envelope.id)])
        assert result.ok, result.error  # routable: another service's queue is bound


def test_an_identity_event_published_before_notify_ever_ran_reaches_notify(notify_env, tmp_path):
    from notify.__main__ import COMMANDS
    from notify.models import family_contacts
    from notify.worker import create_worker

    amqp_url = notify_env
    # `make run`'s prepare step: every service migrated before any worker starts.
    assert cli.main(COMMANDS, ["migrate"]) == 0

    # booking's worker is already consuming family.registered.v1; notify's has never run.
    with kombu.Connection(amqp_url) as conn:
        kombu.Queue("booking.families_registered", exchange=events_exchange("identity"),
                    routing_key=FamilyRegistered.EVENT_TYPE, durable=True)(conn.channel()).declare()
    family_id = str(uuid.uuid4())
    publish_as_identitys_relay(amqp_url, Envelope(
        type=FamilyRegistered.EVENT_TYPE, source="identity",
        data=FamilyRegistered(family_id=family_id, commune="heillecourt", family_name="Martin",
                              email="parent.demo@example.org").model_dump(mode="json")))

    # notify's worker starts afterwards and learns the family's address.
    db = Database(f"sqlite:///{tmp_path / 'notify.db'}")
    worker = create_worker(db=db)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        assert worker.ready.wait(15), "notify's worker did not start consuming"

        def address():
            with db.read() as s:
                return s.execute(sa.select(family_contacts.c.email).where(
                    family_contacts.c.family_id == family_id)).scalar()
        wait_until(address, timeout=15)
        assert address() == "parent.demo@example.org"
    finally:
        worker.stop()
        thread.join(20)
        db.dispose()


def test_migrate_says_so_when_the_broker_is_away(notify_env, monkeypatch, capsys):
    from notify.__main__ import COMMANDS
    from notify import settings as notify_settings

    monkeypatch.setenv("AMQP_URL", "amqp://guest:guest@127.0.0.1:1//")  # nobody listens there
    notify_settings.get_settings.cache_clear()
    assert cli.main(COMMANDS, ["migrate"]) == 1
    assert "consumer queues are not declared" in capsys.readouterr().err
    assert cli.main(COMMANDS, ["migrate", "--database-only"]) == 0
