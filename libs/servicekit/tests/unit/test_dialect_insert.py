"""servicekit.db.dialect_insert: the session's dialect's INSERT, which has ON CONFLICT."""
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from servicekit.db import dialect_insert

TABLE = sa.Table("things", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.Text))


def test_sqlite_gets_sqlites_insert_and_its_on_conflict_works():
    engine = sa.create_engine("sqlite://")
    TABLE.metadata.create_all(engine)
    with Session(engine) as session:
        stmt = dialect_insert(session, TABLE)
        assert isinstance(stmt, sqlite.Insert)
        for name in ("first", "second"):
            session.execute(dialect_insert(session, TABLE).values(id=1, name=name).on_conflict_do_nothing())
        assert session.execute(sa.select(TABLE.c.name)).scalars().all() == ["first"]


def test_postgresql_gets_postgresqls_insert():
    engine = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")  # never connected
    with Session(engine) as session:
        stmt = dialect_insert(session, TABLE).values(id=1).on_conflict_do_nothing()
        assert isinstance(stmt, postgresql.Insert)
        assert "ON CONFLICT DO NOTHING" in str(stmt.compile(dialect=postgresql.dialect()))
