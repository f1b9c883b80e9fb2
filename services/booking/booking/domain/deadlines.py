"""Deadline rules as data, and the one function that turns a rule and a séance into an instant.

Every rule is read in Europe/Paris wall-clock time ("the day before at 12:00" means noon in
Paris, whether that is 10:00 or 11:00 UTC), except `HoursBeforeStart`, which counts real
elapsed hours back from the séance start (72 h before Monday 08:00 across the October DST
change is Friday 09:00). Bookings and cancellations are accepted strictly before the deadline.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from .closures import CommuneCalendar

PARIS = ZoneInfo("Europe/Paris")


def _non_negative(**values: int) -> None:
    for name, value in values.items():
        if value < 0:
            raise ValueError(f"Délai invalide : {name} doit être positif ou nul")


@dataclass(frozen=True)
class CalendarDaysBefore:
    """N calendar days before the séance at HH:MM (the day before at 12:00; 8 days before)."""
    days: int
    at: dt.time

    def __post_init__(self):
        _non_negative(days=self.days)


@dataclass(frozen=True)
class WorkingDaysBefore:
    """N working days before (weekends and French public holidays skipped) at HH:MM."""
    days: int
    at: dt.time

    def __post_init__(self):
        _non_negative(days=self.days)


@dataclass(frozen=True)
class SchoolDaysBefore:
    """N school days before (weekends, non-school weekdays, public and school holidays skipped)."""
    days: int
    at: dt.time

    def __post_init__(self):
        _non_negative(days=self.days)


@dataclass(frozen=True)
class HoursBeforeStart:
    """N real hours before the séance starts (72 h)."""
    hours: int

    def __post_init__(self):
        _non_negative(hours=self.hours)


@dataclass(frozen=True)
class WeeklyCutoff:
    """A weekday and time of an earlier week closes a whole week ("Thursday 09:00 for next week")."""
    weekday: int  # 0 = Monday
    at: dt.time
    weeks_before: int = 1

    def __post_init__(self):
        if not 0 <= self.weekday <= 6 or self.weeks_before < 1:
            raise ValueError("Date limite hebdomadaire invalide (jour 0 à 6, au moins une semaine avant)")


@dataclass(frozen=True)
class BeforeHolidayPeriod:
    """The whole school-holiday period closes N days before its first working day.

    The first working day (the Monday, usually) is the leisure centre's first day; the official
    data starts the holidays on the Saturday classes end, which parents do not count.
    """
    days: int
    at: dt.time

    def __post_init__(self):
        _non_negative(days=self.days)


DeadlineRule = (CalendarDaysBefore | WorkingDaysBefore | SchoolDaysBefore | HoursBeforeStart
                | WeeklyCutoff | BeforeHolidayPeriod)


class DeadlineNotApplicable(ValueError):
    """The rule cannot apply to this séance (e.g. a holiday rule on a term-time date)."""


def paris_time(day: dt.date, at: dt.time) -> dt.datetime:
    """The aware instant of a Paris wall-clock time; a time skipped by the spring DST change
    (02:30 on the last Sunday of March) resolves to the instant one hour later on the clock."""
    naive = dt.datetime.combine(day, at)
    return naive.replace(tzinfo=PARIS).astimezone(dt.timezone.utc).astimezone(PARIS)


def _count_back(day: dt.date, n: int, counts: Callable[[dt.date], bool]) -> dt.date:
    counted = 0
    while counted < n:
        day -= dt.timedelta(days=1)
        if counts(day):
            counted += 1
    return day


def deadline_for(rule: DeadlineRule, session_date: dt.date, calendar: CommuneCalendar | None = None,
                 starts_at: dt.time | None = None) -> dt.datetime:
    """The instant (aware, Europe/Paris) from which `rule` closes the séance of `session_date`.

    `calendar` is needed by the working-day, school-day and holiday rules; `starts_at` (the
    séance's start time) by `HoursBeforeStart`.
    """
    if isinstance(rule, CalendarDaysBefore):
        return paris_time(session_date - dt.timedelta(days=rule.days), rule.at)
    if isinstance(rule, WorkingDaysBefore):
        return paris_time(_count_back(session_date, rule.days, _need(calendar).is_working_day), rule.at)
    if isinstance(rule, SchoolDaysBefore):
        return paris_time(_count_back(session_date, rule.days, _need(calendar).is_school_day), rule.at)
    if isinstance(rule, HoursBeforeStart):
        if starts_at is None:
            raise DeadlineNotApplicable("Heure de début de la séance requise pour un délai en heures")
        start = paris_time(session_date, starts_at)
        return (start.astimezone(dt.timezone.utc) - dt.timedelta(hours=rule.hours)).astimezone(PARIS)
    if isinstance(rule, WeeklyCutoff):
        monday = session_date - dt.timedelta(days=session_date.weekday())
        cutoff_day = monday - dt.timedelta(weeks=rule.weeks_before) + dt.timedelta(days=rule.weekday)
        return paris_time(cutoff_day, rule.at)
    if isinstance(rule, BeforeHolidayPeriod):
        period = _need(calendar).holiday_period(session_date)
        if period is None:
            raise DeadlineNotApplicable(f"Le {session_date:%d/%m/%Y} n'est pas pendant les vacances scolaires")
        first_day = period.first
        while not calendar.is_working_day(first_day) and first_day < period.last:
            first_day += dt.timedelta(days=1)
        return paris_time(first_day - dt.timedelta(days=rule.days), rule.at)
    raise TypeError(f"Unknown deadline rule: {rule!r}")


def _need(calendar: CommuneCalendar | None) -> CommuneCalendar:
    if calendar is None:
        raise DeadlineNotApplicable("Ce délai dépend du calendrier de la commune")
    return calendar
