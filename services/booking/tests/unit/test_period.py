import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from booking.domain import demo_catalogue as demo
from booking.domain.enrolment import Enrolment
from booking.domain.facts import BookingStatus
from booking.domain.period import PeriodRequest, Skipped, fixed_days_plan, plan_period
from booking.domain.policy import Action
from booking.domain.reasons import Reason

PARIS = ZoneInfo("Europe/Paris")
CANTEEN = next(p for p in demo.PRESTATIONS if p.id == "cantine-repas")
ENROLMENT = Enrolment("c1", "cantine", dt.date(2026, 9, 1), dt.date(2027, 7, 2))
NOW = dt.datetime(2026, 10, 5, 9, tzinfo=PARIS)  # a Monday, before the 10:00 deadline for Tuesday
FOUR_DAYS = frozenset({0, 1, 3, 4})


def test_a_weekly_pattern_books_every_open_date_and_says_why_others_were_skipped():
    request = PeriodRequest("c1", FOUR_DAYS | {2}, dt.date(2026, 10, 5), dt.date(2026, 11, 13))
    plan = plan_period(request, CANTEEN, demo.CALENDAR, (ENROLMENT,), {dt.date(2026, 10, 8): BookingStatus.CONFIRMED},
                       NOW)
    booked = [line.session_date for line in plan.lines]
    assert booked[0] == dt.date(2026, 10, 6)  # Monday 5 closed at Friday 10:00
    assert dt.date(2026, 10, 19) not in booked and dt.date(2026, 11, 2) in booked
    assert all(line.action is Action.BOOK and line.child_id == "c1" for line in plan.lines)
    reasons = {s.day: s.reason for s in plan.skipped}
    assert reasons[dt.date(2026, 10, 5)] is Reason.BOOKING_DEADLINE_PASSED
    assert reasons[dt.date(2026, 10, 7)] is Reason.NOT_AN_OPENING_WEEKDAY  # Wednesday: no canteen
    assert reasons[dt.date(2026, 10, 8)] is Reason.ALREADY_BOOKED
    assert reasons[dt.date(2026, 10, 20)] is Reason.SCHOOL_HOLIDAY
    assert reasons[dt.date(2026, 11, 11)] is Reason.NOT_AN_OPENING_WEEKDAY
    # Every asked date is either a line or skipped, never both, never lost.
    asked = [dt.date(2026, 10, 5) + dt.timedelta(days=n) for n in range(40)]
    asked = [d for d in asked if d.weekday() < 5]
    assert sorted(booked + list(reasons)) == asked


def test_cancelling_a_period_only_takes_booked_dates_before_their_deadline():
    bookings = {dt.date(2026, 11, 16): BookingStatus.CONFIRMED, dt.date(2026, 11, 17): BookingStatus.CONFIRMED,
                dt.date(2026, 11, 19): BookingStatus.WAITING}
    request = PeriodRequest("c1", FOUR_DAYS, dt.date(2026, 11, 16), dt.date(2026, 11, 20), Action.CANCEL)
    now = dt.datetime(2026, 11, 13, 11, tzinfo=PARIS)  # Friday, after 10:00: Monday's meal is due
    plan = plan_period(request, CANTEEN, demo.CALENDAR, (ENROLMENT,), bookings, now)
    assert [(line.session_date, line.action) for line in plan.lines] == [
        (dt.date(2026, 11, 17), Action.CANCEL), (dt.date(2026, 11, 19), Action.CANCEL)]
    assert plan.skipped == (Skipped(dt.date(2026, 11, 16), Reason.CANCELLATION_DEADLINE_PASSED),
                            Skipped(dt.date(2026, 11, 20), Reason.NOT_BOOKED))


def test_fixed_days_book_the_whole_enrolment_in_one_action():
    enrolment = Enrolment("c1", "cantine", dt.date(2026, 9, 1), dt.date(2027, 7, 2), fixed_weekdays=frozenset({0, 3}))
    plan = fixed_days_plan(enrolment, CANTEEN, demo.CALENDAR, {}, dt.datetime(2026, 8, 20, tzinfo=PARIS))
    days = [line.session_date for line in plan.lines]
    assert {d.weekday() for d in days} == {0, 3}
    assert days[0] == dt.date(2026, 9, 3) and days[-1] == dt.date(2027, 7, 1)
    assert 65 <= len(days) <= 72  # about 36 school weeks, minus holidays falling on Mondays and Thursdays
    assert {s.reason for s in plan.skipped} == {Reason.SCHOOL_HOLIDAY, Reason.PUBLIC_HOLIDAY}
    assert fixed_days_plan(Enrolment("c1", "cantine", dt.date(2026, 9, 1), dt.date(2027, 7, 2)), CANTEEN,
                           demo.CALENDAR, {}, NOW).lines == ()


def test_dates_outside_the_enrolment_are_skipped():
    autumn = Enrolment("c1", "cantine", dt.date(2026, 9, 1), dt.date(2026, 10, 9))
    request = PeriodRequest("c1", FOUR_DAYS, dt.date(2026, 10, 6), dt.date(2026, 10, 13))
    plan = plan_period(request, CANTEEN, demo.CALENDAR, (autumn,), {}, NOW)
    assert [line.session_date for line in plan.lines] == [dt.date(2026, 10, 6), dt.date(2026, 10, 8),
                                                          dt.date(2026, 10, 9)]
    assert {s.reason for s in plan.skipped} == {Reason.NOT_ENROLLED}


def test_an_empty_pattern_or_range_is_refused_in_french():
    with pytest.raises(ValueError, match="au moins un jour"):
        PeriodRequest("c1", frozenset(), dt.date(2026, 10, 6), dt.date(2026, 10, 13))
    with pytest.raises(ValueError, match="précède"):
        PeriodRequest("c1", FOUR_DAYS, dt.date(2026, 10, 13), dt.date(2026, 10, 6))
