"""A commune's calendar: French public holidays and the school holidays of its zone.

Public holidays come from the `holidays` package (metropolitan France), school holidays from
`vacances-scolaires-france` (official dates, shipped with the package, no network). Both are
read once per year/process and kept in memory.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache

import holidays
from vacances_scolaires_france import SchoolHolidayDates

ZONES = ("A", "B", "C")
MONDAY_TO_FRIDAY = frozenset(range(5))


class CalendarDataMissing(ValueError):
    """The packaged school-holiday data does not cover the date asked about."""

    def __init__(self, day: dt.date):
        super().__init__(f"Calendrier des vacances scolaires indisponible pour le {day:%d/%m/%Y}")
        self.day = day


@dataclass(frozen=True)
class HolidayPeriod:
    first: dt.date  # first day off (usually the Saturday classes end)
    last: dt.date
    name: str  # "Vacances de la Toussaint", ...


@cache
def _public_holidays(year: int) -> dict[dt.date, str]:
    return dict(holidays.country_holidays("FR", years=year, language="fr"))


@cache
def _school_holidays() -> SchoolHolidayDates:
    return SchoolHolidayDates()


def load_calendars(today: dt.date) -> None:
    """Read the holiday data a booking of the coming months needs now, not on the first parent's
    request (the first loading costs tens of milliseconds per process)."""
    _school_holidays()
    for year in (today.year, today.year + 1):
        _public_holidays(year)


@dataclass(frozen=True)
class CommuneCalendar:
    """The closures every service of a commune shares.

    `school_weekdays`: days with classes (many communes run a four-day week without Wednesday);
    they are what "N school days before" counts.
    """

    zone: str
    school_weekdays: frozenset[int] = MONDAY_TO_FRIDAY

    def __post_init__(self):
        if self.zone not in ZONES:
            raise ValueError(f"Zone de vacances scolaires inconnue : {self.zone!r} (A, B ou C)")

    def public_holiday(self, day: dt.date) -> str | None:
        return _public_holidays(day.year).get(day)

    def school_holiday(self, day: dt.date) -> str | None:
        data = _school_holidays()
        if not data.min_year <= day.year <= data.max_year:
            raise CalendarDataMissing(day)
        row = data.data.get(day)
        if row and row[data.zone_key(self.zone)]:
            return row["nom_vacances"]
        return None

    def is_working_day(self, day: dt.date) -> bool:
        return day.weekday() < 5 and self.public_holiday(day) is None

    def is_school_day(self, day: dt.date) -> bool:
        return (day.weekday() in self.school_weekdays and self.public_holiday(day) is None
                and self.school_holiday(day) is None)

    def holiday_period(self, day: dt.date) -> HolidayPeriod | None:
        """The school-holiday period of this zone that contains `day`, if any."""
        name = self.school_holiday(day)
        if name is None:
            return None
        first = last = day
        while self._same_holiday(first - dt.timedelta(days=1), name):
            first -= dt.timedelta(days=1)
        while self._same_holiday(last + dt.timedelta(days=1), name):
            last += dt.timedelta(days=1)
        return HolidayPeriod(first, last, name)

    def _same_holiday(self, day: dt.date, name: str) -> bool:
        try:
            return self.school_holiday(day) == name
        except CalendarDataMissing:
            return False
