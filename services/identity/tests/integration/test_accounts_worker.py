"""notify's `notification.sent` receipt marks activation and invitation links as sent."""
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))
from accounts_testkit import (activate, app, auth, client, db, db_url, make_agent, make_commune,  # noqa: F401
                              outbox_events, parent_caller, register, unique)

from contracts.envelope import Envelope
from contracts.notify import NotificationFailed, NotificationSent
from identity.models import Activation, Invitation
from identity.worker import create_worker, on_notification_failed, on_notification_sent

pytestmark = pytest.mark.integration

SENT_AT = datetime(2026, 9, 1, 7, 30, tzinfo=timezone.utc)


def receipt(source_event: dict, sent_at=SENT_AT) -> Envelope:
    payload = NotificationSent(notification_id=unique("n"), template="activation", recipient="x@example.org",
                               source_event_id=source_event["id"], source_event_type=source_event["type"],
                               sent_at=sent_at)
    return Envelope(type=payload.EVENT_TYPE, source="notify", data=payload.model_dump(mode="json"))


def test_sent_receipt_marks_the_activation_link(client, db):
    commune = make_commune(db)
    agent = make_agent(db, commune)
    email = f"{unique('parent')}@example.org"
    family_id = register(client, agent, email).json()["id"]
    issued = [e for e in outbox_events(db, "activation.issued.v1") if e["data"]["email"] == email][0]

    with db.transaction() as s:
        on_notification_sent(s, receipt(issued))
    # A later receipt for the same link (another notification) keeps the first time.
    with db.transaction() as s:
        on_notification_sent(s, receipt(issued, datetime(2026, 9, 2, tzinfo=timezone.utc)))

    with db.read() as s:
        sent_at = s.scalars(sa.select(Activation.sent_at).where(Activation.family_id == family_id)).one()
    assert sent_at == SENT_AT
    listed = client.get(f"/internal/agent/families/{family_id}", headers=auth(agent)).json()
    assert listed["activation"]["sent_at"] == SENT_AT.isoformat()


def test_sent_receipt_marks_the_invitation(client, db):
    done = activate(client, db, make_agent(db, make_commune(db)), f"{unique('parent')}@example.org")
    email = f"{unique('second')}@example.org"
    client.post("/internal/me/invitations", json={"email": email}, headers=auth(parent_caller(done["sub"])))
    invited = [e for e in outbox_events(db, "guardian.invited.v1") if e["data"]["email"] == email][0]
    with db.transaction() as s:
        on_notification_sent(s, receipt(invited))
    with db.read() as s:
        assert s.scalars(sa.select(Invitation.sent_at).where(Invitation.email == email)).one() == SENT_AT


def failure(source_event: dict) -> Envelope:
    payload = NotificationFailed(notification_id=unique("n"), template="activation", recipient="x@example.org",
                                 source_event_id=source_event["id"], source_event_type=source_event["type"],
                                 error="550 5.1.1 mailbox unavailable")
    return Envelope(type=payload.EVENT_TYPE, source="notify", data=payload.model_dump(mode="json"))


def test_failed_delivery_is_shown_to_the_agent_until_a_resend(client, db):
    commune = make_commune(db)
    agent = make_agent(db, commune)
    email = f"{unique('parent')}@example.org"
    family_id = register(client, agent, email).json()["id"]
    issued = [e for e in outbox_events(db, "activation.issued.v1") if e["data"]["email"] == email][0]

    with db.transaction() as s:
        on_notification_failed(s, failure(issued))
    link = client.get(f"/internal/agent/families/{family_id}", headers=auth(agent)).json()["activation"]
    assert link["send_failed_at"] is not None and link["sent_at"] is None

    # A re-send makes a new link, not yet failed.
    client.post(f"/internal/agent/families/{family_id}/activation/resend", headers=auth(agent))
    link = client.get(f"/internal/agent/families/{family_id}", headers=auth(agent)).json()["activation"]
    assert link["send_failed_at"] is None


def test_failure_after_a_sent_receipt_keeps_the_link_sent(client, db):
    commune = make_commune(db)
    agent = make_agent(db, commune)
    email = f"{unique('parent')}@example.org"
    register(client, agent, email)
    issued = [e for e in outbox_events(db, "activation.issued.v1") if e["data"]["email"] == email][0]
    with db.transaction() as s:
        on_notification_sent(s, receipt(issued))
        on_notification_failed(s, failure(issued))
    with db.read() as s:
        row = s.scalars(sa.select(Activation).where(Activation.email == email)).one()
        assert row.sent_at == SENT_AT and row.send_failed_at is None


def test_receipt_for_an_unknown_event_changes_nothing(db):
    with db.transaction() as s:
        on_notification_sent(s, receipt({"id": "not-ours", "type": "cart.validated.v1"}))
    with db.read() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Activation).where(
            Activation.source_event_id == "not-ours")) == 0


def test_worker_consumes_notify_receipts_and_backchannel_logouts(app):
    worker = create_worker()
    assert [(h.source, h.event_type, h.queue) for h in worker.handlers] == [
        ("notify", "notification.sent.v1", "identity.link_sent"),
        ("notify", "notification.failed.v1", "identity.link_send_failed"),
        ("identity", "backchannel_logout.requested.v1", "identity.backchannel_logout"),
        ("requests", "address_change.accepted.v1", "identity.address_changes")]


def test_receipt_travels_through_rabbitmq(client, db, amqp_vhost_url):
    """The real loop: a notification.sent event on `notify.events` reaches identity's consumer.
    (The receipt is written in identity's own outbox with source "notify" so identity's relay
    publishes it to notify's exchange, as notify's relay would.)"""
    import threading

    from servicekit.messaging.outbox import add_event
    from servicekit.messaging.worker import Worker
    from servicekit.testing import wait_until

    from identity.settings import get_settings

    agent = make_agent(db, make_commune(db))
    email = f"{unique('parent')}@example.org"
    family_id = register(client, agent, email).json()["id"]
    issued = [e for e in outbox_events(db, "activation.issued.v1") if e["data"]["email"] == email][0]
    worker = Worker(get_settings().model_copy(update={"amqp_url": amqp_vhost_url}), db)
    worker.handler("notify", NotificationSent.EVENT_TYPE, name="link_sent")(on_notification_sent)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        assert worker.ready.wait(30)
        with db.transaction() as s:
            add_event(s, "notify", NotificationSent(
                notification_id=unique("n"), template="activation", recipient=email,
                source_event_id=issued["id"], source_event_type=issued["type"], sent_at=SENT_AT))

        def sent():
            with db.read() as s:
                return s.scalars(sa.select(Activation.sent_at).where(Activation.family_id == family_id)).one()
        assert wait_until(sent, timeout=30) == SENT_AT
    finally:
        worker.stop()
        thread.join(30)
