"""Database plumbing: one engine per service, short transactions, the per-service base.

SQLite is the zero-setup default (WAL, busy timeout, foreign keys on); PostgreSQL is what
production and the integration tests use. Business code receives a `Session` and never
commits by itself: `Database.transaction()` commits on success and rolls back on error.

Web handlers are async (ADR 0007). They run the same sync use cases (a function taking a
`Session`) with `await db.run_read(fn, ...)` / `await db.run_write(fn, ...)`: one worker thread
per unit of work, so the event loop never waits on the database. There is no asyncio engine:
ADR 0007 measured the asyncio drivers (psycopg 3 async, aiosqlite) slower per statement than a
thread hop on this stack.
"""
from __future__ import annotations

import asyncio
import os
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import TypeVar

import anyio
import anyio.to_thread
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from servicekit.messaging import tables as messaging_tables

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def declarative_base() -> type[DeclarativeBase]:
    """A fresh declarative base for one service; its metadata already holds outbox and inbox."""
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    messaging_tables.define(metadata)

    class Base(DeclarativeBase):
        pass

    Base.metadata = metadata
    Base.registry.metadata = metadata
    return Base


def is_sqlite(url: str | sa.URL) -> bool:
    return sa.make_url(url).get_backend_name() == "sqlite"


def is_postgresql(session: Session) -> bool:
    """The session's database is PostgreSQL (where arrays, JSON functions and row locks exist)."""
    return session.get_bind().dialect.name == "postgresql"


def dialect_insert(session: Session, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into `table` in the session's dialect, so that it has ON CONFLICT
    (`on_conflict_do_nothing`, `on_conflict_do_update`): PostgreSQL's, else SQLite's (the two
    databases the services run on)."""
    return postgresql.insert(table) if is_postgresql(session) else sqlite.insert(table)


def _driver_url(url: str | sa.URL) -> sa.URL:
    """psycopg 3 for PostgreSQL."""
    url_obj = sa.make_url(url)
    if url_obj.get_backend_name() == "postgresql" and url_obj.drivername == "postgresql":
        url_obj = url_obj.set(drivername="postgresql+psycopg")
    return url_obj


PING_AFTER_IDLE_SECONDS = 10.0


def _pool_defaults(kwargs: dict) -> dict:
    if "poolclass" not in kwargs:  # NullPool (migrations) takes no pool sizes
        kwargs.setdefault("pool_size", 5)
        kwargs.setdefault("max_overflow", 10)
    return kwargs


def make_engine(url: str, **kwargs) -> Engine:
    url_obj = _driver_url(url)
    if is_sqlite(url_obj):
        engine = sa.create_engine(url_obj, connect_args={"timeout": 30}, **kwargs)
        _listen_sqlite(engine)
        return engine
    engine = sa.create_engine(url_obj, **_pool_defaults(kwargs))
    if not kwargs.get("pool_pre_ping"):
        _ping_idle_connections(engine)
    return engine


def _ping_idle_connections(engine: Engine) -> None:
    """Check a pooled connection before use only if it sat idle: SQLAlchemy's pool_pre_ping
    pays a round trip on every checkout (one statement in two of a simple read), where a
    connection used a moment ago is as alive as a ping would show. One that slept longer than
    PING_AFTER_IDLE_SECONDS (a database restart, a proxy's idle timeout) is pinged, and replaced
    if dead; a connection that dies in between fails its request (a 503) and SQLAlchemy
    invalidates the pool's older connections with it."""

    @event.listens_for(engine, "checkin")
    def _idle_since(dbapi_conn, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn, record, proxy):
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)  # outside any transaction, as pool_pre_ping does
        except Exception as exc:  # the pool closes this one and checks out (or opens) another
            raise sa.exc.DisconnectionError(f"pooled connection dead after idling: {exc}") from exc


def _listen_sqlite(engine: Engine) -> None:
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _sqlite_begin)


def _sqlite_begin(conn):
    # pysqlite's own transaction handling is off (see _sqlite_pragmas): we emit BEGIN so that
    # write transactions take the write lock up front (IMMEDIATE) and a read-then-write
    # transaction cannot fail half-way with "database is locked".
    options = conn.get_execution_options()
    if options.get("isolation_level") == "AUTOCOMMIT":
        return  # an autocommit connection: no transaction at all
    mode = "IMMEDIATE" if options.get("sqlite_immediate") else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {mode}")


def _sqlite_pragmas(dbapi_conn, _record):
    dbapi_conn.isolation_level = None  # let the "begin" listener above issue BEGIN
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


T = TypeVar("T")


def database_of(get_settings: Callable[[], object]) -> Callable[[], "Database"]:
    """A service's `get_db`: the process's one Database, made from its settings on first use
    (`get_db.cache_clear()` forgets it, e.g. in tests)."""
    @lru_cache
    def get_db() -> Database:
        return Database(get_settings().database_url)
    return get_db


DEFAULT_THREADS = 4  # units of work at once per process (DB_THREADS): see Database._limiter


class Database:
    """An engine and a session factory for one service database."""

    def __init__(self, url: str, threads: int | None = None, **engine_kwargs):
        self.url = url
        self.threads = threads or int(os.environ.get("DB_THREADS", DEFAULT_THREADS))
        self._limiters: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._engine_kwargs = engine_kwargs
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        writer = self.engine.execution_options(sqlite_immediate=True)
        self._write_sessions = sessionmaker(writer, expire_on_commit=False)
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")

    # --- sync use cases from async handlers (ADR 0007) --------------------------------------
    async def run_read(self, fn: Callable[..., T], *args, snapshot: bool = False, **kwargs) -> T:
        """`fn(session, *args, **kwargs)` for reading, from an async handler: in a worker thread,
        so the event loop never waits on the database (a 100 ms query delays nobody else).

        On PostgreSQL the session is on an autocommit connection (one round trip per statement)
        unless `snapshot` asks for one transaction, for several queries that must agree. Threads
        beat the asyncio drivers here: psycopg async and aiosqlite cost 1.3-4x the CPU per read
        on this stack (measured in ADR 0007)."""
        return await anyio.to_thread.run_sync(self._read_in_thread, fn, args, kwargs, snapshot, limiter=self._limiter())

    async def run_write(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """`fn(session, *args, **kwargs)` in one transaction (committed if it returns, rolled back
        if it raises), in a worker thread; the outbox rows it adds commit with it."""
        return await anyio.to_thread.run_sync(self._write_in_thread, fn, args, kwargs, limiter=self._limiter())

    def _limiter(self) -> anyio.CapacityLimiter:
        """At most `threads` units of work of this process at once (one limiter per event loop).

        More threads do not buy CPU under the GIL; they make a transaction that holds row locks
        (a cart's séances) wait longer for the GIL between its statements, and every other cart
        of the same dates waits with it (measured in bench/booking_rush.py: 40 threads per worker
        confirmed 282 bookings/s, 3 threads 369). Requests beyond the limit wait on the event
        loop, which costs nothing."""
        loop = asyncio.get_running_loop()
        limiter = self._limiters.get(loop)
        if limiter is None:
            limiter = self._limiters[loop] = anyio.CapacityLimiter(self.threads)
        return limiter

    def _read_in_thread(self, fn, args, kwargs, snapshot):
        if snapshot or self.is_sqlite:  # SQLite: BEGIN is in-process, and keeps its own locking model
            with self.read() as session:
                return fn(session, *args, **kwargs)
        with self._autocommit.connect() as conn, Session(bind=conn) as session:
            return fn(session, *args, **kwargs)

    def _write_in_thread(self, fn, args, kwargs):
        with self.transaction() as session:
            return fn(session, *args, **kwargs)

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commit if the block succeeds, roll back if it raises."""
        with self._write_sessions() as session:
            with session.begin():
                yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only unit of work (no write lock on SQLite); rolled back at the end."""
        with self.sessions() as session:
            with session.begin():
                yield session
                session.rollback()

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
