"""Handlers' INSERTs of one consumer batch sent together, as one multi-row INSERT per run.

A consumer batch runs one handler per event in one transaction. A one-row handler's
`session.execute(insert, {...})` costs the consumer more CPU in SQLAlchemy and psycopg (about
100 µs, twice everything else the kit does for that event) than the row costs PostgreSQL;
fifty of them sent as one statement cost about a fifth of that. Inside `inserts_deferred(session)`:

- an INSERT passed to `session.execute` with one dict of parameters (a Core `insert(table)`,
  without RETURNING, not an ORM-enabled insert, no execution options) is kept instead of sent,
  and `session.execute` returns `DEFERRED` (rowcount -1: unknown, as in pipeline mode; a
  handler that needs to know what its INSERT did uses RETURNING, which is never deferred);
- the same statement object executed again right after, with the same parameter names, joins
  it: a handler that builds its statement once and the events of a batch make one run, sent as
  one executemany (on an engine with `multi_row_inserts`, SQLAlchemy's insertmanyvalues: one
  `INSERT ... VALUES (...), (...)` per 50 parameters);
- what is kept is sent, in order, before anything else reaches the connection: any other
  statement (a SELECT reads what was inserted before it; an ORM flush; an UPDATE),
  a SAVEPOINT or its RELEASE, and when the block ends. A ROLLBACK TO SAVEPOINT drops what was
  kept since (it was inside that savepoint: every savepoint begins by sending what is kept);
  a ROLLBACK drops everything. A COMMIT with something still kept raises (the block sends it at
  its end: a commit inside the block is a handler's bug).

So the handlers see the database as they would have; what changes is when a deferred INSERT's
error comes out: at the next statement (possibly another event's handler) or at the end of
the block. The consumer then redoes the batch without deferral, one savepoint per message, so
that the error lands on its own message (as for pipeline mode: servicekit.messaging.pipeline).
A handler that writes through the raw DBAPI connection bypasses SQLAlchemy's events: it must not
rely on the order of its writes against the session's (no handler of ours does).

PostgreSQL only (a block elsewhere changes nothing).
"""
from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import ORMExecuteState, Session

BUFFER_KEY = "servicekit.deferred_inserts"  # in session.info and in the connection's info
# psycopg converts a query's %(name)s placeholders once and caches the result only for queries of
# at most 50 parameters (psycopg._queries.MAX_CACHED_STATEMENT_PARAMS): a longer multi-row INSERT
# would be parsed again at every batch, which costs more than the extra statement of two pages.
PARAMETERS_PER_STATEMENT = 50


class Deferred:
    """What `session.execute` returns for a deferred INSERT: nothing is known of it yet."""

    rowcount = -1

    def __repr__(self) -> str:
        return "<deferred INSERT>"


DEFERRED = Deferred()


class _Run:
    __slots__ = ("statement", "keys", "parameters")

    def __init__(self, statement: sa.Insert, parameters: dict):
        self.statement = statement
        self.keys = parameters.keys()
        self.parameters = [parameters]


class Buffer:
    """The INSERTs kept for one connection: runs of the same statement and parameter names."""

    def __init__(self):
        self.runs: list[_Run] = []
        self.sending = False

    def add(self, statement: sa.Insert, parameters: Mapping) -> None:
        parameters = dict(parameters)  # the handler may reuse its dict
        last = self.runs[-1] if self.runs else None
        if last is not None and last.statement is statement and last.keys == parameters.keys():
            last.parameters.append(parameters)
        else:
            self.runs.append(_Run(statement, parameters))

    def send(self, connection: Connection) -> None:
        if self.sending or not self.runs:
            return
        runs, self.runs = self.runs, []
        self.sending = True  # our own statements pass the before_execute hook
        try:
            for run in runs:
                if len(run.parameters) == 1:
                    connection.execute(run.statement, run.parameters[0])
                    continue
                rows_per_statement = max(1, PARAMETERS_PER_STATEMENT // len(run.statement.table.columns))
                connection.execute(run.statement, run.parameters,
                                   execution_options={"insertmanyvalues_page_size": rows_per_statement})
        finally:
            self.sending = False

    def drop(self) -> None:
        self.runs = []


def multi_row_inserts(engine: Engine) -> None:
    """Have `engine` send an executemany INSERT without RETURNING as one multi-row INSERT
    (SQLAlchemy's insertmanyvalues; psycopg's own executemany sends one statement per row, each
    costing about as much CPU as a single execute). Call it before the engine's first use: its
    statements are compiled (and cached) with the setting. Not for ON CONFLICT statements, which
    SQLAlchemy keeps one per row."""
    engine.dialect.use_insertmanyvalues_wo_returning = True


@contextmanager
def inserts_deferred(session: Session) -> Iterator[None]:
    """Defer the block's plain INSERTs on the session's connection (see the module); send what
    is still kept when the block ends without an error, drop it if it raises."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        yield
        return
    _listen(connection.engine)
    buffer = Buffer()
    info = connection.info
    info[BUFFER_KEY] = session.info[BUFFER_KEY] = buffer
    event.listen(session, "do_orm_execute", _keep_plain_insert)
    try:
        yield
        buffer.send(connection)
    finally:
        event.remove(session, "do_orm_execute", _keep_plain_insert)
        session.info.pop(BUFFER_KEY, None)
        info.pop(BUFFER_KEY, None)
        buffer.drop()


def deferrable(state: ORMExecuteState) -> bool:
    """A Core INSERT with one dict of parameters whose result the caller cannot need."""
    statement, parameters = state.statement, state.parameters
    return (isinstance(statement, sa.Insert) and not state.is_orm_statement
            and isinstance(parameters, Mapping) and bool(parameters)
            and not statement._returning and not statement._return_defaults and not statement._multi_values
            and not state.local_execution_options)


def _keep_plain_insert(state: ORMExecuteState):
    buffer = state.session.info.get(BUFFER_KEY)
    if buffer is None or buffer.sending or not deferrable(state):
        return None  # executed now (the connection's before_execute sends what is kept first)
    # The connection as the statement would get it: inside a begin_nested() block that emits
    # the SAVEPOINT (which sends what was kept before it), so that what is kept now belongs to it.
    if _buffer_of(state.session.connection(bind_arguments=state.bind_arguments)) is not buffer:
        return None  # another database than the block's
    buffer.add(state.statement, state.parameters)
    return DEFERRED


_listening: weakref.WeakSet = weakref.WeakSet()


def _listen(engine: Engine) -> None:
    if engine in _listening:
        return
    event.listen(engine, "before_execute", _send_first)
    event.listen(engine, "savepoint", _send_first_at_savepoint)
    event.listen(engine, "release_savepoint", _send_first_at_release)
    event.listen(engine, "rollback_savepoint", _drop_at_rollback_savepoint)
    event.listen(engine, "rollback", _drop_at_rollback)
    event.listen(engine, "commit", _refuse_commit_with_kept)
    _listening.add(engine)


def _buffer_of(conn: Connection) -> Buffer | None:
    # conn.info of an invalidated connection would try to reconnect inside its transaction
    return conn.info.get(BUFFER_KEY) if not conn.invalidated else None


def _send_first(conn, _clauseelement, _multiparams, _params, _execution_options) -> None:
    buffer = _buffer_of(conn)
    if buffer is not None:
        buffer.send(conn)


def _send_first_at_savepoint(conn, _name) -> None:
    buffer = _buffer_of(conn)
    if buffer is not None:
        buffer.send(conn)


def _send_first_at_release(conn, _name, _context) -> None:
    _send_first_at_savepoint(conn, _name)


def _drop_at_rollback_savepoint(conn, _name, _context) -> None:
    buffer = _buffer_of(conn)
    if buffer is not None:
        buffer.drop()  # kept since the savepoint began (which sent what was kept before it)


def _drop_at_rollback(conn) -> None:
    buffer = _buffer_of(conn)  # an invalidated connection: the block drops its buffer when it ends
    if buffer is not None:
        buffer.drop()


def _refuse_commit_with_kept(conn) -> None:
    buffer = _buffer_of(conn)
    if buffer is not None and buffer.runs:
        buffer.drop()
        raise RuntimeError("COMMIT inside inserts_deferred() with INSERTs not sent yet: the block sends them "
                           "at its end (a handler must not commit)")
