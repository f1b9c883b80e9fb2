"""The period view: a weekly pattern over a date range becomes cart lines in one action.

"Every Monday, Tuesday, Thursday and Friday from 1 September to 18 October" → one line per
opening date, and for every other date of the pattern the reason it was skipped (holiday, past
deadline, already booked…), so the parent sees exactly what the action did. Fixed-day
enrolments ("jours fixes") are the same plan over the whole enrolment.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from .cart import CartLine
from .catalogue import Prestation
from .closures import CommuneCalendar
from .eligibility import line_refusal
from .enrolment import Enrolment
from .facts import BookingStatus
from .openings import days_between
from .policy import Action
from .reasons import Reason


@dataclass(frozen=True)
class PeriodRequest:
    child_id: str
    weekdays: frozenset[int]
    first: dt.date
    last: dt.date
    action: Action = Action.BOOK

    def __post_init__(self):
        if self.last < self.first:
            raise ValueError("La fin de la période précède son début")
        if not self.weekdays or not self.weekdays <= set(range(7)):
            raise ValueError("Choisissez au moins un jour de la semaine")


@dataclass(frozen=True)
class Skipped:
    day: dt.date
    reason: Reason


@dataclass(frozen=True)
class PeriodPlan:
    lines: tuple[CartLine, ...]
    skipped: tuple[Skipped, ...]


def plan_period(request: PeriodRequest, prestation: Prestation, calendar: CommuneCalendar,
                enrolments: tuple[Enrolment, ...], bookings: Mapping[dt.date, BookingStatus],
                now: dt.datetime) -> PeriodPlan:
    """Lines for every date of the pattern that can be booked (or cancelled) now, places aside
    (the cart decides those at validation). `bookings`: the child's status per date."""
    lines, skipped = [], []
    for day in days_between(request.first, request.last):
        if day.weekday() not in request.weekdays:
            continue
        line = CartLine(request.child_id, prestation.id, day, request.action)
        reason = line_refusal(line, prestation, calendar, enrolments, bookings.get(day), now)
        if reason is None:
            lines.append(line)
        else:
            skipped.append(Skipped(day, reason))
    return PeriodPlan(tuple(lines), tuple(skipped))


def fixed_days_plan(enrolment: Enrolment, prestation: Prestation, calendar: CommuneCalendar,
                    bookings: Mapping[dt.date, BookingStatus], now: dt.datetime) -> PeriodPlan:
    """Book the enrolment's fixed weekdays over the whole enrolment in one action."""
    if not enrolment.fixed_weekdays:
        return PeriodPlan((), ())
    request = PeriodRequest(enrolment.child_id, enrolment.fixed_weekdays, enrolment.first, enrolment.last)
    return plan_period(request, prestation, calendar, (enrolment,), bookings, now)
