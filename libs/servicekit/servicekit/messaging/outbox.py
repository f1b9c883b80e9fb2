"""Writing events: into the caller's transaction, never straight to the broker.

`add_event` (`add_events` for several) inserts the envelope into the service's `outbox` table
with the business change. The relay (servicekit.messaging.relay) publishes it after commit. On
PostgreSQL the relay is woken by a NOTIFY sent once the transaction has committed (and only if
it commits), from outside it: a NOTIFY inside it would serialize the commits of every notifying
transaction of the cluster (servicekit.messaging.wakeup).
"""
from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from functools import lru_cache

import pydantic_core
import sqlalchemy as sa
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


# --- many events, cheaply (a use case emitting one event per line) -----------------------------------------
# `write_events` / `event_document` build each envelope's JSON without an Envelope model: the
# payload's own `model_dump_json()` spliced between the envelope's other fields, those encoded
# once per call by pydantic itself (the same encoder as `Envelope.model_dump_json()`), so the
# body is byte for byte what `add_events` writes (tested). The rows go to PostgreSQL as one JSON
# document in which each body is a JSON value, not a string holding JSON: no second escaping of
# every quote; `json_populate_recordset` (json, not jsonb) gives a text column a JSON value's
# text exactly as written.

# An INSERT of `event_document`'s rows in order (bound as :events). Also usable as one step of a
# writable CTE (`WITH outboxed AS (<this>) ...`): then call `events_written` in the same transaction.
INSERT_EVENTS_PG = """INSERT INTO outbox (event_id, exchange, routing_key, body, created_at, attempts)
    SELECT event_id, exchange, routing_key, body, created_at, 0
    FROM json_populate_recordset(NULL::outbox, CAST(:events AS json)) WITH ORDINALITY ORDER BY ordinality"""
_INSERT_EVENTS_PG = sa.text(INSERT_EVENTS_PG)


@lru_cache(maxsize=1024)
def _json(value) -> str:
    return pydantic_core.to_json(value).decode()


def _envelope_parts(source: str, now: datetime, correlation_id: str | None,
                    causation_id: str | None) -> tuple[str, str, str]:
    """The text around an envelope's id, type and data (time, source, ids, specversion), cut out
    of a real Envelope's JSON (so that the field order and encodings stay the model's)."""
    text = Envelope(id="", type="", source=source, time=now, data={}, correlation_id=correlation_id,
                    causation_id=causation_id).model_dump_json()
    head, tail = text.split(',"data":{}', 1)
    before_type, after_type = head.split('"type":""', 1)
    assert before_type == '{"id":"",', text  # the model's field order: id, type, source, time, data, ...
    return '{"id":', after_type + ',"data":', tail


def event_bodies(source: str, payloads: Iterable[EventPayload], *, causation_id: str | None = None,
                 correlation_id: str | None = None, now: datetime | None = None) -> list[tuple[str, str, str]]:
    """(event id, type, envelope JSON) of each payload, as `add_events` would write them (one
    time, `now`, for all: they belong to one transaction)."""
    correlation_id = correlation_id if correlation_id is not None else get_correlation_id()
    now = now if now is not None else datetime.now(timezone.utc)
    start, middle, tail = _envelope_parts(source, now, correlation_id, causation_id)
    payloads = list(payloads)
    # uuid4's ids with one urandom call for all (a system call each was a third of this function)
    random = os.urandom(16 * len(payloads))
    out = []
    for n, payload in enumerate(payloads):
        event_id = str(uuid.UUID(bytes=random[16 * n:16 * n + 16], version=4))
        out.append((event_id, payload.EVENT_TYPE, "".join((
            start, '"', event_id, '","type":', _json(payload.EVENT_TYPE), middle, payload.model_dump_json(), tail))))
    return out


def event_document(source: str, payloads: Iterable[EventPayload], *, causation_id: str | None = None,
                   correlation_id: str | None = None, now: datetime | None = None) -> str | None:
    """The outbox rows of `payloads` as the JSON document `INSERT_EVENTS_PG` reads (PostgreSQL);
    None when there are none."""
    now = now if now is not None else datetime.now(timezone.utc)
    bodies = event_bodies(source, payloads, causation_id=causation_id, correlation_id=correlation_id, now=now)
    if not bodies:
        return None
    common = '","exchange":' + json.dumps(exchange_name(source)) + ',"created_at":"' + now.isoformat() + '","routing_key":'
    return "[" + ",".join(f'{{"event_id":"{event_id}{common}{_json(kind)},"body":{body}}}'
                          for event_id, kind, body in bodies) + "]"


def events_written(session: Session, source: str) -> None:
    """Events of `source` were inserted in the session's transaction by the caller's own
    statement (`INSERT_EVENTS_PG` in a CTE): wake the relay once it commits (PostgreSQL)."""
    if is_postgresql(session):
        wake_after_commit(session, notify_channel(source))


def write_events(session: Session, source: str, payloads: Sequence[EventPayload], *,
                 causation_id: str | None = None, correlation_id: str | None = None) -> None:
    """`add_events` without returning Envelope models (none built): the same rows, bodies and
    wake-up, for a use case that writes many events and needs none of them back."""
    if not payloads:
        return
    if not is_postgresql(session):
        add_events(session, source, payloads, causation_id=causation_id, correlation_id=correlation_id)
        return
    session.execute(_INSERT_EVENTS_PG, {"events": event_document(
        source, payloads, causation_id=causation_id, correlation_id=correlation_id)})
    events_written(session, source)


def purge_published(session: Session, older_than: timedelta) -> int:
    """Delete events published more than `older_than` ago; returns how many.

    Published rows have done their job, and some carry secrets for a while (activation and
    reset links): they are not kept forever. Unpublished rows are never touched."""
    cutoff = datetime.now(timezone.utc) - older_than
    result = session.execute(outbox.delete().where(outbox.c.published_at.is_not(None),
                                                   outbox.c.published_at < cutoff))
    return result.rowcount
