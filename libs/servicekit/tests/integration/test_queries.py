"""servicekit.queries: IN conditions with one statement text whatever the values."""
import datetime as dt

import sqlalchemy as sa

from servicekit.queries import one_of, rows_in

metadata = sa.MetaData()
slots = sa.Table("query_slots", metadata, sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("code", sa.String(20)), sa.Column("day", sa.Date))


def _fill(db):
    metadata.create_all(db.engine)
    with db.transaction() as s:
        s.execute(slots.insert(), [{"id": i, "code": f"c{i % 3}", "day": dt.date(2026, 9, 1 + i)} for i in range(9)])


def test_the_same_rows_as_in_on_both_databases(database):
    _fill(database)
    with database.read() as s:
        assert sorted(s.execute(sa.select(slots.c.id).where(one_of(s, slots.c.code, ["c1", "c2"]))).scalars()) == \
            [1, 2, 4, 5, 7, 8]
        assert list(s.execute(sa.select(slots.c.id).where(one_of(s, slots.c.code, [])))) == []
        wanted = [("c1", dt.date(2026, 9, 2)), ("c2", dt.date(2026, 9, 3)), ("c1", dt.date(2026, 9, 3))]
        assert sorted(s.execute(sa.select(slots.c.id).where(rows_in(s, (slots.c.code, slots.c.day), wanted)))
                      .scalars()) == [1, 2]


def test_postgresql_sees_one_text_whatever_the_number_of_values(pg_database):
    _fill(pg_database)
    seen = []
    sa.event.listen(pg_database.engine, "before_cursor_execute", lambda conn, cur, statement, *a: seen.append(statement))
    for n in (1, 2, 5):
        with pg_database.read() as s:
            s.execute(sa.select(slots.c.id).where(one_of(s, slots.c.code, [f"c{i}" for i in range(n)])))
            s.execute(sa.select(slots.c.id).where(rows_in(s, (slots.c.code, slots.c.day),
                                                          [("c0", dt.date(2026, 9, 1 + i)) for i in range(n)])))
    assert len(seen) == 6 and len(set(seen[0::2])) == 1 and len(set(seen[1::2])) == 1
