"""Gap-free document numbers: F-2026-09-0000123 (invoice), A-… (credit note), P-… (payment).

- Three separate series per commune and year: invoices (F, facture), credit notes (A, avoir) and
  payments (P). The counter restarts at 1 each year and runs without gaps within a series.
- The year-month in the number is the invoicing month (for a payment: the month it was
  received). The counter's year is that same year, so the invoices of December 2026, published
  in January 2027, still take numbers of the 2026 series.
- Numbers are given at finalisation only (drafts have none), so an abandoned draft never burns
  a number. The adapter allocates the next counter under a row lock on the series row
  (commune, kind, year) in the same transaction as the document it numbers: a rolled-back
  transaction gives its number back, two concurrent finalisations wait for each other.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from typing import Iterable, Mapping

from .calendar import Month

COUNTER_DIGITS = 7
MAX_COUNTER = 10**COUNTER_DIGITS - 1
_PATTERN = re.compile(r"^([FAP])-(\d{4})-(\d{2})-(\d{7})$")


class NumberingError(ValueError):
    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class Series(StrEnum):
    INVOICE = "F"
    CREDIT_NOTE = "A"
    PAYMENT = "P"


@dataclass(frozen=True, slots=True)
class SeriesKey:
    """The row the adapter locks to allocate the next number."""

    commune_id: str
    series: Series
    year: int


@dataclass(frozen=True, slots=True, order=True)
class DocumentNumber:
    series: Series
    month: Month
    counter: int

    def __post_init__(self):
        if not 1 <= self.counter <= MAX_COUNTER:
            raise NumberingError(f"Numéro hors limites : {self.counter}.")

    def __str__(self) -> str:
        return f"{self.series.value}-{self.month.year:04d}-{self.month.month:02d}-{self.counter:0{COUNTER_DIGITS}d}"

    def series_key(self, commune_id: str) -> SeriesKey:
        return SeriesKey(commune_id, self.series, self.month.year)


def series_key(commune_id: str, series: Series, month: Month) -> SeriesKey:
    return SeriesKey(commune_id, series, month.year)


def next_number(series: Series, month: Month, last_counter: int | None) -> DocumentNumber:
    """The number after `last_counter` (None or 0: the series' first number this year).

    `last_counter` is the counter stored on the locked series row for `month.year`.
    """
    counter = (last_counter or 0) + 1
    if counter > MAX_COUNTER:
        raise NumberingError(f"La série {series.value} de {month.year} est épuisée.")
    return DocumentNumber(series, month, counter)


def number_in_order(series: Series, month: Month, last_counter: int | None, count: int) -> list[DocumentNumber]:
    """`count` consecutive numbers after `last_counter`, for documents finalised together in their order."""
    first = next_number(series, month, last_counter).counter
    if first + count - 1 > MAX_COUNTER:
        raise NumberingError(f"La série {series.value} de {month.year} est épuisée.")
    return [DocumentNumber(series, month, first + i) for i in range(count)]


def number_in_sequence(documents: Iterable[tuple[Series, Month]], last_counters: Mapping[tuple[Series, int], int]
                       ) -> tuple[list[DocumentNumber], dict[tuple[Series, int], int]]:
    """Numbers for documents finalised together, in their order, each in its own series and year.

    `last_counters` holds the locked series rows' counters by (series, year) (missing: none yet);
    returns the numbers and the new last counters to store.
    """
    counters = dict(last_counters)
    numbers = []
    for series, month in documents:
        number = next_number(series, month, counters.get((series, month.year)))
        counters[(series, month.year)] = number.counter
        numbers.append(number)
    return numbers, counters


def parse_number(text: str) -> DocumentNumber:
    match = _PATTERN.match(text.strip())
    if not match:
        raise NumberingError(f"Numéro de document invalide : {text!r} (attendu par exemple F-2026-09-0000123).")
    letter, year, month, counter = match.groups()
    try:
        return DocumentNumber(Series(letter), Month(int(year), int(month)), int(counter))
    except ValueError as error:
        raise NumberingError(f"Numéro de document invalide : {text!r}.") from error


@dataclass(frozen=True)
class SeriesAudit:
    missing: tuple[int, ...]
    duplicates: tuple[int, ...]

    @property
    def ok(self) -> bool:
        return not self.missing and not self.duplicates


def audit_series(numbers: Iterable[DocumentNumber | str]) -> dict[tuple[Series, int], SeriesAudit]:
    """Gaps and duplicates per (series, year) among the numbers of one commune (for checks and tests)."""
    counters: dict[tuple[Series, int], list[int]] = {}
    for number in numbers:
        parsed = parse_number(number) if isinstance(number, str) else number
        counters.setdefault((parsed.series, parsed.month.year), []).append(parsed.counter)
    audits = {}
    for key, values in counters.items():
        seen = Counter(values)
        present = set(seen)
        duplicates = sorted(v for v, n in seen.items() if n > 1)
        missing = sorted(set(range(1, max(present) + 1)) - present)
        audits[key] = SeriesAudit(tuple(missing), tuple(duplicates))
    return audits
