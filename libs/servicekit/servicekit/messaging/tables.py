"""The outbox and inbox tables every service database carries.

They are declared here once and added to each service's metadata by
`servicekit.db.declarative_base()`, so each service's Alembic migrations create them.
The relay and consumers reach them through `outbox` / `inbox` below.

An outbox row is pending (published_at and parked_at NULL), published, or parked (the broker
refused it OUTBOX_MAX_ATTEMPTS times; only an operator's replay makes it pending again).
"""
from __future__ import annotations

import sqlalchemy as sa

from servicekit.types import UTCDateTime

OUTBOX = "outbox"
INBOX = "inbox"

_BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def define(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    outbox = sa.Table(
        OUTBOX,
        metadata,
        # Monotonic order of writes: the relay publishes in this order.
        sa.Column("seq", _BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("exchange", sa.String(100), nullable=False),
        sa.Column("routing_key", sa.String(200), nullable=False),
        # The whole JSON envelope, exactly as it goes on the wire.
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("published_at", UTCDateTime, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        # Earliest time of the next attempt after a failure (e.g. unroutable): back-off.
        sa.Column("next_attempt_at", UTCDateTime, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        # Set when the relay gave up after OUTBOX_MAX_ATTEMPTS refusals (e.g. no queue bound):
        # the row waits for an operator (`python -m <service> outbox parked|replay-parked`).
        sa.Column("parked_at", UTCDateTime, nullable=True),
    )
    due = sa.and_(outbox.c.published_at.is_(None), outbox.c.parked_at.is_(None))
    sa.Index("ix_outbox_pending", outbox.c.seq, postgresql_where=due, sqlite_where=due)
    parked = outbox.c.parked_at.is_not(None)
    sa.Index("ix_outbox_parked", outbox.c.seq, postgresql_where=parked, sqlite_where=parked)
    inbox = sa.Table(
        INBOX,
        metadata,
        sa.Column("consumer", sa.String(200), primary_key=True),
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("processed_at", UTCDateTime, nullable=False),
    )
    return outbox, inbox


# Metadata-free handles for queries (the relay and consumers do not know a service's Base).
_standalone = sa.MetaData()
outbox, inbox = define(_standalone)
