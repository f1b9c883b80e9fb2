"""notify's retention job: sent bodies (live links) blanked after NOTIFY_BODY_RETENTION_HOURS,
sent and failed notifications deleted after NOTIFY_RETENTION_DAYS, queued ones untouched."""
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from servicekit import migrations
from servicekit.db import Database

import notify
from notify import retention
from notify.models import FAILED, QUEUED, SENT, notifications
from notify.settings import NotifySettings
from notify.worker import create_worker

pytestmark = pytest.mark.integration

MIGRATIONS = Path(notify.__file__).resolve().parent.parent / "migrations"
NOW = datetime(2026, 10, 1, 12, 0, tzinfo=timezone.utc)
SETTINGS = NotifySettings(service="notify", notify_body_retention_hours=72, notify_retention_days=90)


@pytest.fixture
def db(pg_url):
    migrations.upgrade(MIGRATIONS, pg_url)
    database = Database(pg_url)
    yield database
    database.dispose()


def add(db, name, status, created, sent=None):
    with db.transaction() as s:
        s.execute(notifications.insert().values(
            id=name, template="password_reset", recipient="p@example.org", subject="Réinitialisation",
            text_body=f"lien secret {name}", html_body=f"<a>lien secret {name}</a>", message_id=f"<{name}@x>",
            source_event_id=name, source_event_type="password_reset.requested.v1", status=status, attempts=1,
            created_at=created, sent_at=sent))


def rows(db):
    with db.read() as s:
        return {r.id: (r.status, r.text_body, r.html_body) for r in s.execute(sa.select(notifications))}


def test_bodies_are_blanked_then_rows_deleted(db):
    add(db, "sent-yesterday", SENT, NOW - timedelta(days=1), NOW - timedelta(days=1))
    add(db, "sent-last-week", SENT, NOW - timedelta(days=7), NOW - timedelta(days=7))
    add(db, "sent-long-ago", SENT, NOW - timedelta(days=91), NOW - timedelta(days=91))
    add(db, "failed-last-week", FAILED, NOW - timedelta(days=7))
    add(db, "failed-long-ago", FAILED, NOW - timedelta(days=91))
    add(db, "queued-long-ago", QUEUED, NOW - timedelta(days=91))  # never given up: never purged

    with db.transaction() as s:
        assert retention.purge(s, SETTINGS, now=NOW) == {"deleted": 2, "bodies_blanked": 1}
    left = rows(db)
    assert set(left) == {"sent-yesterday", "sent-last-week", "failed-last-week", "queued-long-ago"}
    assert left["sent-last-week"] == (SENT, "", "")
    assert left["sent-yesterday"][1] == "lien secret sent-yesterday"
    assert left["failed-last-week"][1] == "lien secret failed-last-week"  # still retryable
    with db.transaction() as s:
        assert retention.purge(s, SETTINGS, now=NOW) == {"deleted": 0, "bodies_blanked": 0}


def test_the_worker_runs_it_hourly(db):
    worker = create_worker(SETTINGS, db)
    [job] = [j for j in worker.jobs if j.name == "retention"]
    assert job.seconds == 3600
    add(db, "sent-long-ago", SENT, NOW - timedelta(days=91), NOW - timedelta(days=91))
    job.fn(db)
    assert rows(db) == {}
