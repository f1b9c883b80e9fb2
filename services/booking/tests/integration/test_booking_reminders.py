"""The booking reminder job: children enrolled without any booking next week are announced once
per family, prestation and week (booking_reminder.due.v1), while the deadline is ahead."""
import datetime as dt
import uuid

import pytest

from booking import reminders
from booking.domain.deadlines import paris_time
from booking.models import bookings
from booking_testkit import PARIS_TODAY, outbox_events

pytestmark = pytest.mark.integration

EVENT = "booking_reminder.due.v1"


def a_week_with_openings(world, prestation_id):
    """A moment (Monday 08:00, Paris) whose next week has an opening date, and that date."""
    today = PARIS_TODAY()
    day = next(d for d in world.open_dates(prestation_id, 20) if d - dt.timedelta(days=d.weekday()) > today)
    monday_before = day - dt.timedelta(days=day.weekday() + 7)
    return paris_time(monday_before, dt.time(8, 0)), day


def mine(world):
    return [e for e in outbox_events(world.db, EVENT) if e["commune"] == world.commune]


def test_an_enrolled_child_without_booking_is_reminded_once(world):
    prestation = world.prestation()
    family = world.family()
    world.enrol(family)
    now, day = a_week_with_openings(world, prestation["id"])
    monday = day - dt.timedelta(days=day.weekday())

    assert reminders.remind_unbooked(world.db, now) >= 1
    [event] = mine(world)
    assert event["family_id"] == family.family_id and event["child_ids"] == [family.child_id]
    assert (event["prestation_id"], event["prestation_label"]) == (prestation["id"], prestation["label"])
    assert (event["week_first"], event["week_last"]) == (monday.isoformat(), (monday + dt.timedelta(days=4)).isoformat())
    # the prestation's deadline: the day before the first open date at 12:00, Paris time
    assert dt.datetime.fromisoformat(event["deadline"]) == paris_time(day - dt.timedelta(days=1), dt.time(12, 0))

    reminders.remind_unbooked(world.db, now)  # the job runs again: nothing new
    assert len(mine(world)) == 1


def test_a_child_with_a_booking_that_week_is_not_reminded(world):
    prestation = world.prestation()
    family = world.family()
    world.enrol(family)
    now, day = a_week_with_openings(world, prestation["id"])
    with world.db.transaction() as s:
        s.execute(bookings.insert().values(id=str(uuid.uuid4()), commune=world.commune, family_id=family.family_id,
                                           child_id=family.child_id, service_id=world.service_id,
                                           prestation_id=prestation["id"], session_date=day, status="confirmed"))
    reminders.remind_unbooked(world.db, now)
    assert mine(world) == []


def test_no_reminder_once_the_deadline_has_passed(world):
    prestation = world.prestation(booking_deadline={"kind": "calendar_days", "days": 10, "at": "12:00"})
    world.enrol(world.family())
    now, _day = a_week_with_openings(world, prestation["id"])  # next week closed 10 days ahead: already
    reminders.remind_unbooked(world.db, now)
    assert mine(world) == []


def test_a_child_not_enrolled_is_not_reminded(world):
    prestation = world.prestation()
    world.family()
    now, _day = a_week_with_openings(world, prestation["id"])
    reminders.remind_unbooked(world.db, now)
    assert mine(world) == []


def test_the_worker_runs_the_reminder_job(db, db_url):
    from booking import worker
    from booking.settings import BookingSettings

    w = worker.create_worker(settings=BookingSettings(service="booking", database_url=db_url), db=db)
    [job] = [j for j in w.jobs if j.name == "booking_reminders"]
    assert job.fn is reminders.remind_unbooked and job.seconds <= 24 * 3600
