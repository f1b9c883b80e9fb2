"""Event handlers: each answered event becomes recorded, queued notifications (one per recipient).

The handler runs in the consumer's transaction (with the inbox row), so the notifications
exist if and only if the event counts as processed. Sending happens later, in the sending
job. The unique key (template, source_event_id, recipient) makes a second notification for
the same event and address impossible even when the inbox cannot see it (e.g. a dead letter
replayed under another consumer name, or the same event id arriving twice on different queues).
Recipients who turned that kind of e-mail off (notify/preferences.py) get nothing.
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone

from sqlalchemy.orm import Session

from contracts.envelope import Envelope
from servicekit.db import dialect_insert
from notify import directory, messages, preferences
from notify.mail import message_id_for
from notify.messages import Draft
from notify.models import QUEUED, notifications
from notify.settings import NotifySettings

log = logging.getLogger(__name__)


def insert_notification(session: Session, draft: Draft, settings: NotifySettings, source_event_id: str,
                        source_event_type: str) -> str | None:
    """Queue one e-mail; its id, or None if that (template, source, recipient) already exists."""
    notification_id = str(uuid.uuid4())
    values = {
        "id": notification_id,
        "template": draft.template,
        "recipient": draft.recipient.email,
        "subject": draft.content.subject,
        "text_body": draft.content.text,
        "html_body": draft.content.html,
        "message_id": message_id_for(notification_id, settings.notify_from),
        "source_event_id": source_event_id,
        "source_event_type": source_event_type,
        "commune": draft.commune,
        "family_id": draft.family_id,
        "status": QUEUED,
        "attempts": 0,
        "created_at": datetime.now(timezone.utc),
    }
    stmt = dialect_insert(session, notifications).values(**values).on_conflict_do_nothing(
        index_elements=[notifications.c.template, notifications.c.source_event_id, notifications.c.recipient]
    ).returning(notifications.c.id)
    if session.execute(stmt).first() is None:  # RETURNING: rowcount is not reliable across drivers
        log.info("notification %s for event %s already recorded", draft.template, source_event_id)
        return None
    log.info("notification %s (%s) queued for event %s (%s)", notification_id, draft.template, source_event_id,
             source_event_type)
    return notification_id


def record_notification(session: Session, envelope: Envelope, settings: NotifySettings) -> list[str]:
    """Queue the e-mails answering `envelope`; the ids of those newly recorded."""
    drafts = messages.drafts_for(session, envelope, settings.public_url)
    if not drafts:
        return []
    off = preferences.turned_off(session, drafts[0].template, [d.recipient.user_id for d in drafts])
    recorded = []
    for draft in drafts:
        if draft.recipient.user_id in off:
            log.info("notification %s for event %s: %s turned it off", draft.template, envelope.id,
                     draft.recipient.user_id)
            continue
        notification_id = insert_notification(session, draft, settings, envelope.id, envelope.type)
        if notification_id:
            recorded.append(notification_id)
    return recorded


def install_handlers(worker, settings: NotifySettings) -> None:
    """The directory's consumers, then one consumer per answered event type (`notify.email_<template>`)."""
    directory.install_handlers(worker)
    for event_type, kind in messages.KINDS.items():
        def handle(session: Session, envelope: Envelope) -> None:
            record_notification(session, envelope, settings)
        worker.handler(kind.source, event_type, name=f"email_{kind.template}")(handle)
