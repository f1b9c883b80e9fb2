"""The worker's scheduled jobs: drafts past their retention are deleted; once a day (from
REQUESTS_SUMMARY_HOUR, Europe/Paris) each commune with pending requests gets its summary event."""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from contracts import requests as events
from servicekit import idempotency
from servicekit.db import dialect_insert
from servicekit.messaging.outbox import add_event
from servicekit.types import utcnow

from demandes import flow
from demandes.domain import states
from demandes.models import idempotency_keys, requests, summaries


def purge_idempotency_keys(db) -> int:
    with db.transaction() as session:
        return idempotency.purge(session, idempotency_keys)


def purge_drafts(db, retention_days: int, now: datetime | None = None) -> int:
    """Delete drafts untouched for `retention_days` (their attachments stay family documents)."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    with db.transaction() as session:
        result = session.execute(requests.delete().where(requests.c.status == states.DRAFT,
                                                         requests.c.updated_at < cutoff))
        return result.rowcount or 0


def publish_summaries(db, settings, now: datetime | None = None) -> list[str]:
    """The day's summary for each commune with pending requests, once per commune and day."""
    now = now or utcnow()
    local = now.astimezone(flow.PARIS)
    if local.hour < settings.requests_summary_hour:
        return []
    day = local.date()
    published = []
    with db.transaction() as session:
        communes = session.execute(sa.select(requests.c.commune).distinct()
                                   .where(requests.c.status.in_(states.PENDING))).scalars().all()
        for commune in sorted(communes):
            claimed = session.execute(dialect_insert(session, summaries)
                                      .values(commune=commune, day=day, published_at=now)
                                      .on_conflict_do_nothing().returning(summaries.c.commune)).first()
            if claimed is None:
                continue  # already published today (or by another replica)
            summary = flow.pending_summary(session, commune)
            add_event(session, flow.SOURCE, events.PendingRequestsSummarised(
                day=day, link=f"{settings.public_url.rstrip('/')}/agent/demandes", **summary))
            published.append(commune)
    return published
