"""The ended-sessions store keeps the ended ids in memory (gateway/sessions.py): an end recorded
by another worker is refused here within `staleness` seconds, an end recorded here at once, and
the table is read at most once per `staleness` whatever the number of requests."""
from datetime import datetime, timezone

import sqlalchemy as sa

from helpers import make_settings, migrate

from servicekit.db import Database

from gateway import auth, sessions


class Ticks:
    """The staleness clock of one worker, moved by hand."""

    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _db(tmp_path) -> Database:
    settings = make_settings(tmp_path)
    migrate(settings)
    return Database(settings.database_url)


def _count_selects(db: Database) -> list[str]:
    seen: list[str] = []

    @sa.event.listens_for(db.engine, "before_cursor_execute")
    def _seen(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    return seen


def test_an_end_recorded_by_another_worker_is_refused_within_the_bound(tmp_path):
    db = _db(tmp_path)
    ticks = Ticks()
    here = sessions.EndedSessions(db, staleness=1.0, clock=ticks)
    other_worker = sessions.EndedSessions(db)
    assert not here.is_ended("sid-1", "parent-1", auth.now() - 60, "gsid-1")
    other_worker.end_local("gsid-1")
    other_worker.end("sid-2")
    other_worker.end_subject("parent-3")
    ticks.now += 1.0  # the bound has passed since this worker's last read
    assert here.is_ended(None, None, 0.0, "gsid-1")
    assert here.is_ended("sid-2")
    assert here.is_ended("sid-9", "parent-3", auth_at=auth.now() - 60)
    assert not here.is_ended("sid-9", "parent-3", auth_at=auth.now() + 60)  # signed in again after
    assert not here.is_ended("sid-9", "parent-4", auth_at=0.0, gsid="gsid-2")
    db.dispose()


def test_an_end_recorded_by_this_worker_is_refused_at_once(tmp_path):
    db = _db(tmp_path)
    ticks = Ticks()
    here = sessions.EndedSessions(db, staleness=3600.0, clock=ticks)
    assert not here.is_ended("sid-1", gsid="gsid-1")  # read once: the next read is an hour away
    here.end_local("gsid-1")
    here.end("sid-2")
    assert here.is_ended(None, gsid="gsid-1") and here.is_ended("sid-2")
    db.dispose()


def test_the_table_is_read_once_per_bound_not_per_request(tmp_path):
    db = _db(tmp_path)
    selects = _count_selects(db)
    ticks = Ticks()
    here = sessions.EndedSessions(db, staleness=1.0, clock=ticks)
    for _ in range(50):
        here.is_ended("sid-1", "parent-1", 0.0, "gsid-1")
    assert len(selects) == 1
    ticks.now += 0.999
    here.is_ended("sid-1", "parent-1", 0.0, "gsid-1")
    assert len(selects) == 1
    ticks.now += 0.001
    here.is_ended("sid-1", "parent-1", 0.0, "gsid-1")
    assert len(selects) == 2
    db.dispose()


def test_a_late_commit_stamped_before_the_newest_row_read_is_still_found(tmp_path):
    """Rows are read again from OVERLAP before the newest one read: an end stamped earlier but
    committed after a read (a slow transaction, another pod's clock) is not skipped."""
    db = _db(tmp_path)
    ticks = Ticks()
    here = sessions.EndedSessions(db, staleness=1.0, clock=ticks)
    sessions.EndedSessions(db).end("sid-newest")
    assert here.is_ended("sid-newest")
    stamped = datetime.fromtimestamp(auth.now() - sessions.OVERLAP.total_seconds() / 2, timezone.utc)
    with db.transaction() as s:
        s.execute(sa.insert(sessions.ended_sessions).values(sid="sid-late", ended_at=stamped))
    ticks.now += 1.0
    assert here.is_ended("sid-late")
    db.dispose()


def test_ends_older_than_the_absolute_lifetime_are_forgotten(tmp_path, clock):
    db = _db(tmp_path)
    ticks = Ticks()
    here = sessions.EndedSessions(db, staleness=1.0, clock=ticks)
    here.end("sid-old")
    assert "sid-old" in here._ended
    clock.advance(here.keep.total_seconds() + 1)
    ticks.now += 1.0
    here.is_ended("sid-other")
    assert "sid-old" not in here._ended  # no cookie can be that old: memory stays bounded
    db.dispose()
