"""Retention jobs every worker runs: the outbox and the inbox do not grow without bound.

- outbox_retention (hourly): deletes events published more than OUTBOX_RETENTION_HOURS ago
  (never pending or parked ones: servicekit.messaging.outbox.purge_published).
- inbox_retention (hourly): deletes inbox rows (events a consumer already processed) older
  than INBOX_RETENTION_DAYS. A row is only needed while a duplicate of its event can still
  arrive: a second publish after a relay crash comes within seconds, retries end within
  minutes, so the default of 30 days is far above any redelivery window. Rows are deleted in
  batches of PURGE_BATCH, each in its own short transaction, so the first run after a long
  time does not hold one huge transaction.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit.db import Database
from servicekit.messaging.jobs import Job
from servicekit.messaging.outbox import purge_published
from servicekit.messaging.tables import inbox
from servicekit.settings import ServiceSettings

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 3600
PURGE_BATCH = 5000


def purge_inbox_batch(session: Session, older_than: timedelta, limit: int = PURGE_BATCH) -> int:
    """Delete at most `limit` inbox rows processed more than `older_than` ago; returns how many."""
    cutoff = datetime.now(timezone.utc) - older_than
    key = sa.tuple_(inbox.c.consumer, inbox.c.event_id)
    old = sa.select(inbox.c.consumer, inbox.c.event_id).where(inbox.c.processed_at < cutoff).limit(limit)
    return session.execute(inbox.delete().where(key.in_(old))).rowcount


def purge_inbox(db: Database, older_than: timedelta, batch: int = PURGE_BATCH) -> int:
    """Delete every inbox row past retention, a batch per transaction; returns how many."""
    total = 0
    while True:
        with db.transaction() as session:
            deleted = purge_inbox_batch(session, older_than, batch)
        total += deleted
        if deleted < batch:
            return total


def jobs(settings: ServiceSettings) -> list[Job]:
    def outbox_retention(db: Database) -> None:
        with db.transaction() as session:
            deleted = purge_published(session, timedelta(hours=settings.outbox_retention_hours))
        if deleted:
            log.info("deleted %d published outbox event(s) past retention", deleted)

    def inbox_retention(db: Database) -> None:
        deleted = purge_inbox(db, timedelta(days=settings.inbox_retention_days))
        if deleted:
            log.info("deleted %d inbox row(s) past retention", deleted)

    return [Job("outbox_retention", INTERVAL_SECONDS, outbox_retention),
            Job("inbox_retention", INTERVAL_SECONDS, inbox_retention)]
