"""The inbox's batch claim, on PostgreSQL and SQLite."""
import pytest
import sqlalchemy as sa

from servicekit.messaging import inbox
from servicekit.messaging.pipeline import pipelined
from servicekit.messaging.tables import inbox as inbox_table

pytestmark = pytest.mark.integration


def rows(db):
    with db.read() as s:
        return sorted(s.execute(sa.select(inbox_table.c.consumer, inbox_table.c.event_id)).tuples())


def test_claim_many_records_every_key_once_and_returns_only_the_new_ones(database):
    with database.transaction() as s:
        assert inbox.claim_many(s, [("q.a", "e1"), ("q.a", "e2")]) == {("q.a", "e1"), ("q.a", "e2")}
    with database.transaction() as s:
        # e1 already processed by q.a; the same event for another consumer is new; e3 twice: once.
        assert inbox.claim_many(s, [("q.a", "e1"), ("q.b", "e1"), ("q.a", "e3"), ("q.a", "e3")]) == {
            ("q.b", "e1"), ("q.a", "e3")}
        assert inbox.claim_many(s, []) == set()
    assert rows(database) == [("q.a", "e1"), ("q.a", "e2"), ("q.a", "e3"), ("q.b", "e1")]


def test_claim_many_is_undone_with_its_transaction(database):
    with pytest.raises(RuntimeError):
        with database.transaction() as s:
            inbox.claim_many(s, [("q.a", "e1")])
            raise RuntimeError("handler failed")
    assert rows(database) == []
    with database.transaction() as s:
        assert inbox.claim(s, "q.a", "e1") is True
        assert inbox.claim_many(s, [("q.a", "e1")]) == set()


def test_claim_many_keeps_keys_with_any_characters_as_they_are(database):
    keys = {("q.a", 'quote " and backslash \\'), ("q.a", "comma, {brace} [bracket]"), ("q.é", "événement ✓")}
    with database.transaction() as s:
        assert inbox.claim_many(s, keys) == keys
    with database.transaction() as s:
        assert inbox.claim_many(s, keys) == set()
    assert rows(database) == sorted(keys)


def test_on_postgresql_the_claims_go_through_psycopg_and_a_duplicate_fails_the_pipeline(pg_database):
    """The consumer's claims skip SQLAlchemy's execution (servicekit.pg): none of its cursor
    events fire; inside `pipelined` the all-or-nothing claim is not waited for, and a key claimed
    before fails the block as SQLAlchemy's IntegrityError."""
    seen = []

    def sent(_conn, _cursor, statement, *_args):
        seen.append(statement)

    sa.event.listen(pg_database.engine, "before_cursor_execute", sent)
    try:
        with pg_database.transaction() as s, pipelined(s, commit=True):
            assert inbox.claim_all_or_fail(s, [("q.a", "e1"), ("q.a", "e2")]) == {("q.a", "e1"), ("q.a", "e2")}
            assert inbox.claim_many(s, [("q.a", "e2"), ("q.a", "e3")]) == {("q.a", "e3")}
        assert seen == []
        with pytest.raises(sa.exc.IntegrityError):
            with pg_database.transaction() as s, pipelined(s, commit=True):
                inbox.claim_all_or_fail(s, [("q.a", "e3"), ("q.a", "e4")])
    finally:
        sa.event.remove(pg_database.engine, "before_cursor_execute", sent)
    assert rows(pg_database) == [("q.a", "e1"), ("q.a", "e2"), ("q.a", "e3")]
