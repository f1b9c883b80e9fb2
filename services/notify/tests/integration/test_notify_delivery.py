"""From identity's event to a mail in a real SMTP server's inbox, through the real RabbitMQ
and PostgreSQL: notify's worker (consumers, sending job, relay) runs in a thread."""
import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from contracts.identity import ActivationIssued, PasswordChanged
from servicekit import migrations
from servicekit.db import Database
from servicekit.settings import load
from servicekit.testing import wait_until

from notify import handlers, sending
from notify.models import notifications
from notify.settings import NotifySettings
from notify_test_support import (MIGRATIONS, NO_BROKER, SmtpServer, identity_envelope, outbox_events, publish, rows,
                                 settings_for)

pytestmark = pytest.mark.integration


def activation(email_address: str):
    return identity_envelope(ActivationIssued(
        activation_id=str(uuid.uuid4()), family_id="fam-1", commune="heillecourt", commune_name="Heillecourt",
        family_name="Martin", email=email_address, link="http://127.0.0.1:8000/activation/abc",
        expires_at=datetime.now(timezone.utc) + timedelta(hours=48), existing_account=False))


def test_event_becomes_one_sent_email_and_a_notification_sent_event(db, run_worker, smtp_port, amqp_vhost_url):
    recipient = f"parent-{uuid.uuid4().hex[:8]}@example.org"
    event = activation(recipient)
    with SmtpServer(smtp_port) as smtp:
        settings = run_worker()
        publish(amqp_vhost_url, event)
        publish(amqp_vhost_url, event)  # the same event delivered twice
        [row] = wait_until(lambda: [r for r in rows(db, recipient=recipient) if r["status"] == "sent"], timeout=20)
        [mail] = wait_until(lambda: smtp.inbox.to(recipient), timeout=10)
        sent = wait_until(lambda: outbox_events(db, "notification.sent.v1"), timeout=10)

    assert (row["template"], row["source_event_id"], row["attempts"]) == ("activation", event.id, 1)
    assert row["sent_at"] is not None and row["last_error"] is None
    assert mail["Subject"] == "Activez votre Espace Famille — Heillecourt"
    assert mail["Message-ID"] == row["message_id"]
    assert mail["From"] == settings.notify_from
    assert mail["Content-Language"] == "fr" and mail["Auto-Submitted"] == "auto-generated"
    assert mail.get_content_type() == "multipart/alternative"
    text, html = mail.iter_parts()
    assert "http://127.0.0.1:8000/activation/abc" in text.get_content()
    assert 'href="http://127.0.0.1:8000/activation/abc"' in html.get_content()
    assert "(heure de Paris)" in text.get_content()
    [envelope] = sent
    assert envelope["source"] == "notify" and envelope["causation_id"] == event.id
    assert envelope["data"]["notification_id"] == row["id"]
    assert envelope["data"]["source_event_id"] == event.id
    assert len(smtp.inbox.to(recipient)) == 1  # the duplicate delivery sent nothing


def test_recording_the_same_event_again_is_refused_by_the_unique_key(db, pg_url, smtp_port):
    settings = settings_for(pg_url, NO_BROKER, smtp_port)
    event = activation("again@example.org")
    with db.transaction() as s:
        assert len(handlers.record_notification(s, event, settings)) == 1
    # e.g. a dead letter replayed after the inbox row was purged: still one notification
    with db.transaction() as s:
        assert handlers.record_notification(s, event, settings) == []
    assert len(rows(db, source_event_id=event.id)) == 1


def test_smtp_down_then_up_is_retried_and_sent_once(db, run_worker, smtp_port, amqp_vhost_url):
    recipient = f"retry-{uuid.uuid4().hex[:8]}@example.org"
    run_worker()
    publish(amqp_vhost_url, activation(recipient))
    # Nothing listens on the SMTP port yet: the attempt fails and is scheduled again.
    [row] = wait_until(lambda: [r for r in rows(db, recipient=recipient) if r["attempts"] >= 1], timeout=20)
    assert row["status"] == "queued"
    assert row["next_attempt_at"] is not None and "Connection" in row["last_error"]
    with SmtpServer(smtp_port) as smtp:
        [row] = wait_until(lambda: [r for r in rows(db, recipient=recipient) if r["status"] == "sent"], timeout=20)
        assert len(smtp.inbox.to(recipient)) == 1
    assert row["attempts"] >= 2 and row["last_error"] is None


def test_permanent_refusal_fails_at_once_and_emits_notification_failed(db, pg_url, smtp_port):
    settings = settings_for(pg_url, NO_BROKER, smtp_port)
    event = identity_envelope(PasswordChanged(user_id="u1", email="gone@example.org", reason="change",
                                              changed_at=datetime.now(timezone.utc)))
    with db.transaction() as s:
        [notification_id] = handlers.record_notification(s, event, settings)
    with SmtpServer(smtp_port, refuse=("gone@example.org",)):
        assert sending.send_due(db, settings) == 0
    [row] = rows(db, id=notification_id)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert "550" in row["last_error"]
    [failed] = outbox_events(db, "notification.failed.v1")
    assert failed["data"]["notification_id"] == notification_id and "550" in failed["data"]["error"]


def test_after_the_last_attempt_the_notification_fails(db, pg_url, smtp_port):
    settings = settings_for(pg_url, NO_BROKER, smtp_port, notify_max_attempts=2)
    with db.transaction() as s:
        [notification_id] = handlers.record_notification(s, activation("nobody@example.org"), settings)
    assert sending.send_due(db, settings) == 0  # SMTP unreachable: attempt 1, retry scheduled
    [row] = rows(db, id=notification_id)
    assert (row["status"], row["attempts"]) == ("queued", 1)
    assert sending.send_due(db, settings) == 0  # not due yet: untouched
    assert rows(db, id=notification_id)[0]["attempts"] == 1
    with db.transaction() as s:  # time passes
        s.execute(notifications.update().values(next_attempt_at=datetime.now(timezone.utc) - timedelta(seconds=1)))
    sending.send_due(db, settings)
    [row] = rows(db, id=notification_id)
    assert (row["status"], row["attempts"]) == ("failed", 2)
    assert len(outbox_events(db, "notification.failed.v1")) == 1


def test_unreachable_server_stops_the_run_without_touching_other_notifications(db, pg_url, smtp_port):
    settings = settings_for(pg_url, NO_BROKER, smtp_port)
    with db.transaction() as s:
        for i in range(3):
            handlers.record_notification(s, activation(f"batch{i}@example.org"), settings)
    sending.send_due(db, settings)
    assert sorted(r["attempts"] for r in rows(db)) == [0, 0, 1]


def test_two_senders_at_once_never_send_one_notification_twice(db, pg_url, smtp_port):
    settings = settings_for(pg_url, NO_BROKER, smtp_port)
    with db.transaction() as s:
        for i in range(20):
            handlers.record_notification(s, activation(f"pair{i}@example.org"), settings)
    with SmtpServer(smtp_port) as smtp:
        results = []
        threads = [threading.Thread(target=lambda: results.append(sending.send_due(db, settings))) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sum(results) == 20
        assert len(smtp.inbox.messages) == 20
    assert {r["status"] for r in rows(db)} == {"sent"}


def test_sqlite_default_records_and_sends(tmp_path, smtp_port):
    """`make run`'s zero-setup database: the same path on SQLite."""
    url = f"sqlite:///{tmp_path / 'notify.db'}"
    migrations.upgrade(MIGRATIONS, url)
    database = Database(url)
    settings = load(NotifySettings, "notify", {"NOTIFY_DATABASE_URL": url, "SMTP_PORT": str(smtp_port)})
    event = activation("lite@example.org")
    for _ in range(2):
        with database.transaction() as s:
            handlers.record_notification(s, event, settings)
    with SmtpServer(smtp_port) as smtp:
        assert sending.send_due(database, settings) == 1
        assert len(smtp.inbox.to("lite@example.org")) == 1
    assert [r["status"] for r in rows(database)] == ["sent"]
    assert len(outbox_events(database, "notification.sent.v1")) == 1
    database.dispose()
