"""servicekit.pg: the rush's statements sent through psycopg itself, in the session's transaction,
a database error raised as SQLAlchemy's (the API's refusals map IntegrityError to a 409)."""
import uuid

import pytest
import sqlalchemy as sa

from servicekit.operations import Operations

from servicekit import pg

pytestmark = pytest.mark.integration

_REMEMBER = pg.query("""
INSERT INTO idempotency_keys (caller_sub, operation, key, response, created_at)
VALUES (:sub, 'test.pg', :key, CAST(:response AS json), now())
""")
_COUNT = pg.query("SELECT count(*) FROM idempotency_keys WHERE caller_sub = :sub AND response::text LIKE '%ok%'")


def test_query_takes_sqlalchemys_parameters_and_leaves_casts_and_percents_alone():
    assert pg.query("SELECT :a, NULL::cart_lines, x::text LIKE '%b' WHERE y = :b_2") == \
        "SELECT %(a)s, NULL::cart_lines, x::text LIKE '%%b' WHERE y = %(b_2)s"


def test_statements_run_in_the_sessions_transaction(db):
    sub = str(uuid.uuid4())
    with pytest.raises(RuntimeError), db.transaction() as s:
        pg.execute(s, _REMEMBER, {"sub": sub, "key": "k1", "response": '{"ok": true}'})
        assert pg.execute(s, _COUNT, {"sub": sub}).fetchone() == (1,)  # seen by the same transaction
        raise RuntimeError  # rolled back with it
    with db.transaction() as s:
        assert pg.execute(s, _COUNT, {"sub": sub}).fetchone() == (0,)
        pg.execute(s, _REMEMBER, {"sub": sub, "key": "k1", "response": '{"ok": true}'})
    with db.read() as s:  # committed with the session
        assert s.execute(sa.text("SELECT count(*) FROM idempotency_keys WHERE caller_sub = :sub"),
                         {"sub": sub}).scalar() == 1


def test_a_database_error_is_sqlalchemys_and_a_conflict_a_409(db):
    sub = str(uuid.uuid4())
    with db.transaction() as s:
        pg.execute(s, _REMEMBER, {"sub": sub, "key": "k1", "response": "{}"})
    with pytest.raises(sa.exc.IntegrityError) as raised, db.transaction() as s:
        pg.execute(s, _REMEMBER, {"sub": sub, "key": "k1", "response": "{}"})  # the same key again
    assert Operations().refusal(raised.value).status == 409


def test_execute_and_commit_commits_in_the_same_round_trip_and_the_session_ends_as_usual(db):
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    sub, committed = str(uuid.uuid4()), []
    with db.transaction() as s:
        pg.execute(s, _REMEMBER, {"sub": sub, "key": "k1", "response": '{"ok": true}'})
        event.listen(s, "after_commit", lambda session: committed.append(session))
        pg.execute_and_commit(s, _REMEMBER, {"sub": sub, "key": "k2", "response": '{"ok": true}'})
        with db.read() as other:  # committed already, before the session's own commit
            assert pg.execute(other, _COUNT, {"sub": sub}).fetchone() == (2,)
        assert committed == []
    assert len(committed) == 1 and isinstance(committed[0], Session)  # the session's hooks (the relay's wake-up)


def test_execute_and_commit_runs_no_commit_after_a_failed_statement(db):
    sub = str(uuid.uuid4())
    with db.transaction() as s:
        pg.execute(s, _REMEMBER, {"sub": sub, "key": "k1", "response": "{}"})
    with pytest.raises(sa.exc.IntegrityError), db.transaction() as s:
        pg.execute(s, _REMEMBER, {"sub": sub, "key": "k2", "response": "{}"})
        try:
            pg.execute_and_commit(s, _REMEMBER, {"sub": sub, "key": "k1", "response": "{}"})  # the same key again
        finally:  # rolled back already, its locks released: before the session's own rollback
            assert s.connection().connection.driver_connection.info.transaction_status.name == "IDLE"
    with db.read() as s:  # k2 went with the failed statement's transaction
        assert s.execute(sa.text("SELECT count(*) FROM idempotency_keys WHERE caller_sub = :sub"),
                         {"sub": sub}).scalar() == 1
