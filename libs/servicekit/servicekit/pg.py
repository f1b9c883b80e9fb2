"""Fixed statements sent through psycopg itself (PostgreSQL only): booking's rush, the event path.

A cart is a handful of constant statements (adding lines: 2; "Valider": 4), each sent many
times a second in a rush. Through `Session.execute` each pays SQLAlchemy's coercion, cache
lookup, execution context and result wrapping (about half of the database thread's CPU in the
rush profile) for a text that never changes and parameters it does not process. `execute` sends
it on the session's own connection, in its transaction (begun if needed, committed or rolled
back by the session as usual), as a prepared statement; psycopg adapts the parameters and loads
the JSON values exactly as it does under SQLAlchemy (the same connection, the same adapters).
A database error is raised as SQLAlchemy's (IntegrityError...), as the API's refusals expect.

Statements bypass SQLAlchemy's cursor events: count them at psycopg's level (`Cursor.execute`).
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

import psycopg
import sqlalchemy as sa
from psycopg.rows import RowFactory
from sqlalchemy.orm import Session


def query(text: str) -> str:
    """A statement written with SQLAlchemy's `:name` parameters in psycopg's `%(name)s` style
    (casts `::type` left alone)."""
    return re.sub(r"(?<![:\w]):([A-Za-z_]\w*)", r"%(\1)s", text.replace("%", "%%"))


def execute(session: Session, statement: str, params: dict, *, row_factory: RowFactory | None = None) -> psycopg.Cursor:
    """`statement` (from `query`) with `params` on the session's connection, prepared; rows as
    tuples unless `row_factory` (psycopg.rows.dict_row...) says otherwise."""
    conn = session.connection().connection.driver_connection
    cursor = conn.cursor(row_factory=row_factory) if row_factory else conn.cursor()
    try:
        return cursor.execute(statement, params, prepare=True)
    except psycopg.Error as exc:
        raise sa.exc.DBAPIError.instance(statement, params, exc, psycopg.Error) from exc


def execute_and_commit(session: Session, statement: str, params: dict) -> None:
    """`statement` then COMMIT, sent as one query string in one write (psycopg's `ClientCursor`:
    the parameters merged client-side, the simple query protocol): no client work, nor the
    thread waiting for the GIL, between the statement and the commit, e.g. while the statement's
    row locks make other transactions wait (psycopg's pipeline flushes each statement as it is
    queued, so the server would wait for the COMMIT in between). Not prepared. If the statement
    fails PostgreSQL skips the COMMIT; the transaction is then rolled back at once (its locks
    released before the error travels up) and the error raised. The session's own commit or
    rollback then has nothing left to send (psycopg's `commit` / `rollback` on an idle
    connection send nothing); its hooks run as usual."""
    conn = session.connection().connection.driver_connection
    try:
        psycopg.ClientCursor(conn).execute(statement + ";\nCOMMIT", params)
    except psycopg.Error as exc:
        if conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
            conn.rollback()
        raise sa.exc.DBAPIError.instance(statement, params, exc, psycopg.Error) from exc


def utc(value: datetime | None) -> datetime | None:
    """A `timestamptz` as `UTCDateTime` reads it (aware, UTC), whatever the session's TimeZone."""
    return value.astimezone(timezone.utc) if value is not None else None
