"""Deleting what notify no longer needs (worker job `retention`, hourly).

The rendered bodies of sent e-mails carry live links (activation, invitation, password
reset) while they are young: after NOTIFY_BODY_RETENTION_HOURS (longer than any link lives)
they are blanked, keeping who, what and when for support. Sent and failed notifications are
deleted after NOTIFY_RETENTION_DAYS. Queued ones are never touched. Failed ones keep their
bodies until deleted, so that an operator can still retry them.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.orm import Session

from notify.models import FAILED, SENT, notifications
from notify.settings import NotifySettings

log = logging.getLogger(__name__)


def purge(session: Session, settings: NotifySettings, now: datetime | None = None) -> dict[str, int]:
    """Blank old bodies and delete old notifications; how many of each."""
    now = now or datetime.now(timezone.utc)
    bodies_before = now - timedelta(hours=settings.notify_body_retention_hours)
    rows_before = now - timedelta(days=settings.notify_retention_days)
    n = notifications.c
    deleted = session.execute(
        notifications.delete().where(n.status.in_((SENT, FAILED)), n.created_at < rows_before)).rowcount or 0
    blanked = session.execute(
        notifications.update()
        .where(n.status == SENT, n.sent_at < bodies_before, sa.or_(n.text_body != "", n.html_body != ""))
        .values(text_body="", html_body="")).rowcount or 0
    if deleted or blanked:
        log.info("retention: %d notification(s) deleted, %d sent body(ies) blanked", deleted, blanked)
    return {"deleted": deleted, "bodies_blanked": blanked}
