"""The ended-sessions store on PostgreSQL, migrated by Alembic, shared by every worker."""
import pytest

from servicekit import migrations
from servicekit.db import Database

from helpers import MIGRATIONS

from gateway import auth, sessions

pytestmark = pytest.mark.integration


def test_migrated_store_records_sids_and_subjects(pg_url):
    migrations.upgrade(MIGRATIONS, pg_url)
    db = Database(pg_url)
    try:
        ticks = [0.0]
        # Two workers; the second reads the table again once `staleness` has passed on its clock.
        one, two = sessions.EndedSessions(db), sessions.EndedSessions(db, staleness=1.0, clock=lambda: ticks[0])
        one.end("sid-1")
        one.end("sid-1")  # a duplicate logout token is harmless
        assert two.is_ended("sid-1") and not two.is_ended("sid-2")
        before = auth.now() - 10
        one.end_subject("user-9")
        ticks[0] += 1.0
        assert two.is_ended("sid-3", "user-9", auth_at=before)
        assert not two.is_ended("sid-3", "user-9", auth_at=auth.now() + 10)  # signed in again later
    finally:
        db.dispose()
