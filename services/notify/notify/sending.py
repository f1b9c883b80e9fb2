"""The sending job: queued notifications → SMTP → sent (or retried, then failed).

One notification per transaction: the row is locked (PostgreSQL: FOR UPDATE SKIP LOCKED, so
several worker replicas share the queue), the message is handed to the SMTP server, then the
row is marked and the NotificationSent / NotificationFailed event is written to the outbox,
and the transaction commits at once.

Crash window (at-least-once): if the process dies after the SMTP server accepted the message
and before that commit, the row is still `queued` and the e-mail is sent again on the next
run. Nothing but one UPDATE and one outbox INSERT happens in that window. The duplicate
carries the same Message-ID as the first copy (see mail.message_id_for), so mail clients and
support can recognise it. The opposite choice (commit "sending" before talking to SMTP)
would lose e-mails on a crash, which is worse for an activation link.

A permanent refusal also records the address as undeliverable for the commune's agents
(notify/undeliverable.py); a later accepted e-mail to it takes it off that list.

An SMTP failure worth retrying (connection refused, 4xx, timeout) increments `attempts` and
sets `next_attempt_at` with exponential back-off; after NOTIFY_MAX_ATTEMPTS, or at once for
a permanent refusal (5xx), the notification is `failed` and NotificationFailed is emitted.
When the server cannot be reached, the run stops after recording that attempt: the other
queued notifications were not tried and keep their attempts.
"""
from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.orm import Session

from contracts.notify import NotificationFailed, NotificationSent
from servicekit.db import Database
from servicekit.messaging.outbox import add_event
from notify.mail import PermanentFailure, SmtpSender, build_message
from notify import undeliverable
from notify.models import FAILED, QUEUED, SENT, notifications
from notify.settings import NotifySettings

log = logging.getLogger(__name__)

SOURCE = "notify"
MAX_ERROR_CHARS = 1000


def retry_delay(settings: NotifySettings, attempts: int) -> timedelta:
    """Back-off after the `attempts`-th failed attempt (1, 2, …)."""
    seconds = settings.notify_retry_base_seconds * (2 ** max(0, attempts - 1))
    return timedelta(seconds=min(seconds, settings.notify_retry_cap_seconds))


def _claim_next(session: Session, now: datetime):
    query = (
        sa.select(notifications)
        .where(notifications.c.status == QUEUED,
               sa.or_(notifications.c.next_attempt_at.is_(None), notifications.c.next_attempt_at <= now))
        .order_by(notifications.c.created_at)
        .limit(1)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return session.execute(query).mappings().first()


def send_due(db: Database, settings: NotifySettings,
             sender_factory: Callable[[NotifySettings], SmtpSender] = SmtpSender) -> int:
    """Send up to NOTIFY_SEND_BATCH due notifications; return how many were sent."""
    sent = 0
    with sender_factory(settings) as sender:
        for _ in range(settings.notify_send_batch):
            with db.transaction() as session:
                now = datetime.now(timezone.utc)
                row = _claim_next(session, now)
                if row is None:
                    break
                outcome = _attempt(session, sender, settings, row, now)
            if outcome == SENT:
                sent += 1
            elif outcome == "unreachable":
                break
    return sent


def _attempt(session: Session, sender: SmtpSender, settings: NotifySettings, row, now: datetime) -> str:
    msg = build_message(sender=settings.notify_from, recipient=row["recipient"], subject=row["subject"],
                        text=row["text_body"], html=row["html_body"], message_id=row["message_id"], date=now)
    attempts = row["attempts"] + 1
    try:
        sender.send(msg)
    except PermanentFailure as exc:
        _fail(session, row, attempts, str(exc))
        undeliverable.record_refusal(session, row, str(exc)[:MAX_ERROR_CHARS], now)
        return FAILED
    except OSError as exc:  # smtplib.SMTPException is an OSError too
        error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
        if attempts >= settings.notify_max_attempts:
            _fail(session, row, attempts, error)
            return FAILED
        delay = retry_delay(settings, attempts)
        session.execute(notifications.update().where(notifications.c.id == row["id"]).values(
            attempts=attempts, last_error=error, next_attempt_at=now + delay))
        log.warning("notification %s: attempt %d failed (%s); next in %.0fs", row["id"], attempts, error,
                    delay.total_seconds())
        return QUEUED if _server_answered(exc) else "unreachable"
    # Sent: from here to the commit is the crash window described above; keep it short.
    sent_at = datetime.now(timezone.utc)
    session.execute(notifications.update().where(notifications.c.id == row["id"]).values(
        status=SENT, attempts=attempts, sent_at=sent_at, next_attempt_at=None, last_error=None))
    undeliverable.forget(session, row["recipient"])
    add_event(session, SOURCE, NotificationSent(
        notification_id=row["id"], template=row["template"], recipient=row["recipient"],
        source_event_id=row["source_event_id"], source_event_type=row["source_event_type"], sent_at=sent_at,
    ), causation_id=row["source_event_id"])
    log.info("notification %s sent to the SMTP server (attempt %d)", row["id"], attempts)
    return SENT


def _server_answered(exc: OSError) -> bool:
    """The server is reachable and refused this message (4xx): the next one may pass."""
    if isinstance(exc, smtplib.SMTPConnectError):
        return False
    return isinstance(exc, (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused))


def _fail(session: Session, row, attempts: int, error: str) -> None:
    error = error[:MAX_ERROR_CHARS]
    session.execute(notifications.update().where(notifications.c.id == row["id"]).values(
        status=FAILED, attempts=attempts, last_error=error, next_attempt_at=None))
    add_event(session, SOURCE, NotificationFailed(
        notification_id=row["id"], template=row["template"], recipient=row["recipient"],
        source_event_id=row["source_event_id"], source_event_type=row["source_event_type"], error=error,
    ), causation_id=row["source_event_id"])
    log.error("notification %s failed for good after %d attempt(s): %s", row["id"], attempts, error)
