import datetime as dt

from booking.domain.closures import CommuneCalendar
from booking.domain.openings import OpensDuring, Schedule, closure_reason, opening_dates
from booking.domain.reasons import Reason

ZONE_B = CommuneCalendar("B")
YEAR = (dt.date(2026, 9, 1), dt.date(2027, 7, 3))
CANTEEN = Schedule(*YEAR, weekdays=frozenset({0, 1, 3, 4}), closed_dates=frozenset({dt.date(2026, 12, 18)}))
HOLIDAY_CENTRE = Schedule(*YEAR, weekdays=frozenset(range(5)), opens_during=OpensDuring.SCHOOL_HOLIDAYS)


def test_term_time_service_skips_weekdays_holidays_and_ad_hoc_closures():
    assert closure_reason(CANTEEN, ZONE_B, dt.date(2026, 9, 3)) is None
    assert closure_reason(CANTEEN, ZONE_B, dt.date(2026, 9, 2)) is Reason.NOT_AN_OPENING_WEEKDAY
    assert closure_reason(CANTEEN, ZONE_B, dt.date(2026, 10, 19)) is Reason.SCHOOL_HOLIDAY
    assert closure_reason(CANTEEN, ZONE_B, dt.date(2027, 5, 17)) is Reason.PUBLIC_HOLIDAY
    assert closure_reason(CANTEEN, ZONE_B, dt.date(2026, 12, 18)) is Reason.AD_HOC_CLOSURE
    assert closure_reason(CANTEEN, ZONE_B, dt.date(2026, 8, 31)) is Reason.OUTSIDE_PERIOD


def test_canteen_dates_of_november_2026():
    dates = opening_dates(CANTEEN, ZONE_B, dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    # Toussaint holidays end on Sunday 1st; 11 November is a Wednesday (no canteen anyway).
    assert dates[0] == dt.date(2026, 11, 2)
    assert len(dates) == 17  # 4 days a week over 4 weeks + Monday 30
    assert all(d.weekday() in {0, 1, 3, 4} for d in dates)


def test_holiday_centre_opens_only_during_school_holidays_and_never_on_public_holidays():
    toussaint = opening_dates(HOLIDAY_CENTRE, ZONE_B, dt.date(2026, 10, 12), dt.date(2026, 11, 6))
    assert toussaint == [dt.date(2026, 10, 19) + dt.timedelta(days=n) for n in (0, 1, 2, 3, 4, 7, 8, 9, 10, 11)]
    assert closure_reason(HOLIDAY_CENTRE, ZONE_B, dt.date(2026, 11, 2)) is Reason.SCHOOL_TERM
    christmas = opening_dates(HOLIDAY_CENTRE, ZONE_B, dt.date(2026, 12, 21), dt.date(2027, 1, 3))
    assert dt.date(2026, 12, 25) not in christmas and dt.date(2027, 1, 1) not in christmas
    assert len(christmas) == 8


def test_a_whole_school_year_has_a_plausible_number_of_canteen_days():
    # French pupils have about 36 weeks of school: 4 canteen days a week, minus public holidays.
    assert 135 <= len(opening_dates(CANTEEN, ZONE_B)) <= 142
