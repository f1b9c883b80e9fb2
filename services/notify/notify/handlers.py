"""Event handlers: each answered event becomes one recorded, queued notification.

The handler runs in the consumer's transaction (with the inbox row), so the notification
exists if and only if the event counts as processed. Sending happens later, in the sending
job. The unique key (template, source_event_id) makes a second notification for the same
event impossible even when the inbox cannot see it (e.g. a dead letter replayed under another
consumer name, or the same event id arriving twice on different queues).
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from contracts.envelope import Envelope
from notify import messages
from notify.mail import message_id_for
from notify.models import QUEUED, notifications
from notify.settings import NotifySettings

log = logging.getLogger(__name__)


def record_notification(session: Session, envelope: Envelope, settings: NotifySettings) -> str | None:
    """Queue the e-mail answering `envelope`; its id, or None if one already exists."""
    draft = messages.draft_for(envelope, settings.public_url)
    notification_id = str(uuid.uuid4())
    values = {
        "id": notification_id,
        "template": draft.template,
        "recipient": draft.recipient,
        "subject": draft.content.subject,
        "text_body": draft.content.text,
        "html_body": draft.content.html,
        "message_id": message_id_for(notification_id, settings.notify_from),
        "source_event_id": envelope.id,
        "source_event_type": envelope.type,
        "commune": draft.commune,
        "status": QUEUED,
        "attempts": 0,
        "created_at": datetime.now(timezone.utc),
    }
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(notifications).values(**values).on_conflict_do_nothing(
        index_elements=[notifications.c.template, notifications.c.source_event_id]).returning(notifications.c.id)
    if session.execute(stmt).first() is None:  # RETURNING: rowcount is not reliable across drivers
        log.info("notification %s for event %s already recorded", draft.template, envelope.id)
        return None
    log.info("notification %s queued for event %s (%s)", notification_id, envelope.id, envelope.type)
    return notification_id


def install_handlers(worker, settings: NotifySettings) -> None:
    """One consumer per answered event type: queues `notify.email_<template>`."""
    for event_type, kind in messages.KINDS.items():
        def handle(session: Session, envelope: Envelope) -> None:
            record_notification(session, envelope, settings)
        worker.handler("identity", event_type, name=f"email_{kind.template}")(handle)
