"""Database plumbing: one engine per service, short transactions, the per-service base.

SQLite is the zero-setup default (WAL, busy timeout, foreign keys on); PostgreSQL is what
production and the integration tests use. Business code receives a `Session` and never
commits by itself: `Database.transaction()` commits on success and rolls back on error.

Web handlers are async (ADR 0007). They run the same sync use cases (a function taking a
`Session`) with `await db.run_read(fn, ...)` / `await db.run_write(fn, ...)`: one worker thread
per unit of work, so the event loop never waits on the database. Also available, on an asyncio
engine (psycopg 3 async / aiosqlite), for code that wants to await statements itself (slower
per statement on this stack, see ADR 0007):
- `async with db.aread() as conn`: one-statement reads on an autocommit connection (no
  BEGIN/ROLLBACK round trips); each statement sees what was committed when it started.
- `async with db.asnapshot() as session`: several reads in one snapshot, rolled back.
- `async with db.atransaction() as session`: a unit of work on an `AsyncSession`; sync use
  cases run in it unchanged with `await session.run_sync(use_case, ...)` (SQLAlchemy's
  greenlet bridge: no thread, no blocking), the outbox row included.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import lru_cache
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from starlette.concurrency import run_in_threadpool

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


def _driver_url(url: str | sa.URL, asynchronous: bool = False) -> sa.URL:
    """psycopg 3 for PostgreSQL (sync and async); aiosqlite for SQLite when asynchronous."""
    url_obj = sa.make_url(url)
    if url_obj.get_backend_name() == "postgresql" and url_obj.drivername == "postgresql":
        url_obj = url_obj.set(drivername="postgresql+psycopg")
    if asynchronous and is_sqlite(url_obj):
        url_obj = url_obj.set(drivername="sqlite+aiosqlite")
    return url_obj


def _pool_defaults(kwargs: dict) -> dict:
    kwargs.setdefault("pool_pre_ping", True)
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
    return sa.create_engine(url_obj, **_pool_defaults(kwargs))


def make_async_engine(url: str, **kwargs) -> AsyncEngine:
    url_obj = _driver_url(url, asynchronous=True)
    if is_sqlite(url_obj):
        engine = create_async_engine(url_obj, connect_args={"timeout": 30}, **kwargs)
        _listen_sqlite(engine.sync_engine)
        return engine
    # pre-ping costs a round trip per checkout; the pool recycles broken connections itself
    # (psycopg reports them and SQLAlchemy invalidates the pool), so reads stay one round trip.
    kwargs.setdefault("pool_pre_ping", False)
    return create_async_engine(url_obj, **_pool_defaults(kwargs))


def _listen_sqlite(engine: Engine) -> None:
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _sqlite_begin)


def _sqlite_begin(conn):
    # pysqlite's own transaction handling is off (see _sqlite_pragmas): we emit BEGIN so that
    # write transactions take the write lock up front (IMMEDIATE) and a read-then-write
    # transaction cannot fail half-way with "database is locked".
    options = conn.get_execution_options()
    if options.get("isolation_level") == "AUTOCOMMIT":
        return  # reads on the async reader: no transaction at all
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


class Database:
    """An engine and a session factory for one service database."""

    def __init__(self, url: str, **engine_kwargs):
        self.url = url
        self._engine_kwargs = engine_kwargs
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        writer = self.engine.execution_options(sqlite_immediate=True)
        self._write_sessions = sessionmaker(writer, expire_on_commit=False)
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._async_engine: AsyncEngine | None = None

    # --- async (web handlers) -------------------------------------------------------------
    @property
    def async_engine(self) -> AsyncEngine:
        """Made on first use, in the process (and event loop) that serves requests."""
        if self._async_engine is None:
            self._async_engine = make_async_engine(self.url, **self._engine_kwargs)
            writer = self._async_engine.execution_options(sqlite_immediate=True)
            self._async_write_sessions = async_sessionmaker(writer, expire_on_commit=False)
            self._async_read_sessions = async_sessionmaker(self._async_engine, expire_on_commit=False)
            self._async_reader = self._async_engine.execution_options(isolation_level="AUTOCOMMIT")
        return self._async_engine

    @asynccontextmanager
    async def aread(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads, in autocommit: one round trip per statement."""
        self.async_engine
        async with self._async_reader.connect() as conn:
            yield conn

    @asynccontextmanager
    async def asnapshot(self) -> AsyncIterator[AsyncSession]:
        """Several reads in one transaction (one snapshot; no write lock on SQLite); rolled back."""
        self.async_engine
        async with self._async_read_sessions() as session:
            async with session.begin():
                yield session
                await session.rollback()

    @asynccontextmanager
    async def atransaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commit if the block succeeds, roll back if it raises."""
        self.async_engine
        async with self._async_write_sessions() as session:
            async with session.begin():
                yield session

    # --- sync use cases from async handlers (the fast path) -------------------------------
    async def run_read(self, fn: Callable[..., T], *args, snapshot: bool = False, **kwargs) -> T:
        """`fn(session, *args, **kwargs)` for reading, from an async handler: in a worker thread,
        so the event loop never waits on the database (a 100 ms query delays nobody else).

        On PostgreSQL the session is on an autocommit connection (one round trip per statement)
        unless `snapshot` asks for one transaction, for several queries that must agree. Threads
        beat the asyncio drivers here: psycopg async and aiosqlite cost 1.3-4x the CPU per read
        on this stack (measured in ADR 0007)."""
        return await run_in_threadpool(self._read_in_thread, fn, args, kwargs, snapshot)

    async def run_write(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """`fn(session, *args, **kwargs)` in one transaction (committed if it returns, rolled back
        if it raises), in a worker thread; the outbox rows it adds commit with it."""
        return await run_in_threadpool(self._write_in_thread, fn, args, kwargs)

    def _read_in_thread(self, fn, args, kwargs, snapshot):
        if snapshot or self.is_sqlite:  # SQLite: BEGIN is in-process, and keeps its own locking model
            with self.read() as session:
                return fn(session, *args, **kwargs)
        with self._autocommit.connect() as conn, Session(bind=conn) as session:
            return fn(session, *args, **kwargs)

    def _write_in_thread(self, fn, args, kwargs):
        with self.transaction() as session:
            return fn(session, *args, **kwargs)

    async def aping(self) -> None:
        async with self.aread() as conn:
            await conn.execute(sa.text("SELECT 1"))

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

    async def adispose(self) -> None:
        if self._async_engine is not None:
            await self._async_engine.dispose()
