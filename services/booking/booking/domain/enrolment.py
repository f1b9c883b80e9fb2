"""Enrolment (inscription) of a child in a service for a period, with optional fixed weekdays."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Enrolment:
    child_id: str
    service_id: str
    first: dt.date
    last: dt.date
    fixed_weekdays: frozenset[int] = field(default_factory=frozenset)  # "jours fixes", booked in one action

    def __post_init__(self):
        if self.last < self.first:
            raise ValueError("La fin de l'inscription précède son début")
        if not self.fixed_weekdays <= set(range(7)):
            raise ValueError("Jours fixes invalides (0 = lundi … 6 = dimanche)")

    def covers(self, child_id: str, service_id: str, day: dt.date) -> bool:
        return (self.child_id == child_id and self.service_id == service_id
                and self.first <= day <= self.last)


def is_enrolled(enrolments: Iterable[Enrolment], child_id: str, service_id: str, day: dt.date) -> bool:
    return any(e.covers(child_id, service_id, day) for e in enrolments)
