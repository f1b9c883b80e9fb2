import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from booking.domain.closures import CommuneCalendar
from booking.domain.deadlines import BeforeHolidayPeriod, CalendarDaysBefore, WorkingDaysBefore
from booking.domain.policy import Action, BookingPolicy, OpeningWindow, booking_opens_at, refusal
from booking.domain.reasons import Reason

PARIS = ZoneInfo("Europe/Paris")
ZONE_B = CommuneCalendar("B")
CANTEEN = BookingPolicy(booking_deadline=CalendarDaysBefore(1, dt.time(10)),
                        cancellation_deadline=WorkingDaysBefore(2, dt.time(12)), horizon_days=56)
SESSION = dt.date(2026, 11, 19)  # a Thursday


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=PARIS)


def test_booking_is_open_strictly_before_the_deadline():
    assert refusal(CANTEEN, Action.BOOK, SESSION, at(2026, 11, 18, 9, 59, 59), ZONE_B) is None
    assert refusal(CANTEEN, Action.BOOK, SESSION, at(2026, 11, 18, 10), ZONE_B) is Reason.BOOKING_DEADLINE_PASSED


def test_cancellation_has_its_own_deadline():
    now = at(2026, 11, 17, 12, 30)  # after Tuesday noon (J-2 working days), before Wednesday 10:00
    assert refusal(CANTEEN, Action.BOOK, SESSION, now, ZONE_B) is None
    assert refusal(CANTEEN, Action.CANCEL, SESSION, now, ZONE_B) is Reason.CANCELLATION_DEADLINE_PASSED
    assert Reason.CANCELLATION_DEADLINE_PASSED.label == "Le délai d'annulation est dépassé"


def test_the_deadline_is_compared_as_an_instant_whatever_the_caller_timezone():
    utc_just_before = dt.datetime(2026, 11, 18, 8, 59, tzinfo=dt.timezone.utc)  # 09:59 in Paris
    assert refusal(CANTEEN, Action.BOOK, SESSION, utc_just_before, ZONE_B) is None
    with pytest.raises(ValueError):
        refusal(CANTEEN, Action.BOOK, SESSION, dt.datetime(2026, 11, 18, 8), ZONE_B)


def test_maximum_horizon_of_eight_weeks_applies_to_bookings_only():
    now = at(2026, 9, 23, 23, 59)  # 19 November is 56 days after 24 September
    assert refusal(CANTEEN, Action.BOOK, SESSION, now, ZONE_B) is Reason.BEYOND_HORIZON
    assert refusal(CANTEEN, Action.BOOK, SESSION, at(2026, 9, 24), ZONE_B) is None
    assert refusal(CANTEEN, Action.CANCEL, SESSION, now, ZONE_B) is None
    assert booking_opens_at(CANTEEN, SESSION) == at(2026, 9, 24)


def test_opening_window_opens_earlier_for_residents():
    summer = BookingPolicy(
        booking_deadline=BeforeHolidayPeriod(15, dt.time(0)), cancellation_deadline=BeforeHolidayPeriod(15, dt.time(0)),
        windows=(OpeningWindow(dt.date(2027, 7, 5), dt.date(2027, 8, 31), opens_at=at(2027, 5, 10, 9),
                               residents_open_at=at(2027, 5, 3, 9)),))
    session, between = dt.date(2027, 7, 12), at(2027, 5, 5, 12)
    assert refusal(summer, Action.BOOK, session, between, ZONE_B) is None
    assert refusal(summer, Action.BOOK, session, between, ZONE_B, resident=False) is Reason.NOT_YET_OPEN
    assert refusal(summer, Action.BOOK, session, at(2027, 5, 3, 8, 59), ZONE_B) is Reason.NOT_YET_OPEN
    assert refusal(summer, Action.BOOK, session, at(2027, 6, 20), ZONE_B) is Reason.BOOKING_DEADLINE_PASSED
    assert booking_opens_at(summer, session, resident=False) == at(2027, 5, 10, 9)
    with pytest.raises(ValueError, match="fuseau"):
        OpeningWindow(session, session, opens_at=dt.datetime(2027, 5, 10, 9))


def test_an_agent_override_waives_the_deadline_but_not_the_horizon():
    late = at(2026, 11, 18, 15)
    assert refusal(CANTEEN, Action.BOOK, SESSION, late, ZONE_B, deadline_waived=True) is None
    assert refusal(CANTEEN, Action.CANCEL, SESSION, late, ZONE_B, deadline_waived=True) is None
    early = at(2026, 9, 1)
    assert refusal(CANTEEN, Action.BOOK, SESSION, early, ZONE_B, deadline_waived=True) is Reason.BEYOND_HORIZON
