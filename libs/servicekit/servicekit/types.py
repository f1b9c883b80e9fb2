"""Column types every service shares.

`UTCDateTime`: a moment in time, stored in UTC and always read back timezone-aware (UTC), on
PostgreSQL (`timestamptz`) and on SQLite (which has no time zones: the value is stored as naive
UTC text and tagged UTC again when read). Code never has to patch naive values from SQLite.
"""
from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """`DateTime(timezone=True)` that refuses naive datetimes and returns aware UTC ones."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self):
        return datetime

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"UTCDateTime takes a datetime, not {type(value).__name__}")
        if value.tzinfo is None:
            # A naive value is ambiguous (local time? UTC?): a bug in the caller, not a guess here.
            raise ValueError("UTCDateTime refuses naive datetimes: use datetime.now(timezone.utc)")
        value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)  # SQLite's text format has no offset: store UTC
        return value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def utcnow() -> datetime:
    """The current moment, aware, in UTC (the default of UTCDateTime columns)."""
    return datetime.now(timezone.utc)


def isoformat_utc(value: datetime | None) -> str | None:
    """How every API writes a moment: ISO 8601 in UTC with its offset (`2026-12-01T15:04:05+00:00`),
    a valid OpenAPI `date-time`. A naive value is taken as UTC (what SQLite gives back for
    columns that are not UTCDateTime); None stays None."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat()
