"""servicekit.bulk.insert_rows: many rows, one statement of constant text, every type as
SQLAlchemy would bind it, on PostgreSQL and SQLite."""
import datetime as dt
import json

import sqlalchemy as sa

from servicekit.bulk import _recordset_insert, insert_rows
from servicekit.db import Database
from servicekit.types import UTCDateTime

metadata = sa.MetaData()
things = sa.Table(
    "bulk_things", metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(20), nullable=False),
    sa.Column("day", sa.Date, nullable=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("count", sa.Integer, nullable=False, server_default="7"),
    sa.Column("position", sa.Integer, nullable=True),  # a keyword: quoted
    sa.Column("doc", sa.JSON, nullable=True),
    sa.Column("kind", sa.String(10), nullable=False, default="plain"),
    sa.Column("stamp", sa.String(30), nullable=False, default=lambda: "made-by-default"),
)


def _rows(n):
    paris = dt.timezone(dt.timedelta(hours=1))
    return [{"name": f"row{i}", "day": dt.date(2026, 9, 1) + dt.timedelta(days=i) if i % 2 else None,
             "at": dt.datetime(2026, 9, 1, 8, 0, tzinfo=paris) + dt.timedelta(minutes=i), "position": i,
             "doc": {"i": i, "mot": "réservé"} if i % 3 else None} for i in range(n)]


def test_inserts_every_row_in_order_with_types_and_defaults(database):
    metadata.create_all(database.engine)
    rows = _rows(30)
    with database.transaction() as session:
        insert_rows(session, things, rows)
        insert_rows(session, things, [])  # nothing to do
    with database.read() as session:
        stored = session.execute(sa.select(things).order_by(things.c.seq)).mappings().all()
    assert [r["name"] for r in stored] == [r["name"] for r in rows]  # the serial follows the given order
    for row, got in zip(rows, stored):
        assert got["day"] == row["day"]
        assert got["at"] == row["at"] and got["at"].utcoffset() == dt.timedelta(0)  # UTCDateTime's binding
        assert got["position"] == row["position"]
        assert got["doc"] == (json.loads(json.dumps(row["doc"])) if row["doc"] is not None else None)
        assert (got["count"], got["kind"], got["stamp"]) == (7, "plain", "made-by-default")


def test_the_statement_is_the_same_whatever_the_number_of_rows(pg_database):
    """What makes it cheap: one text, cached by psycopg, for 1 or 500 rows."""
    metadata.create_all(pg_database.engine)
    seen = []
    sa.event.listen(pg_database.engine, "before_cursor_execute",
                    lambda conn, cursor, statement, *a: seen.append(statement))
    for n in (1, 20, 500):
        with pg_database.transaction() as session:
            insert_rows(session, things, _rows(n))
    inserts = [s for s in seen if s.startswith("INSERT")]
    assert len(inserts) == 3 and len(set(inserts)) == 1
    assert "json_populate_recordset" in inserts[0]
    with pg_database.read() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(things)) == 521
    assert _recordset_insert.cache_info().currsize >= 1


class _Counted(sa.types.TypeDecorator):
    """A DateTime whose binding counts its calls."""
    impl = sa.DateTime(timezone=True)
    cache_ok = True
    calls = 0

    def process_bind_param(self, value, dialect):
        type(self).calls += 1
        return value


def test_a_value_repeated_across_rows_is_processed_once_and_sent_the_same():
    """A cart's rows share their instants: each distinct value is converted and formatted once."""
    from servicekit.bulk import document

    table = sa.Table("bulk_counted", sa.MetaData(), sa.Column("at", _Counted), sa.Column("n", sa.Integer),
                     sa.Column("doc", sa.JSON))
    now = dt.datetime(2026, 12, 2, 8, 0, tzinfo=dt.timezone.utc)
    rows = [{"at": now, "n": i % 2, "doc": {"i": i}} for i in range(20)] + [{"at": None, "n": True, "doc": None}]
    _Counted.calls = 0
    sent = json.loads(document(table, rows))
    assert _Counted.calls == 2  # `now` and None, not 21 calls
    assert sent[:2] == [{"at": now.isoformat(), "n": 0, "doc": {"i": 0}}, {"at": now.isoformat(), "n": 1, "doc": {"i": 1}}]
    assert sent[-1] == {"at": None, "n": True, "doc": None}  # True is not taken for the 1 seen before
