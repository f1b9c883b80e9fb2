"""servicekit.messaging.pipeline: plain INSERTs do not wait for their results, every other
statement does, errors come out as SQLAlchemy's at the end of the block."""
import uuid

import psycopg
import pytest
import sqlalchemy as sa

from servicekit.messaging.pipeline import pipelined
from sk_messaging_helpers import effects, make_database, things

pytestmark = pytest.mark.integration


@pytest.fixture
def waits(monkeypatch):
    """How many times the pipeline waited for results in the middle of a block."""
    calls = []
    original = psycopg.Pipeline.sync
    monkeypatch.setattr(psycopg.Pipeline, "sync", lambda self: (calls.append(1), original(self))[1])
    return calls


def test_plain_inserts_are_sent_without_waiting_and_reads_see_them(pg_database, waits):
    ids = [str(uuid.uuid4()) for _ in range(20)]
    with pg_database.transaction() as s, pipelined(s):
        for i in ids:
            s.execute(things.insert().values(id=i, name="a"))
        assert waits == []  # twenty INSERTs, no round trip each
        assert s.execute(sa.select(sa.func.count()).select_from(things)).scalar_one() == 20
        assert len(waits) == 1
        assert s.execute(things.update().where(things.c.id == ids[0]).values(name="b")).rowcount == 1
        returned = s.execute(effects.insert().values(consumer="c", event_id="e").returning(effects.c.id)).scalar_one()
        assert returned > 0
        assert len(waits) == 3
    with pg_database.read() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(things)).scalar_one() == 20


def test_an_insert_error_is_raised_as_sqlalchemys_when_the_block_ends_and_nothing_is_kept(pg_database):
    with pytest.raises(sa.exc.IntegrityError):
        with pg_database.transaction() as s, pipelined(s):
            s.execute(things.insert().values(id="same", name="a"))
            s.execute(things.insert().values(id="same", name="b"))  # queued: no error yet
            s.execute(things.insert().values(id="other", name="c"))
    with pg_database.read() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(things)).scalar_one() == 0
    with pg_database.transaction() as s, pipelined(s):  # the pooled connection is usable again
        s.execute(things.insert().values(id="same", name="a"))
    with pg_database.read() as s:
        assert s.execute(sa.select(things.c.name)).scalars().all() == ["a"]


def test_an_error_is_raised_by_the_next_statement_that_waits(pg_database):
    with pg_database.transaction() as s, pipelined(s):
        s.execute(things.insert().values(id="same", name="a"))
    with pytest.raises(sa.exc.IntegrityError):
        with pg_database.transaction() as s, pipelined(s):
            s.execute(things.insert().values(id="same", name="b"))
            s.execute(sa.select(things.c.id)).all()


def test_it_changes_nothing_on_sqlite(tmp_path):
    database = make_database(f"sqlite:///{tmp_path / 'service.db'}")
    with database.transaction() as s, pipelined(s):
        s.execute(things.insert().values(id="x", name="a"))
        with pytest.raises(sa.exc.IntegrityError):
            s.execute(things.insert().values(id="x", name="b"))  # at once, as without the block
    database.dispose()


def test_commit_goes_with_the_last_wait_before_the_sessions_commit(pg_database, waits):
    with pg_database.transaction() as s:
        with pipelined(s, commit=True):
            s.execute(things.insert().values(id="x", name="a"))
        assert waits == []
        with pg_database.read() as other:  # committed by the block's end, before the session's commit
            assert other.execute(sa.select(things.c.name)).scalars().all() == ["a"]
    with pg_database.transaction() as s:  # the pooled connection carries on as usual
        s.execute(things.insert().values(id="y", name="b"))
    with pg_database.read() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(things)).scalar_one() == 2


def test_commit_is_not_sent_when_the_block_raises(pg_database):
    with pytest.raises(RuntimeError):
        with pg_database.transaction() as s, pipelined(s, commit=True):
            s.execute(things.insert().values(id="x", name="a"))
            raise RuntimeError("a handler failed")
    with pg_database.read() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(things)).scalar_one() == 0


def test_an_insert_error_with_commit_is_raised_and_nothing_is_kept(pg_database):
    with pytest.raises(sa.exc.IntegrityError):
        with pg_database.transaction() as s, pipelined(s, commit=True):
            s.execute(things.insert().values(id="same", name="a"))
            s.execute(things.insert().values(id="same", name="b"))
    with pg_database.read() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(things)).scalar_one() == 0


def test_a_commit_answered_rollback_raises(pg_database):
    """A statement's error caught in the block leaves the transaction failed: PostgreSQL answers
    its COMMIT with ROLLBACK, without an error; the block says so instead of passing for committed."""
    with pytest.raises(sa.exc.InternalError, match="ROLLBACK"):
        with pg_database.transaction() as s, pipelined(s, commit=True):
            s.execute(things.insert().values(id="x", name="a"))
            with pytest.raises(sa.exc.DataError):
                s.execute(sa.text("SELECT 1 / 0"))
    with pg_database.read() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(things)).scalar_one() == 0
