"""Database plumbing: one engine per service, short transactions, the per-service base.

SQLite is the zero-setup default (WAL, busy timeout, foreign keys on); PostgreSQL is what
production and the integration tests use. Business code receives a `Session` and never
commits by itself: `Database.transaction()` commits on success and rolls back on error.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy import event
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


def make_engine(url: str, **kwargs) -> Engine:
    url_obj = sa.make_url(url)
    if url_obj.get_backend_name() == "postgresql" and url_obj.drivername == "postgresql":
        url_obj = url_obj.set(drivername="postgresql+psycopg")
    if is_sqlite(url_obj):
        engine = sa.create_engine(url_obj, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if "poolclass" not in kwargs:  # NullPool (migrations) takes no pool sizes
        kwargs.setdefault("pool_size", 5)
        kwargs.setdefault("max_overflow", 10)
    return sa.create_engine(url_obj, **kwargs)


def _sqlite_begin(conn):
    # pysqlite's own transaction handling is off (see _sqlite_pragmas): we emit BEGIN so that
    # write transactions take the write lock up front (IMMEDIATE) and a read-then-write
    # transaction cannot fail half-way with "database is locked".
    mode = "IMMEDIATE" if conn.get_execution_options().get("sqlite_immediate") else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {mode}")


def _sqlite_pragmas(dbapi_conn, _record):
    dbapi_conn.isolation_level = None  # let the "begin" listener above issue BEGIN
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


class Database:
    """An engine and a session factory for one service database."""

    def __init__(self, url: str, **engine_kwargs):
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        writer = self.engine.execution_options(sqlite_immediate=True)
        self._write_sessions = sessionmaker(writer, expire_on_commit=False)

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
