"""Writing events: into the caller's transaction, never straight to the broker.

`add_event` (`add_events` for several) inserts the envelope into the service's `outbox` table
with the business change. The relay (servicekit.messaging.relay) publishes it after commit. On
PostgreSQL the relay is woken by a NOTIFY sent once the transaction has committed (and only if
it commits), from outside it: a NOTIFY inside it would serialize the commits of every notifying
transaction of the cluster (servicekit.messaging.wakeup).
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

from sqlalchemy.orm import Session

from contracts.envelope import Envelope, EventPayload
from servicekit.bulk import insert_rows
from servicekit.context import get_correlation_id
from servicekit.db import is_postgresql
from servicekit.messaging.names import exchange_name, notify_channel
from servicekit.messaging.tables import outbox
from servicekit.messaging.wakeup import wake_after_commit


def add_event(session: Session, source: str, payload: EventPayload, *,
              causation_id: str | None = None, correlation_id: str | None = None) -> Envelope:
    """Record `payload` as an event of `source` in the current transaction; return its envelope."""
    return add_events(session, source, [payload], causation_id=causation_id, correlation_id=correlation_id)[0]


def add_events(session: Session, source: str, payloads: Iterable[EventPayload], *,
               causation_id: str | None = None, correlation_id: str | None = None) -> list[Envelope]:
    """Record several events of `source` in the current transaction, in order: one INSERT for all
    of them (a use case that emits one event per line, inside locks held until commit, pays one
    round trip), and one wake-up of the relay after the commit."""
    correlation_id = correlation_id if correlation_id is not None else get_correlation_id()
    envelopes = [Envelope(type=payload.EVENT_TYPE, source=source, data=payload.model_dump(mode="json"),
                          correlation_id=correlation_id, causation_id=causation_id) for payload in payloads]
    if not envelopes:
        return []
    exchange = exchange_name(source)
    insert_rows(session, outbox, [
        {"event_id": envelope.id, "exchange": exchange, "routing_key": envelope.type,
         "body": envelope.model_dump_json(), "created_at": envelope.time.astimezone(timezone.utc), "attempts": 0}
        for envelope in envelopes])
    if is_postgresql(session):
        wake_after_commit(session, notify_channel(source))
    return envelopes


def purge_published(session: Session, older_than: timedelta) -> int:
    """Delete events published more than `older_than` ago; returns how many.

    Published rows have done their job, and some carry secrets for a while (activation and
    reset links): they are not kept forever. Unpublished rows are never touched."""
    cutoff = datetime.now(timezone.utc) - older_than
    result = session.execute(outbox.delete().where(outbox.c.published_at.is_not(None),
                                                   outbox.c.published_at < cutoff))
    return result.rowcount
