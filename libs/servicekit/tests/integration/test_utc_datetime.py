"""UTCDateTime on real databases: stores UTC, reads back aware UTC on PostgreSQL and SQLite,
compares correctly in SQL, and refuses naive values."""
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import StatementError

from servicekit.db import Database
from servicekit.types import UTCDateTime

pytestmark = pytest.mark.integration

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture(params=["postgresql", "sqlite"])
def db_table(request, tmp_path):
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else f"sqlite:///{tmp_path / 't.db'}"
    metadata = sa.MetaData()
    table = sa.Table("moments", metadata, sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("at", UTCDateTime, nullable=True))
    db = Database(url)
    metadata.create_all(db.engine)
    yield db, table
    db.dispose()


def test_reads_back_aware_utc_whatever_zone_was_written(db_table):
    db, table = db_table
    paris_noon = datetime(2026, 7, 1, 12, 0, tzinfo=PARIS)  # 10:00 UTC
    with db.transaction() as s:
        s.execute(table.insert().values(id=1, at=paris_noon))
        s.execute(table.insert().values(id=2, at=None))
    with db.read() as s:
        at = s.scalar(sa.select(table.c.at).where(table.c.id == 1))
        assert s.scalar(sa.select(table.c.at).where(table.c.id == 2)) is None
    assert at.tzinfo is not None and at.utcoffset() == timedelta(0)
    assert at == datetime(2026, 7, 1, 10, 0, tzinfo=timezone.utc)


def test_comparisons_in_sql_use_the_instant(db_table):
    db, table = db_table
    with db.transaction() as s:
        s.execute(table.insert().values(id=1, at=datetime(2026, 7, 1, 10, 0, tzinfo=timezone.utc)))
    with db.read() as s:
        # 11:30 in Paris is 09:30 UTC: before the stored moment.
        later = s.scalar(sa.select(sa.func.count()).select_from(table).where(
            table.c.at > datetime(2026, 7, 1, 11, 30, tzinfo=PARIS)))
    assert later == 1


def test_naive_datetimes_are_refused(db_table):
    db, table = db_table
    with pytest.raises(StatementError, match="naive"):
        with db.transaction() as s:
            s.execute(table.insert().values(id=1, at=datetime(2026, 7, 1, 10, 0)))
