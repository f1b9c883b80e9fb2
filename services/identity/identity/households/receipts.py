"""notify's receipts: whether the e-mail of an activation or invitation link left (or failed)."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity.models import Activation, Invitation


def _links_announced_by(session: Session, source_event_id: str) -> list:
    return [row for model in (Activation, Invitation)
            for row in session.scalars(sa.select(model).where(model.source_event_id == source_event_id))]


def record_notification_sent(session: Session, source_event_id: str, sent_at: datetime) -> bool:
    """notify says the e-mail answering one of our events left: the agent (or inviter) sees it.
    True if it matched a link. The first receipt wins (a re-delivery changes nothing)."""
    rows = _links_announced_by(session, source_event_id)
    for row in rows:
        if row.sent_at is None:
            row.sent_at = sent_at
    return bool(rows)


def record_notification_failed(session: Session, source_event_id: str, failed_at: datetime, error: str) -> bool:
    """notify gave up on the e-mail of one of our links: the agent sees it failed, checks the
    address and re-sends. A link already marked sent stays sent (a late failure of a duplicate)."""
    rows = _links_announced_by(session, source_event_id)
    for row in rows:
        if row.sent_at is None and row.send_failed_at is None:
            row.send_failed_at = failed_at
            row.send_error = error[:2000]
    return bool(rows)
