"""servicekit.pg: fixed statements sent through psycopg itself, in the session's transaction,
a database error raised as SQLAlchemy's (the APIs' refusals map IntegrityError to a 409)."""
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from servicekit import pg
from servicekit.operations import Operations
from sk_messaging_helpers import things

pytestmark = pytest.mark.integration

_ADD = pg.query("INSERT INTO things (id, name) VALUES (:id, :name)")
_COUNT = pg.query("SELECT count(*) FROM things WHERE name = :name")


def count(db, name: str) -> int:
    with db.read() as s:
        return s.execute(sa.select(sa.func.count()).select_from(things).where(things.c.name == name)).scalar_one()


def test_query_takes_sqlalchemys_parameters_and_leaves_casts_and_percents_alone():
    assert pg.query("SELECT :a, NULL::cart_lines, x::text LIKE '%b' WHERE y = :b_2") == \
        "SELECT %(a)s, NULL::cart_lines, x::text LIKE '%%b' WHERE y = %(b_2)s"


def test_statements_run_in_the_sessions_transaction(pg_database):
    name = str(uuid.uuid4())
    with pytest.raises(RuntimeError), pg_database.transaction() as s:
        pg.execute(s, _ADD, {"id": str(uuid.uuid4()), "name": name})
        assert pg.execute(s, _COUNT, {"name": name}).fetchone() == (1,)  # seen by the same transaction
        raise RuntimeError  # rolled back with it
    with pg_database.transaction() as s:
        assert pg.execute(s, _COUNT, {"name": name}).fetchone() == (0,)
        pg.execute(s, _ADD, {"id": str(uuid.uuid4()), "name": name})
    assert count(pg_database, name) == 1  # committed with the session


def test_a_database_error_is_sqlalchemys_and_a_conflict_a_409(pg_database):
    key = str(uuid.uuid4())
    with pg_database.transaction() as s:
        pg.execute(s, _ADD, {"id": key, "name": "a"})
    with pytest.raises(sa.exc.IntegrityError) as raised, pg_database.transaction() as s:
        pg.execute(s, _ADD, {"id": key, "name": "a"})  # the same key again
    assert Operations().refusal(raised.value).status == 409


def test_execute_and_commit_commits_in_the_same_round_trip_and_the_session_ends_as_usual(pg_database):
    name, committed = str(uuid.uuid4()), []
    with pg_database.transaction() as s:
        pg.execute(s, _ADD, {"id": str(uuid.uuid4()), "name": name})
        event.listen(s, "after_commit", lambda session: committed.append(session))
        pg.execute_and_commit(s, _ADD, {"id": str(uuid.uuid4()), "name": name})
        assert count(pg_database, name) == 2  # committed already, before the session's own commit
        assert committed == []
    assert len(committed) == 1 and isinstance(committed[0], Session)  # the session's hooks (the relay's wake-up)


def test_execute_and_commit_runs_no_commit_after_a_failed_statement(pg_database):
    key, name = str(uuid.uuid4()), str(uuid.uuid4())
    with pg_database.transaction() as s:
        pg.execute(s, _ADD, {"id": key, "name": "first"})
    with pytest.raises(sa.exc.IntegrityError), pg_database.transaction() as s:
        pg.execute(s, _ADD, {"id": str(uuid.uuid4()), "name": name})
        try:
            pg.execute_and_commit(s, _ADD, {"id": key, "name": name})  # the same key again
        finally:  # rolled back already, its locks released: before the session's own rollback
            assert s.connection().connection.driver_connection.info.transaction_status.name == "IDLE"
    assert count(pg_database, name) == 0  # the first row went with the failed statement's transaction
