"""The deadline presets seen in communes, in Paris time, across weekends, public holidays and DST."""
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, strategies as st

from booking.domain.closures import CommuneCalendar
from booking.domain.deadlines import (
    BeforeHolidayPeriod, CalendarDaysBefore, DeadlineNotApplicable, HoursBeforeStart, SchoolDaysBefore,
    WeeklyCutoff, WorkingDaysBefore, deadline_for, paris_time,
)

PARIS = ZoneInfo("Europe/Paris")
UTC = dt.timezone.utc
ZONE_B = CommuneCalendar("B")
NOON = dt.time(12)


def paris(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=PARIS)


@pytest.mark.parametrize("hour", [12, 15, 18])
def test_the_day_before_at_a_fixed_hour(hour):
    assert deadline_for(CalendarDaysBefore(1, dt.time(hour)), dt.date(2026, 11, 12)) == paris(2026, 11, 11, hour)


def test_eight_calendar_days_before_ignores_weekends_and_holidays():
    assert deadline_for(CalendarDaysBefore(8, dt.time(0)), dt.date(2026, 11, 13)) == paris(2026, 11, 5)


@pytest.mark.parametrize("session, deadline", [
    (dt.date(2026, 11, 19), dt.date(2026, 11, 17)),  # plain Thursday: Tuesday
    (dt.date(2026, 11, 16), dt.date(2026, 11, 12)),  # Monday: across the weekend, Thursday
    (dt.date(2026, 11, 12), dt.date(2026, 11, 9)),   # after Wednesday 11 November: Monday
    (dt.date(2026, 5, 18), dt.date(2026, 5, 13)),    # after Ascension Thursday and a weekend
    (dt.date(2027, 5, 18), dt.date(2027, 5, 13)),    # after the weekend and Pentecost Monday
    (dt.date(2027, 3, 30), dt.date(2027, 3, 25)),    # after Easter Monday
])
def test_two_working_days_before_at_noon(session, deadline):
    assert deadline_for(WorkingDaysBefore(2, NOON), session, ZONE_B) == paris(*deadline.timetuple()[:3], 12)


def test_school_days_skip_school_holidays_and_the_free_wednesday():
    # First day after the Toussaint holidays: two school days back is before the holidays.
    assert deadline_for(SchoolDaysBefore(2, NOON), dt.date(2026, 11, 2), ZONE_B) == paris(2026, 10, 15, 12)
    four_day_week = CommuneCalendar("B", school_weekdays=frozenset({0, 1, 3, 4}))
    assert deadline_for(SchoolDaysBefore(2, NOON), dt.date(2026, 12, 10), ZONE_B) == paris(2026, 12, 8, 12)
    assert deadline_for(SchoolDaysBefore(2, NOON), dt.date(2026, 12, 10), four_day_week) == paris(2026, 12, 7, 12)


def test_72_hours_before_the_start_counts_real_hours_across_dst():
    rule = HoursBeforeStart(72)
    # October 2026: clocks go back on Sunday 25th, so 72 h before Monday 08:00 is Friday 09:00.
    autumn = deadline_for(rule, dt.date(2026, 10, 26), starts_at=dt.time(8))
    assert autumn == paris(2026, 10, 23, 9) and autumn.astimezone(UTC) == dt.datetime(2026, 10, 23, 7, tzinfo=UTC)
    # March 2027: clocks go forward on Sunday 28th, so 72 h before Tuesday 08:00 is Saturday 07:00.
    assert deadline_for(rule, dt.date(2027, 3, 30), starts_at=dt.time(8)) == paris(2027, 3, 27, 7)
    # Away from DST it is exactly three days.
    assert deadline_for(rule, dt.date(2026, 11, 20), starts_at=dt.time(7, 30)) == paris(2026, 11, 17, 7, 30)
    with pytest.raises(DeadlineNotApplicable):
        deadline_for(rule, dt.date(2026, 11, 20))


def test_wall_clock_rules_keep_their_hour_on_dst_days():
    before_autumn = deadline_for(CalendarDaysBefore(1, NOON), dt.date(2026, 10, 26))
    assert before_autumn.astimezone(UTC) == dt.datetime(2026, 10, 25, 11, tzinfo=UTC)  # CET
    before_spring = deadline_for(CalendarDaysBefore(1, NOON), dt.date(2027, 3, 29))
    assert before_spring.astimezone(UTC) == dt.datetime(2027, 3, 28, 10, tzinfo=UTC)  # CEST


def test_a_time_skipped_by_the_spring_change_resolves_to_the_next_real_instant():
    skipped = paris_time(dt.date(2027, 3, 28), dt.time(2, 30))
    assert skipped.astimezone(UTC) == dt.datetime(2027, 3, 28, 1, 30, tzinfo=UTC)
    assert (skipped.hour, skipped.minute) == (3, 30)


@pytest.mark.parametrize("session", [dt.date(2026, 11, 16) + dt.timedelta(days=n) for n in range(7)])
def test_weekly_cutoff_thursday_nine_closes_the_whole_next_week(session):
    assert deadline_for(WeeklyCutoff(3, dt.time(9)), session) == paris(2026, 11, 12, 9)


def test_weekly_cutoff_in_the_week_of_the_autumn_dst_change():
    deadline = deadline_for(WeeklyCutoff(3, dt.time(9)), dt.date(2026, 10, 28))
    assert deadline.astimezone(UTC) == dt.datetime(2026, 10, 22, 7, tzinfo=UTC)  # still CEST
    two_weeks = deadline_for(WeeklyCutoff(4, NOON, weeks_before=2), dt.date(2026, 11, 4))
    assert two_weeks == paris(2026, 10, 23, 12)


@pytest.mark.parametrize("session, first_day", [
    (dt.date(2026, 10, 28), dt.date(2026, 10, 19)),  # Toussaint: from Monday 19 October
    (dt.date(2026, 12, 31), dt.date(2026, 12, 21)),  # Christmas, across the new year
    (dt.date(2027, 3, 5), dt.date(2027, 2, 22)),     # winter, zone B
    (dt.date(2027, 7, 20), dt.date(2027, 7, 5)),     # summer
    (dt.date(2027, 5, 7), dt.date(2027, 5, 7)),      # Ascension bridge: Thursday is a public holiday
])
def test_holidays_closed_fifteen_days_before_their_first_working_day(session, first_day):
    deadline = deadline_for(BeforeHolidayPeriod(15, dt.time(0)), session, ZONE_B)
    assert deadline == paris(*(first_day - dt.timedelta(days=15)).timetuple()[:3])


def test_holiday_rule_depends_on_the_zone_and_refuses_term_time_dates():
    zone_a = CommuneCalendar("A")
    assert deadline_for(BeforeHolidayPeriod(15, dt.time(0)), dt.date(2027, 2, 24), zone_a) == paris(2027, 1, 31)
    with pytest.raises(DeadlineNotApplicable, match="vacances"):
        deadline_for(BeforeHolidayPeriod(15, dt.time(0)), dt.date(2026, 11, 18), ZONE_B)


def test_invalid_rules_are_refused_with_a_french_message():
    with pytest.raises(ValueError, match="Délai invalide"):
        CalendarDaysBefore(-1, NOON)
    with pytest.raises(ValueError, match="hebdomadaire"):
        WeeklyCutoff(7, NOON)


sessions = st.dates(dt.date(2025, 9, 1), dt.date(2028, 6, 30))
times = st.times().map(lambda t: t.replace(microsecond=0))
wall_clock_rules = st.one_of(
    st.builds(CalendarDaysBefore, st.integers(1, 30), times),
    st.builds(WorkingDaysBefore, st.integers(1, 10), times),
    st.builds(SchoolDaysBefore, st.integers(1, 10), times),
    st.builds(WeeklyCutoff, st.integers(0, 6), times, st.integers(1, 3)),
    st.builds(HoursBeforeStart, st.integers(1, 24 * 14)),
)


@given(rule=wall_clock_rules, session=sessions, starts_at=times, zone=st.sampled_from("ABC"))
def test_a_deadline_is_always_before_the_seance_starts(rule, session, starts_at, zone):
    deadline = deadline_for(rule, session, CommuneCalendar(zone), starts_at)
    assert deadline.tzinfo is not None
    assert deadline < paris_time(session, starts_at)


@given(session=sessions, days=st.integers(1, 5), at=times)
def test_working_day_deadlines_always_fall_on_working_days(session, days, at):
    deadline = deadline_for(WorkingDaysBefore(days, at), session, ZONE_B)
    assert ZONE_B.is_working_day(deadline.date())  # DST changes happen on Sundays, never shifting the day
