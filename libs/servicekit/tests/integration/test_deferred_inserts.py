"""servicekit.messaging.deferred: a block's plain INSERTs are kept and sent together, before
anything else reaches the connection; savepoints and rollbacks see what they would have seen."""
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase

from servicekit.db import Database
from servicekit.messaging.deferred import DEFERRED, inserts_deferred, multi_row_inserts
from sk_messaging_helpers import effects, make_database, things

pytestmark = pytest.mark.integration

metadata = sa.MetaData()
owners = sa.Table("deferred_owners", metadata, sa.Column("id", sa.String(36), primary_key=True))
pets = sa.Table("deferred_pets", metadata, sa.Column("id", sa.String(36), primary_key=True),
                sa.Column("owner_id", sa.String(36), sa.ForeignKey("deferred_owners.id"), nullable=False))


class Base(DeclarativeBase):
    metadata = metadata


class Pet(Base):  # the ORM's view of deferred_pets (a foreign key checked at once, not at commit)
    __table__ = pets


@pytest.fixture
def db(pg_url):
    database = make_database(pg_url)
    multi_row_inserts(database.engine)
    metadata.create_all(database.engine)
    yield database
    database.dispose()


class Sent:
    """The statements the engine sends, and how many parameter sets each."""

    def __init__(self, db: Database):
        self.statements: list[str] = []
        self.engine = db.engine
        sa.event.listen(self.engine, "before_cursor_execute", self._sent)

    def _sent(self, _conn, _cursor, statement, *_args):
        self.statements.append(" ".join(statement.split()))

    def inserts_into(self, table: str) -> list[str]:
        return [s for s in self.statements if s.startswith(f"INSERT INTO {table} ")]

    def close(self):
        sa.event.remove(self.engine, "before_cursor_execute", self._sent)


@pytest.fixture
def sent(db):
    log = Sent(db)
    yield log
    log.close()


def names(db: Database) -> dict:
    with db.read() as s:
        return dict(s.execute(sa.select(things.c.id, things.c.name)).all())


def test_the_same_insert_executed_in_a_row_is_sent_as_multi_row_inserts_of_at_most_50_parameters(db, sent):
    insert_thing = things.insert()
    with db.transaction() as s, inserts_deferred(s):
        results = [s.execute(insert_thing, {"id": f"t{i}", "name": f"n{i}"}) for i in range(60)]
        assert sent.inserts_into("things") == []  # kept
    assert all(r is DEFERRED and r.rowcount == -1 for r in results)
    # two columns: 25 rows a statement (psycopg caches the parsing of up to 50 parameters)
    assert [statement.count("), (") + 1 for statement in sent.inserts_into("things")] == [25, 25, 10]
    assert names(db) == {f"t{i}": f"n{i}" for i in range(60)}


def test_a_read_in_the_middle_sees_what_was_kept_before_it(db, sent):
    insert_thing = things.insert()
    with db.transaction() as s, inserts_deferred(s):
        s.execute(insert_thing, {"id": "a", "name": "first"})
        s.execute(insert_thing, {"id": "b", "name": "first"})
        assert s.execute(sa.select(sa.func.count()).select_from(things)).scalar_one() == 2
        assert s.execute(things.update().where(things.c.id == "a").values(name="second")).rowcount == 1
        s.execute(insert_thing, {"id": "c", "name": "third"})
    assert len(sent.inserts_into("things")) == 2  # the two before the read, then the last one
    assert names(db) == {"a": "second", "b": "first", "c": "third"}


def test_order_is_kept_across_statements_the_orm_and_foreign_keys_checked_at_once(db):
    insert_owner, insert_pet = owners.insert(), pets.insert()
    with db.transaction() as s, inserts_deferred(s):
        s.execute(insert_owner, {"id": "o1"})
        s.execute(insert_pet, {"id": "p1", "owner_id": "o1"})  # another run: after the owner
        s.execute(insert_owner, {"id": "o2"})
        s.add(Pet(id="p2", owner_id="o2"))  # the ORM's flush comes after the kept owner
        s.flush()
        s.execute(owners.insert().values(id="o3"))  # values in the statement: sent now, after the kept ones
    with db.read() as s:
        assert sorted(s.execute(sa.select(pets.c.id, pets.c.owner_id)).all()) == [("p1", "o1"), ("p2", "o2")]
        assert sorted(s.execute(sa.select(owners.c.id)).scalars()) == ["o1", "o2", "o3"]


def test_what_needs_a_result_is_sent_at_once(db, sent):
    with db.transaction() as s, inserts_deferred(s):
        returned = s.execute(effects.insert().returning(effects.c.id), {"consumer": "c", "event_id": "e"}).scalar_one()
        assert returned > 0
        inline = s.execute(things.insert().values(id="x", name="inline"))
        assert inline is not DEFERRED
        many = s.execute(things.insert(), [{"id": "y", "name": "m"}, {"id": "z", "name": "m"}])
        assert many is not DEFERRED
        assert len(sent.inserts_into("things")) == 2 and len(sent.inserts_into("effects")) == 1


def test_a_savepoint_sees_what_was_kept_before_it_and_its_rollback_drops_what_was_kept_inside(db):
    insert_thing = things.insert()
    with db.transaction() as s, inserts_deferred(s):
        s.execute(insert_thing, {"id": "before", "name": "kept"})
        with pytest.raises(RuntimeError):
            with s.begin_nested():
                s.execute(insert_thing, {"id": "inside", "name": "rolled back"})
                raise RuntimeError("the handler fails")
        with s.begin_nested():
            s.execute(insert_thing, {"id": "released", "name": "kept"})
        s.execute(insert_thing, {"id": "after", "name": "kept"})
    assert names(db) == {"before": "kept", "released": "kept", "after": "kept"}


def test_a_kept_insert_s_error_comes_out_at_the_end_of_the_block_and_nothing_is_kept(db):
    with db.transaction() as s:
        s.execute(things.insert().values(id="taken", name="before"))
    insert_thing = things.insert()
    with pytest.raises(sa.exc.IntegrityError):
        with db.transaction() as s, inserts_deferred(s):
            s.execute(insert_thing, {"id": "new", "name": "a"})
            s.execute(insert_thing, {"id": "taken", "name": "b"})  # kept: no error yet
    assert names(db) == {"taken": "before"}
    with db.transaction() as s, inserts_deferred(s):  # the pooled connection is usable again
        s.execute(insert_thing, {"id": "new", "name": "a"})
    assert names(db) == {"taken": "before", "new": "a"}


def test_a_block_that_raises_sends_nothing_and_a_commit_inside_it_is_refused(db, sent):
    insert_thing = things.insert()
    with pytest.raises(ValueError):
        with db.transaction() as s, inserts_deferred(s):
            s.execute(insert_thing, {"id": "a", "name": "never"})
            raise ValueError("a handler failed")
    assert sent.inserts_into("things") == [] and names(db) == {}
    with pytest.raises(RuntimeError, match="must not commit"):
        with db.transaction() as s, inserts_deferred(s):
            s.execute(insert_thing, {"id": "b", "name": "never"})
            s.commit()
    assert names(db) == {}


def test_outside_the_block_and_on_sqlite_inserts_go_at_once(db, tmp_path):
    with db.transaction() as s:
        assert s.execute(things.insert(), {"id": "a", "name": "now"}) is not DEFERRED
    sqlite_db = make_database(f"sqlite:///{tmp_path / 'service.db'}")
    try:
        with sqlite_db.transaction() as s, inserts_deferred(s):
            assert s.execute(things.insert(), {"id": "a", "name": "now"}) is not DEFERRED
    finally:
        sqlite_db.dispose()
