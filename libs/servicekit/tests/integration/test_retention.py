"""Retention jobs: inbox rows past INBOX_RETENTION_DAYS go, in batches; recent ones stay."""
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from servicekit.messaging import retention
from servicekit.messaging.jobs import JobRunner
from servicekit.messaging.tables import inbox
from servicekit.settings import ServiceSettings

pytestmark = pytest.mark.integration


def add_inbox_rows(db, consumer: str, count: int, age: timedelta) -> None:
    processed_at = datetime.now(timezone.utc) - age
    with db.transaction() as s:
        s.execute(inbox.insert(), [{"consumer": consumer, "event_id": f"{consumer}-{i}", "processed_at": processed_at}
                                   for i in range(count)])


def inbox_consumers(db) -> dict[str, int]:
    with db.read() as s:
        return dict(s.execute(sa.select(inbox.c.consumer, sa.func.count()).group_by(inbox.c.consumer)).all())


def test_inbox_rows_past_retention_are_purged_in_batches(database):
    add_inbox_rows(database, "svc.old", 12, timedelta(days=31))
    add_inbox_rows(database, "svc.recent", 3, timedelta(days=29))
    assert retention.purge_inbox(database, timedelta(days=30), batch=5) == 12  # 5 + 5 + 2
    assert inbox_consumers(database) == {"svc.recent": 3}
    assert retention.purge_inbox(database, timedelta(days=30), batch=5) == 0


def test_the_inbox_job_follows_inbox_retention_days(database):
    add_inbox_rows(database, "svc.a", 2, timedelta(days=3))
    add_inbox_rows(database, "svc.b", 2, timedelta(hours=1))
    settings = ServiceSettings(service="svc", database_url=database.url, inbox_retention_days=2)
    [job] = [j for j in retention.jobs(settings) if j.name == "inbox_retention"]
    assert JobRunner("svc", database, job).run_once()
    assert inbox_consumers(database) == {"svc.b": 2}
