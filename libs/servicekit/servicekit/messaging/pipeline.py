"""Sending a transaction's writes without waiting for each one's result (PostgreSQL pipeline mode).

A consumer batch runs one handler per event in one transaction; a handler that inserts a row
costs a round trip to PostgreSQL per event when each statement waits for its result (a batch
of 50 one-row handlers: 53 round trips, each one a wake-up of the consumer and of its
PostgreSQL backend). Inside `pipelined(session)` the statements go out in psycopg's pipeline
mode, and only those whose result the caller may read wait for it:
- an INSERT without RETURNING (SQLAlchemy Core or ORM) is queued and the next statement follows
  without waiting; its errors show at the next statement that waits or when the block ends;
  its `rowcount` is not known (-1);
- every other statement (SELECT, INSERT ... RETURNING, UPDATE, DELETE, text(), SAVEPOINT) is
  sent together with the queued ones and waits for its result, as outside the block (results,
  rowcount and errors are what they would be).
Statements sent on the driver's own cursor (servicekit.pg) are queued the same way, and wait for
their result only when it is fetched.
The block ends by waiting for every queued statement (one round trip); an error any of them
raised is raised there, as the SQLAlchemy exception it would have been (DBAPIError subclass,
`connection_invalidated` when the connection was lost). The transaction's BEGIN goes out with
its first statement. Elsewhere (SQLite, another driver) the block changes nothing.

`pipelined(session, commit=True)` also sends the transaction's COMMIT with that last wait when the
block ends without an error: the last writes and the COMMIT are one round trip instead of two
(the session's own commit afterwards finds the transaction over and sends nothing; its
`after_commit` hooks run then, once PostgreSQL has answered the COMMIT). The block raises if the
COMMIT fails or if PostgreSQL answered it with ROLLBACK (the transaction had failed earlier);
nothing of the block is then kept. On a block that raises, nothing is committed.

Callers that must know which statement failed (the consumer's retry with one savepoint per
message) run without it.
"""
from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

PIPELINE_KEY = "servicekit.pipeline"  # in the DBAPI connection's info: the open psycopg Pipeline

_listening: weakref.WeakSet = weakref.WeakSet()


@contextmanager
def pipelined(session: Session, *, commit: bool = False) -> Iterator[None]:
    """Run the block's statements on the session's connection in pipeline mode (see the module);
    with `commit`, send the COMMIT with the block's last wait."""
    connection = session.connection()
    if connection.dialect.name != "postgresql" or connection.dialect.driver != "psycopg":
        yield
        return
    engine = connection.engine
    if engine not in _listening:
        event.listen(engine, "after_cursor_execute", _wait_unless_plain_insert)
        _listening.add(engine)
    pooled = connection.connection
    driver = pooled.driver_connection
    committing = None
    try:
        with driver.pipeline() as pipeline:
            pooled.info[PIPELINE_KEY] = pipeline
            try:
                yield
            finally:
                pooled.info.pop(PIPELINE_KEY, None)
            if commit:  # queued behind the block's statements; sent with the final wait
                committing = driver.execute("COMMIT")
    except psycopg.Error as exc:  # from the final wait: as SQLAlchemy would have raised it
        raise _as_sqlalchemy_error(connection, exc) from exc
    if committing is not None and committing.statusmessage != "COMMIT":
        # PostgreSQL ends a failed transaction's COMMIT with ROLLBACK, without an error.
        raise sa.exc.DBAPIError.instance(
            "COMMIT", None, psycopg.errors.InFailedSqlTransaction(
                f"COMMIT answered {committing.statusmessage!r}: the transaction was rolled back"),
            psycopg.Error)


def _as_sqlalchemy_error(connection: sa.Connection, exc: psycopg.Error) -> sa.exc.DBAPIError:
    pooled = connection.connection
    disconnected = connection.dialect.is_disconnect(exc, pooled.dbapi_connection, None)
    if disconnected:
        connection.invalidate(exc)
    return sa.exc.DBAPIError.instance(None, None, exc, psycopg.Error, connection_invalidated=disconnected)


def wait_for_queued(session: Session) -> None:
    """Inside `pipelined(session)`: send what is queued and wait for its results; raise (as
    SQLAlchemy's exception) the error one of them raised. Elsewhere nothing to wait for."""
    connection = session.connection()
    pipeline = connection.connection.info.get(PIPELINE_KEY)
    if pipeline is None:
        return
    try:
        pipeline.sync()
    except psycopg.Error as exc:
        raise _as_sqlalchemy_error(connection, exc) from exc


def needs_result(context) -> bool:
    """False for an INSERT compiled without RETURNING (nobody reads what it returns)."""
    compiled = context.compiled
    return not (compiled is not None and context.isinsert and not compiled.effective_returning)


def _wait_unless_plain_insert(conn, _cursor, _statement, _parameters, context, _executemany) -> None:
    pipeline = conn.connection.info.get(PIPELINE_KEY)
    if pipeline is not None and needs_result(context):
        pipeline.sync()  # sends what is queued and reads every result up to this statement's
