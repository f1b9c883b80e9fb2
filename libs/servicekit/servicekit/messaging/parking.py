"""Parked outbox events: what the relay gave up on, for an operator to see and send again.

    python -m <service> outbox status
    python -m <service> outbox parked [--limit N] [--offset N]
    python -m <service> outbox replay-parked (--id EVENT_ID ... | --all)

The relay parks an event the broker refused OUTBOX_MAX_ATTEMPTS times (typically unroutable:
no queue is bound to its routing key, because its consumer is not deployed yet or nothing
consumes that event type). Replaying makes it pending again with a fresh count of attempts,
and wakes the relay; if it is still refused it is parked again after the same tries.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit.db import Database
from servicekit.messaging.names import notify_channel
from servicekit.messaging.tables import outbox
from servicekit.settings import ServiceSettings

DEFAULT_PAGE_SIZE = 50


@dataclass(frozen=True)
class ParkedEvent:
    event_id: str
    event_type: str
    exchange: str
    created_at: datetime
    parked_at: datetime
    attempts: int
    last_error: str


def parked_count(session: Session) -> int:
    return session.execute(sa.select(sa.func.count()).where(outbox.c.parked_at.is_not(None))).scalar_one()


def list_parked(session: Session, *, limit: int = DEFAULT_PAGE_SIZE, offset: int = 0) -> list[ParkedEvent]:
    """Parked events in write order (`seq`), one page."""
    rows = session.execute(
        sa.select(outbox.c.event_id, outbox.c.routing_key, outbox.c.exchange, outbox.c.created_at,
                  outbox.c.parked_at, outbox.c.attempts, outbox.c.last_error)
        .where(outbox.c.parked_at.is_not(None)).order_by(outbox.c.seq).limit(limit).offset(offset))
    return [ParkedEvent(*row[:-1], last_error=row.last_error or "") for row in rows]


def unpark(session: Session, source: str, event_ids: Sequence[str] | None = None) -> list[str]:
    """Make parked events pending again (all of them when `event_ids` is None); returns the ids
    unparked. The relay is woken at commit (PostgreSQL)."""
    query = (outbox.update().where(outbox.c.parked_at.is_not(None))
             .values(parked_at=None, attempts=0, next_attempt_at=None).returning(outbox.c.event_id))
    if event_ids is not None:
        query = query.where(outbox.c.event_id.in_(list(event_ids)))
    unparked = list(session.execute(query).scalars())
    if unparked and session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_notify(:channel, '')"), {"channel": notify_channel(source)})
    return unparked


# --- command line ---------------------------------------------------------------------------------
def _whole(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}")
        return value
    return parse


def format_table(events: Sequence[ParkedEvent], error_width: int = 80) -> str:
    header = ("EVENT ID", "TYPE", "EXCHANGE", "CREATED AT", "PARKED AT", "ATTEMPTS", "LAST ERROR")
    rows = [(e.event_id, e.event_type, e.exchange, _iso(e.created_at), _iso(e.parked_at), str(e.attempts),
             _shorten(e.last_error, error_width)) for e in events]
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in (header, *rows))


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="seconds")


def _shorten(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def main(argv: Sequence[str], settings: ServiceSettings, db: Database) -> int:
    """`outbox status | parked | replay-parked`; returns the exit status."""
    from servicekit.health import outbox_lag

    parser = argparse.ArgumentParser(prog=f"python -m {settings.service} outbox",
                                     description="Inspect the outbox and send parked events again.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("status", help="pending events, age of the oldest, parked events")
    parked_cmd = commands.add_parser("parked", help="list the parked events, a page at a time")
    parked_cmd.add_argument("--limit", type=_whole(1), default=DEFAULT_PAGE_SIZE,
                            help=f"at most this many (default {DEFAULT_PAGE_SIZE})")
    parked_cmd.add_argument("--offset", type=_whole(0), default=0, help="skip this many first (default 0)")
    replay_cmd = commands.add_parser("replay-parked", help="make parked events pending again (the relay sends them)")
    which = replay_cmd.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", dest="event_ids", action="append", help="this event id (repeatable)")
    which.add_argument("--all", action="store_true", help="every parked event")
    args = parser.parse_args(list(argv))

    if args.command == "status":
        lag = outbox_lag(db)
        print(f"pending: {lag['pending']}  oldest pending: {lag['oldest_age_seconds']:.1f}s  "
              f"parked: {lag['parked']}")
        return 0
    if args.command == "parked":
        with db.read() as session:
            total = parked_count(session)
            events = list_parked(session, limit=args.limit, offset=args.offset)
        if events:
            print(format_table(events))
            last = args.offset + len(events)
            more = f" Next page: --offset {last}." if last < total else ""
            print(f"Showing parked event(s) {args.offset + 1} to {last} of {total}.{more}")
        else:
            print(f"No parked event{' on this page' if total else ''} ({total} in all).")
        return 0
    with db.transaction() as session:
        unparked = unpark(session, settings.service, None if args.all else args.event_ids)
    for event_id in unparked:
        print(event_id)
    print(f"{len(unparked)} parked event(s) made pending again; the worker's relay sends them.")
    missing = sorted(set(args.event_ids or ()) - set(unparked))
    if missing:
        print(f"Not parked (unknown, pending or already published): {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0
