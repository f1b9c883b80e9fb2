"""`IN (...)` conditions whose SQL text does not depend on the values.

SQLAlchemy renders `column.in_(values)` with one bound parameter per value, at every execution
(its "post-compile" step rewrites the whole statement text with a regular expression): the
text changes with the number of values, psycopg cannot keep it prepared, and the rewriting cost
grows with the statement (measured in the booking rush: 6 % of the booking worker's CPU for
two `SELECT prestations ...`). On PostgreSQL these helpers send one array per column instead:

    column = ANY(%(values)s::type[])
    (a, b) IN (SELECT * FROM unnest(%(a)s::type[], %(b)s::type[]))

and on SQLite (in-process, no statement cache to keep) the plain `IN`.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from servicekit.db import is_postgresql


def one_of(session: Session, column: sa.ColumnElement, values: Iterable) -> sa.ColumnElement[bool]:
    """`column IN values`, as `column = ANY(array)` on PostgreSQL."""
    values = list(values)
    if not is_postgresql(session):
        return column.in_(values)
    return column == sa.any_(sa.bindparam(None, values, type_=_array_of(column.type)))


def rows_in(session: Session, columns: Sequence[sa.ColumnElement], rows: Iterable[Sequence]
            ) -> sa.ColumnElement[bool]:
    """`(a, b, ...) IN rows`, as an `IN` over `unnest` of one array per column on PostgreSQL."""
    rows = list(rows)
    if not is_postgresql(session):
        return sa.tuple_(*columns).in_(rows)
    arrays = [sa.bindparam(None, [row[i] for row in rows], type_=_array_of(column.type))
              for i, column in enumerate(columns)]
    names = [f"v{i}" for i in range(len(columns))]
    wanted = sa.func.unnest(*arrays).table_valued(*names).render_derived()
    return sa.tuple_(*columns).in_(sa.select(*(wanted.c[name] for name in names)))


@lru_cache(maxsize=256)
def _array_of(column_type: sa.types.TypeEngine) -> postgresql.ARRAY:
    return postgresql.ARRAY(column_type)  # made once per column type: building a type is not free
