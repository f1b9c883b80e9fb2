"""Opening dates (séances) of a prestation: a weekly pattern over a period, minus closures.

A term-time service (canteen, périscolaire, Wednesday leisure centre) is closed on public
holidays and during the school holidays of the commune's zone; a holiday leisure centre is the
inverse: open only during school holidays (and still closed on public holidays). Ad-hoc closures
(a strike, a training day) close any service.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum

from .closures import CommuneCalendar
from .reasons import Reason


class OpensDuring(Enum):
    SCHOOL_TERM = "periode_scolaire"
    SCHOOL_HOLIDAYS = "vacances"


@dataclass(frozen=True)
class Schedule:
    first: dt.date  # the period, typically a school year
    last: dt.date
    weekdays: frozenset[int]  # 0 = Monday … 6 = Sunday
    opens_during: OpensDuring = OpensDuring.SCHOOL_TERM
    closed_dates: frozenset[dt.date] = field(default_factory=frozenset)  # ad-hoc closures

    def __post_init__(self):
        if self.last < self.first:
            raise ValueError("La fin de la période précède son début")
        if not self.weekdays or not self.weekdays <= set(range(7)):
            raise ValueError("Jours d'ouverture invalides (0 = lundi … 6 = dimanche)")


def days_between(first: dt.date, last: dt.date) -> Iterator[dt.date]:
    day = first
    while day <= last:
        yield day
        day += dt.timedelta(days=1)


def closure_reason(schedule: Schedule, calendar: CommuneCalendar, day: dt.date) -> Reason | None:
    """None when `day` is an opening date of `schedule`, otherwise why it is closed."""
    if not schedule.first <= day <= schedule.last:
        return Reason.OUTSIDE_PERIOD
    if day.weekday() not in schedule.weekdays:
        return Reason.NOT_AN_OPENING_WEEKDAY
    if day in schedule.closed_dates:
        return Reason.AD_HOC_CLOSURE
    if calendar.public_holiday(day) is not None:
        return Reason.PUBLIC_HOLIDAY
    in_holidays = calendar.school_holiday(day) is not None
    if schedule.opens_during is OpensDuring.SCHOOL_TERM and in_holidays:
        return Reason.SCHOOL_HOLIDAY
    if schedule.opens_during is OpensDuring.SCHOOL_HOLIDAYS and not in_holidays:
        return Reason.SCHOOL_TERM
    return None


def opening_dates(schedule: Schedule, calendar: CommuneCalendar,
                  first: dt.date | None = None, last: dt.date | None = None) -> list[dt.date]:
    """The séances of `schedule`, optionally limited to [first, last]."""
    first = max(schedule.first, first or schedule.first)
    last = min(schedule.last, last or schedule.last)
    return [day for day in days_between(first, last) if closure_reason(schedule, calendar, day) is None]
