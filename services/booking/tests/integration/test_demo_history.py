"""`seed-demo --with-history`: the demo family's past days booked and marked through the real use
cases (bookings with stable ids, marks, their events in the outbox), idempotent, in line with
booking's own calendar and views, and fine once billing has locked the invoiced months."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from booking_testkit import envelope, outbox_events

from contracts import billing as billing_contract
from contracts import demo as history
from servicekit.tokens import Caller

from booking import attendance as attendance_views
from booking import consumers, seed
from booking.domain import demo_catalogue
from booking.domain.openings import opening_dates
from booking.models import agents, attendance, bookings, period_locks

TODAY = dt.date(2026, 12, 1)


def _seed(db, times: int = 1, today: dt.date = TODAY) -> None:
    for _ in range(times):
        with db.transaction() as s:
            seed.seed_demo(s, with_history=True, today=today)


def test_the_shared_history_agrees_with_bookings_calendar_and_ids():
    for child_id, code, price_ref, weekdays in history.HABITS:
        prestation = next(p for p in demo_catalogue.PRESTATIONS if p.id == code)
        assert history.prestation_id(code) == seed.stable_id(demo_catalogue.COMMUNE_SLUG, "prestation", code)
        assert prestation.price_ref == price_ref
        opened = [d for d in opening_dates(prestation.schedule, demo_catalogue.CALENDAR) if d.weekday() in weekdays]
        expected = [d for d in opened if d <= history.SCHOOL_YEAR[1]]
        ours = [d for d in _all_days(history.SCHOOL_YEAR[1]) if d.weekday() in weekdays and history.is_school_day(d)]
        assert ours == expected, code
    assert (history.FAMILY_ID, history.LEA, history.HUGO) == (seed.DEMO_FAMILY["family_id"], seed.LEA, seed.HUGO)
    assert history.SCHOOL_YEAR == demo_catalogue.SCHOOL_YEAR


def _all_days(last: dt.date) -> list[dt.date]:
    first = history.SCHOOL_YEAR[0]
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def test_the_history_runs_from_the_rentree_to_the_end_of_last_month_never_before():
    assert history.past_days(dt.date(2026, 9, 20)) == []
    assert history.past_months(TODAY) == ["2026-09", "2026-10", "2026-11"]
    assert history.past_months(dt.date(2027, 1, 10)) == ["2026-09", "2026-10", "2026-11", "2026-12"]
    days = history.past_days(TODAY)
    assert days[0].day == dt.date(2026, 9, 1) and days[-1].day == dt.date(2026, 11, 30)
    assert not [d for d in days if dt.date(2026, 10, 19) <= d.day <= dt.date(2026, 10, 30)]  # Toussaint


def test_seed_books_and_marks_the_past_like_the_real_use_cases_once(db):
    _seed(db, times=2)
    past = history.past_days(TODAY)
    with db.read() as s:
        rows = s.execute(sa.select(bookings).where(bookings.c.family_id == seed.DEMO_FAMILY["family_id"],
                                                   bookings.c.session_date <= dt.date(2026, 11, 30))).mappings().all()
        marks = s.execute(sa.select(attendance).where(attendance.c.family_id == seed.DEMO_FAMILY["family_id"])
                          ).mappings().all()
    assert sorted(r["id"] for r in rows) == sorted(d.booking_id for d in past)  # stable ids, nothing twice
    assert {r["status"] for r in rows} == {"confirmed"}
    assert {(m["child_id"], m["prestation_id"], m["session_date"]): (m["status"], m["booked"]) for m in marks} == {
        (d.child_id, d.prestation_id, d.day): (d.status, True) for d in past}
    statuses = [m["status"] for m in marks]
    assert statuses.count("absent_justified") == 2 and statuses.count("absent_unjustified") == 2
    # Léa: 17 + 10 + 17 canteen days (Sep, Oct before Toussaint, Nov); Hugo: 9 + 5 + 8 Tuesday/Thursday evenings
    assert sorted(r["child_id"] for r in rows).count(seed.LEA) == 44 and len(rows) == 44 + 22

    confirmed = {e["booking_id"]: e for e in outbox_events(db, "booking.confirmed.v1")}
    assert {d.booking_id for d in past} <= set(confirmed)
    first = confirmed[past[0].booking_id]
    assert (first["via"], first["price_ref"], first["payment_mode"]) == ("agent", "CANTINE-REPAS", "end_of_month")
    assert dt.datetime.fromisoformat(first["confirmed_at"]) == history.BOOKED_AT
    recorded = outbox_events(db, "attendance.recorded.v1")
    assert sorted((e["child_id"], e["session_date"], e["status"]) for e in recorded) == sorted(
        (d.child_id, d.day.isoformat(), d.status) for d in past)
    assert dt.datetime.fromisoformat(recorded[0]["recorded_at"]) == past[0].marked_at

    # booking's own views agree: the staff's list of a past day shows Léa booked and present
    with db.read() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(agents)).scalar() == 0  # the seed invents no agent
    staff = Caller(sub="staff", role="agent", commune="heillecourt")
    with db.transaction() as s:  # identity's agent.assigned, as the agents projection records it
        s.execute(agents.insert().values(user_id="staff", commune="heillecourt", role="agent", active=True,
                                         changed_at=dt.datetime.now(dt.timezone.utc),
                                         updated_at=dt.datetime.now(dt.timezone.utc)))
    with db.read() as s:
        view = attendance_views.day_list(s, staff, history.prestation_id("cantine-repas"), "2026-09-01")
    lea = next(i for i in view["items"] if i["child_id"] == seed.LEA)
    assert (lea["booked"], lea["status"]) == (True, "present")


def test_months_billing_locked_stay_as_they_are_and_the_seed_still_runs(db):
    _seed(db)
    with db.transaction() as s:
        for first, last in ((dt.date(2026, 9, 1), dt.date(2026, 9, 30)), (dt.date(2026, 10, 1), dt.date(2026, 10, 31))):
            consumers.on_period_locked(s, envelope(billing_contract.PeriodLocked(
                commune="heillecourt", first=first, last=last, locked_at=dt.datetime.now(dt.timezone.utc)), "billing"))
    before = len(outbox_events(db))
    _seed(db)
    _seed(db, today=dt.date(2027, 1, 5))  # a month later: December is added, the locked months untouched
    with db.read() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(period_locks)).scalar() == 2
        december = s.execute(sa.select(sa.func.count()).select_from(attendance).where(
            attendance.c.session_date.between(dt.date(2026, 12, 1), dt.date(2026, 12, 31)))).scalar()
    assert december == len([d for d in history.past_days(dt.date(2027, 1, 5)) if d.day.month == 12])
    new = outbox_events(db)[before:]
    assert new and all(e["session_date"] >= "2026-12-01" for e in new if "session_date" in e)
