"""The inbox: which events each consumer has already processed (its idempotency record)."""
from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from servicekit.messaging.tables import inbox


def claim(session: Session, consumer: str, event_id: str) -> bool:
    """Record that `consumer` processes `event_id` in this transaction.

    False if it was already recorded (a duplicate delivery). On PostgreSQL a concurrent
    delivery of the same event waits for the first transaction and then sees the row.
    """
    values = {"consumer": consumer, "event_id": event_id, "processed_at": datetime.now(timezone.utc)}
    dialect = session.get_bind().dialect.name
    # RETURNING says whether the row went in (rowcount is not reliable across drivers).
    if dialect == "postgresql":
        stmt = postgresql.insert(inbox).values(**values).on_conflict_do_nothing().returning(inbox.c.event_id)
        return session.execute(stmt).first() is not None
    if dialect == "sqlite":
        stmt = sqlite.insert(inbox).values(**values).on_conflict_do_nothing().returning(inbox.c.event_id)
        return session.execute(stmt).first() is not None
    exists = session.execute(
            sa.select(sa.literal(1)).where(inbox.c.consumer == consumer, inbox.c.event_id == event_id)
    ).first()
    if exists:
        return False
    session.execute(inbox.insert().values(**values))
    return True
