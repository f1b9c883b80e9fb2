"""The inbox: which events each consumer has already processed (its idempotency record).

On PostgreSQL the batch claims go through psycopg itself (servicekit.pg: the session's
connection, in its transaction, prepared): a constant statement sent for every batch gains
nothing from SQLAlchemy's execution machinery (250 of a lone event's 1,150 Python calls in the
consumer; 116 this way). They bypass SQLAlchemy's cursor events, so they must come before
anything the session keeps to send later (servicekit.messaging.deferred): the consumer claims
first.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit import pg
from servicekit.db import dialect_insert
from servicekit.messaging.pipeline import wait_for_queued
from servicekit.messaging.tables import INBOX, inbox

# One constant statement whatever the batch size (prepared once). The keys go as one JSON
# document: psycopg dumps a list as an array element by element, in Python (two arrays of
# fifty keys cost the consumer about a third more CPU per claim).
_CLAIM_MANY_POSTGRESQL = pg.query(
    f"INSERT INTO {INBOX} (consumer, event_id, processed_at)"
    " SELECT k->>0, k->>1, :now FROM jsonb_array_elements(CAST(:keys AS jsonb)) WITH ORDINALITY AS t(k, n)"
    " ORDER BY n ON CONFLICT DO NOTHING RETURNING consumer, event_id")


# Every key or none: a key recorded before fails the statement (unique violation), and the
# transaction with it. Inside `pipelined` psycopg queues it without waiting for its result.
_CLAIM_ALL_POSTGRESQL = pg.query(
    f"INSERT INTO {INBOX} (consumer, event_id, processed_at)"
    " SELECT k->>0, k->>1, :now FROM jsonb_array_elements(CAST(:keys AS jsonb)) WITH ORDINALITY AS t(k, n)"
    " ORDER BY n")


def claim(session: Session, consumer: str, event_id: str) -> bool:
    """Record that `consumer` processes `event_id` in this transaction.

    False if it was already recorded (a duplicate delivery). On PostgreSQL a concurrent
    delivery of the same event waits for the first transaction and then sees the row.
    """
    values = {"consumer": consumer, "event_id": event_id, "processed_at": datetime.now(timezone.utc)}
    # RETURNING says whether the row went in (rowcount is not reliable across drivers).
    if session.get_bind().dialect.name in ("postgresql", "sqlite"):
        stmt = dialect_insert(session, inbox).values(**values).on_conflict_do_nothing().returning(inbox.c.event_id)
        return session.execute(stmt).first() is not None
    exists = session.execute(
            sa.select(sa.literal(1)).where(inbox.c.consumer == consumer, inbox.c.event_id == event_id)
    ).first()
    if exists:
        return False
    session.execute(inbox.insert().values(**values))
    return True


def claim_many(session: Session, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Record every (consumer, event_id) in this transaction with one statement; return the
    keys that were not recorded before (the others are duplicate deliveries).

    Keys are inserted in sorted order, so that two consumers claiming overlapping batches lock
    the rows in the same order (no deadlock between replicas)."""
    ordered = sorted(set(keys))
    if not ordered:
        return set()
    now = datetime.now(timezone.utc)
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        cursor = pg.execute(session, _CLAIM_MANY_POSTGRESQL, {"now": now, "keys": json.dumps(ordered)})
        wait_for_queued(session)  # inside `pipelined`: its result now, its error as SQLAlchemy's
        return set(cursor.fetchall())
    if dialect == "sqlite":
        rows = [{"consumer": c, "event_id": e, "processed_at": now} for c, e in ordered]
        stmt = (dialect_insert(session, inbox).values(rows)
                .on_conflict_do_nothing().returning(inbox.c.consumer, inbox.c.event_id))
        return {(c, e) for c, e in session.execute(stmt)}
    return {(c, e) for c, e in ordered if claim(session, c, e)}


def claim_all_or_fail(session: Session, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Record every (consumer, event_id) in this transaction with one statement that does not
    wait for its result (PostgreSQL, inside `pipelined`): the caller goes on at once, as if they
    were all new, and returns the keys. If one was recorded before (a duplicate delivery), the
    statement fails, at the next statement that waits or when the pipeline ends, and the
    transaction cannot commit: the caller then claims again with `claim_many`. Keys inserted in
    sorted order, as there."""
    ordered = sorted(set(keys))
    if ordered:
        pg.execute(session, _CLAIM_ALL_POSTGRESQL, {"now": datetime.now(timezone.utc), "keys": json.dumps(ordered)})
    return set(ordered)
