import datetime as dt

import pytest

from booking.domain.closures import CalendarDataMissing, CommuneCalendar, HolidayPeriod

ZONE_B = CommuneCalendar("B")


def test_public_holidays_of_metropolitan_france_with_french_names():
    assert ZONE_B.public_holiday(dt.date(2026, 11, 11)) == "Armistice"
    assert ZONE_B.public_holiday(dt.date(2027, 5, 6)) == "Ascension"
    assert ZONE_B.public_holiday(dt.date(2027, 5, 17)) == "Lundi de Pentecôte"
    assert ZONE_B.public_holiday(dt.date(2026, 11, 12)) is None


def test_school_holidays_depend_on_the_zone():
    winter_day_2027 = dt.date(2027, 3, 3)  # zone B is on holiday, zone A is back at school
    assert ZONE_B.school_holiday(winter_day_2027) == "Vacances d'hiver"
    assert CommuneCalendar("A").school_holiday(winter_day_2027) is None


def test_holiday_period_spans_the_official_dates_across_new_year():
    assert ZONE_B.holiday_period(dt.date(2027, 1, 1)) == HolidayPeriod(
        dt.date(2026, 12, 19), dt.date(2027, 1, 3), "Vacances de Noël")
    assert ZONE_B.holiday_period(dt.date(2027, 1, 4)) is None


def test_working_and_school_days():
    assert ZONE_B.is_working_day(dt.date(2026, 10, 21))  # Wednesday of the Toussaint holidays
    assert not ZONE_B.is_school_day(dt.date(2026, 10, 21))
    assert not ZONE_B.is_working_day(dt.date(2026, 11, 11))
    assert not ZONE_B.is_working_day(dt.date(2026, 11, 14))  # Saturday
    four_day_week = CommuneCalendar("B", school_weekdays=frozenset({0, 1, 3, 4}))
    assert ZONE_B.is_school_day(dt.date(2026, 11, 18))
    assert not four_day_week.is_school_day(dt.date(2026, 11, 18))  # a Wednesday


def test_unknown_zone_and_dates_beyond_the_packaged_data_are_refused_clearly():
    with pytest.raises(ValueError, match="Zone"):
        CommuneCalendar("D")
    with pytest.raises(CalendarDataMissing, match="indisponible"):
        ZONE_B.school_holiday(dt.date(2040, 1, 2))


def test_the_calendars_of_this_year_and_the_next_are_loaded_ahead():
    from booking.domain import closures

    closures._public_holidays.cache_clear()
    closures._school_holidays.cache_clear()
    closures.load_calendars(dt.date(2026, 12, 1))
    assert closures._school_holidays.cache_info().currsize == 1
    assert closures._public_holidays.cache_info().currsize == 2
    hits = closures._public_holidays.cache_info().hits
    assert CommuneCalendar("B").public_holiday(dt.date(2027, 5, 8)) == "Fête de la Victoire"
    assert closures._public_holidays.cache_info().hits == hits + 1  # read from memory, not loaded
