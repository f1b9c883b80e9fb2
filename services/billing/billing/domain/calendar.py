"""Invoicing months and French date wording (what invoices show; no locale needed)."""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

MONTH_NAMES = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
               "octobre", "novembre", "décembre")
DAY_NAMES = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")


@dataclass(frozen=True, slots=True, order=True)
class Month:
    year: int
    month: int

    def __post_init__(self):
        if not 1 <= self.month <= 12 or not 2000 <= self.year <= 9999:
            raise ValueError(f"Mois invalide : {self.year}-{self.month:02d}.")

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    @classmethod
    def parse(cls, text: str) -> Month:
        """'2026-09' -> Month(2026, 9)."""
        try:
            year, month = text.split("-")
            return cls(int(year), int(month))
        except ValueError:
            raise ValueError(f"Mois invalide : {text!r} (attendu AAAA-MM).") from None

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    def day(self, day_of_month: int) -> date:
        """That day of this month, clamped to the month's length (31 in February -> 28 or 29)."""
        return date(self.year, self.month, min(day_of_month, self.last_day.day))

    def plus(self, months: int) -> Month:
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)

    def __contains__(self, day: date) -> bool:
        return day.year == self.year and day.month == self.month

    def __str__(self) -> str:
        return f"{self.year}-{self.month:02d}"

    @property
    def label(self) -> str:
        return f"{MONTH_NAMES[self.month - 1]} {self.year}"


@lru_cache(maxsize=4096)
def long_date(day: date) -> str:
    """'mardi 15 septembre 2026' (1er for the first of the month, as French writes it)."""
    number = "1er" if day.day == 1 else str(day.day)
    return f"{DAY_NAMES[day.weekday()]} {number} {MONTH_NAMES[day.month - 1]} {day.year}"
