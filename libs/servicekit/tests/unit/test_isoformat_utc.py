"""servicekit.types.isoformat_utc: one way to write a moment in every API."""
from datetime import datetime, timedelta, timezone

import pytest

jsonschema_rs = pytest.importorskip("jsonschema_rs")  # checks formats (schemathesis's validator)

from servicekit.types import isoformat_utc

DATE_TIME = jsonschema_rs.Draft7Validator({"type": "string", "format": "date-time"}, validate_formats=True)


@pytest.mark.parametrize("moment, expected", [
    (datetime(2026, 12, 1, 15, 4, 5, tzinfo=timezone.utc), "2026-12-01T15:04:05+00:00"),
    # naive (SQLite): taken as UTC, the offset is written
    (datetime(2026, 12, 1, 15, 4, 5, 120000), "2026-12-01T15:04:05.120000+00:00"),
    # another offset: converted to UTC
    (datetime(2026, 12, 1, 16, 4, 5, tzinfo=timezone(timedelta(hours=1))), "2026-12-01T15:04:05+00:00"),
])
def test_moments_are_written_in_utc_with_their_offset(moment, expected):
    text = isoformat_utc(moment)
    assert text == expected
    assert DATE_TIME.is_valid(text)
    assert datetime.fromisoformat(text) == moment.replace(tzinfo=moment.tzinfo or timezone.utc)


def test_none_stays_none():
    assert isoformat_utc(None) is None


def test_a_naive_isoformat_is_not_a_valid_date_time():
    """Why the helper exists: what `datetime.isoformat()` gives for SQLite's naive values."""
    assert not DATE_TIME.is_valid(datetime(2026, 12, 1, 15, 4, 5).isoformat())
