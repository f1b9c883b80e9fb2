"""Pooled PostgreSQL connections are pinged only after sitting idle, and a dead one is replaced."""
import sqlalchemy as sa

from servicekit import db as servicekit_db
from servicekit.db import Database


def _statements(engine):
    seen = []
    sa.event.listen(engine, "before_cursor_execute", lambda conn, cur, statement, *a: seen.append(statement))
    return seen


def test_a_connection_used_a_moment_ago_is_not_pinged(pg_url):
    db = Database(pg_url)
    try:
        with db.read() as session:
            session.execute(sa.text("SELECT 1"))
        pings = []
        sa.event.listen(db.engine.pool, "checkout", lambda *a: pings.append(1))
        seen = _statements(db.engine)
        with db.read() as session:
            assert session.execute(sa.text("SELECT 42")).scalar() == 42
        assert pings == [1] and seen == ["SELECT 42"]  # no ping of SQLAlchemy's before it
    finally:
        db.dispose()


def test_a_connection_that_died_while_idle_is_replaced(pg_url, monkeypatch):
    db = Database(pg_url)
    try:
        with db.read() as session:
            pid = session.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as other:
            pass  # a second pooled connection, so the terminated one is not the one doing the kill
        killer = sa.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
        with killer.connect() as conn:
            assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
        killer.dispose()
        monkeypatch.setattr(servicekit_db, "PING_AFTER_IDLE_SECONDS", 0.0)  # every idle connection is pinged
        for _ in range(3):  # whichever pooled connection comes first, every read succeeds
            with db.read() as session:
                assert session.execute(sa.text("SELECT pg_backend_pid()")).scalar() != pid
    finally:
        db.dispose()


def test_a_ping_leaves_no_transaction_open_for_an_autocommit_read(pg_url, monkeypatch):
    """The ping runs outside a transaction: the connection can then be switched to autocommit
    (Database.run_read's single statements) or begin its own transaction."""
    db = Database(pg_url)
    try:
        with db.read() as session:
            session.execute(sa.text("SELECT 1"))
        monkeypatch.setattr(servicekit_db, "PING_AFTER_IDLE_SECONDS", 0.0)
        with db._autocommit.connect() as conn:
            assert conn.execute(sa.text("SELECT 2")).scalar() == 2
        with db.transaction() as session:
            assert session.execute(sa.text("SELECT 3")).scalar() == 3
    finally:
        db.dispose()
