"""Many rows in one statement whose text never changes.

SQLAlchemy's "insertmanyvalues" (an INSERT ... RETURNING with a list of rows) renders one
`VALUES (...), (...)` per batch: its text differs with the number of rows, so neither
SQLAlchemy's nor psycopg's statement cache keeps it, and psycopg parses the whole text again on
every call (measured in the booking rush: about a sixth of the booking worker's CPU went there).
Arrays (`unnest`) fix the text but not the cost: psycopg escapes every element of a text array
with a regular expression, and an outbox body is full of quotes. On PostgreSQL `insert_rows`
sends instead

    INSERT INTO t (a, b) SELECT a, b FROM json_populate_recordset(NULL::t, :rows)
        WITH ORDINALITY AS v ORDER BY ordinality

with the rows as one JSON document (one C-speed `json.dumps`; PostgreSQL converts each value
to its column's type): the same text for 1 or 500 rows, rows inserted in the given order
(serial keys such as the outbox's follow it). On SQLite (in-process) it is an executemany.
"""
from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from collections.abc import Mapping, Sequence
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from servicekit.db import is_postgresql

_PG = postgresql.psycopg.dialect()


def insert_rows(session: Session, table: sa.Table, rows: Sequence[Mapping]) -> None:
    """Insert `rows` (dicts with the same keys) into `table` in one statement, in order.
    Columns left out get their Python-side scalar or callable default, or the server's."""
    if not rows:
        return
    if not is_postgresql(session):
        session.execute(table.insert(), list(rows))
        return
    given = tuple(rows[0])
    session.execute(_recordset_insert(table, given + tuple(_defaults(table, given))), {"rows": document(table, rows)})


def document(table: sa.Table, rows: Sequence[Mapping]) -> str:
    """`rows` (dicts with the same keys) as the JSON document `insert_rows` sends: each value as
    its column's type would bind it, the Python-side defaults of the columns left out added. For
    a statement of one's own reading it with `json_populate_recordset(NULL::table, ...)` (one
    step of a larger statement)."""
    if not rows:
        return "[]"
    given = tuple(rows[0])
    defaults = _defaults(table, given)
    processors = _processors(table, given)
    # A value repeated across rows (the request's instant, the commune, the family) is processed
    # and formatted once: datetime conversion and isoformat were most of a 20-row cart's cost.
    seen: dict = {}
    items = []
    for row in rows:
        item = {}
        for name, process in processors:
            value = row[name]
            try:
                item[name] = seen[name, type(value), value]
            except KeyError:
                item[name] = seen[name, type(value), value] = _plain(process(value) if process else value)
            except TypeError:  # unhashable: a JSON column's dict or list, as it is
                item[name] = process(value) if process else value
        for name, make in defaults.items():
            item[name] = make()
        items.append(item)
    return json.dumps(items, default=_json_value)


def _plain(value):
    """A value as the document holds it: dates, instants, decimals and UUIDs as their text."""
    return _json_value(value) if isinstance(value, _AS_TEXT) else value


_AS_TEXT = (dt.date, dt.datetime, dt.time, decimal.Decimal, uuid.UUID)


def _json_value(value):
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not a column value insert_rows knows")


@lru_cache(maxsize=256)
def _processors(table: sa.Table, given: tuple[str, ...]) -> tuple:
    return tuple((name, _bind_processor(table.c[name].type)) for name in given)


@lru_cache(maxsize=256)  # the same few tables and column sets, every request
def _defaults(table: sa.Table, given: tuple[str, ...]) -> dict:
    """The Python-side defaults of the columns not given (server defaults apply by themselves)."""
    out = {}
    for column in table.columns:
        default = column.default
        if column.name in given or default is None or not (default.is_scalar or default.is_callable):
            continue
        out[column.name] = (lambda value=default.arg: value) if default.is_scalar else (lambda fn=default.arg: fn(None))
    return out


@lru_cache(maxsize=256)
def _recordset_insert(table: sa.Table, names: tuple[str, ...]) -> sa.TextClause:
    quote = _PG.identifier_preparer.quote
    columns = ", ".join(quote(name) for name in names)
    return sa.text(f"INSERT INTO {quote(table.name)} ({columns}) SELECT {columns} FROM "
                   f"json_populate_recordset(NULL::{quote(table.name)}, :rows) WITH ORDINALITY ORDER BY ordinality")


@lru_cache(maxsize=256)
def _bind_processor(column_type: sa.types.TypeEngine):
    """What SQLAlchemy does to a value of this type before psycopg sees it (a TypeDecorator's
    process_bind_param); None when nothing. A JSON value goes into the document as it is."""
    if isinstance(column_type, sa.JSON):
        return None
    return column_type.dialect_impl(_PG).bind_processor(_PG)
