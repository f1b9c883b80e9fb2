"""The demo family's past (development only): the same facts for booking's and billing's
`seed-demo --with-history`, so that billing knows them before booking's events arrive, and those
events, arriving later, find exactly the rows billing's seed wrote (same ids, same moments).

From the start of the 2026-2027 school year to the end of last month (never later than the year's
end): Léa (CE2) eats at the canteen every school day, Hugo stays at the evening care on Tuesdays
and Thursdays; both are marked present except a few absences (one justified). Booked by an agent
(fixed days) a few days before the rentrée, marked by the staff the evening of each day.

Not an event: no payload model here. booking's tests check that `SCHOOL_DAYS_CLOSED` agrees with
its own calendar (zone B, public holidays) and the ids with its seed's.
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

COMMUNE = "heillecourt"
FAMILY_ID = "00000000-0000-4000-8000-00000000f001"
LEA = "00000000-0000-4000-8000-00000000c001"
HUGO = "00000000-0000-4000-8000-00000000c002"
SCHOOL_YEAR = (dt.date(2026, 9, 1), dt.date(2027, 7, 2))
SCHOOL_WEEKDAYS = frozenset({0, 1, 3, 4})  # four-day week: no class on Wednesday
# Weekdays without class in 2026-2027, zone B (school holidays and public holidays on school days).
SCHOOL_DAYS_CLOSED = (
    (dt.date(2026, 10, 19), dt.date(2026, 10, 30)), (dt.date(2026, 12, 21), dt.date(2027, 1, 1)),
    (dt.date(2027, 2, 22), dt.date(2027, 3, 5)), (dt.date(2027, 3, 29), dt.date(2027, 3, 29)),
    (dt.date(2027, 4, 19), dt.date(2027, 4, 30)), (dt.date(2027, 5, 6), dt.date(2027, 5, 7)),
    (dt.date(2027, 5, 17), dt.date(2027, 5, 17)),
)
# booking's seed: prestation ids are uuid5(BOOKING_NAMESPACE, "<commune>:prestation:<code>")
BOOKING_NAMESPACE = uuid.UUID("5b0c6f58-3a4e-4d2b-9a51-3f7d0e2c1b10")
# (child, prestation code, price_ref, weekdays)
HABITS = (
    (LEA, "cantine-repas", "CANTINE-REPAS", SCHOOL_WEEKDAYS),
    (HUGO, "peri-soir", "PERI-SOIR", frozenset({1, 3})),
)
ABSENCES = {  # (child, date) -> status; the other days are "present"
    (HUGO, dt.date(2026, 9, 22)): "absent_unjustified",
    (LEA, dt.date(2026, 10, 9)): "absent_unjustified",
    (LEA, dt.date(2026, 11, 17)): "absent_justified",
    (LEA, dt.date(2026, 11, 19)): "absent_justified",
}
BOOKED_AT = dt.datetime(2026, 8, 28, 8, 0, tzinfo=dt.timezone.utc)  # Friday before the rentrée, 10:00 in Paris
MARKED_AT = dt.time(17, 0)  # UTC, the evening of the day


@dataclass(frozen=True)
class PastDay:
    child_id: str
    prestation_code: str
    prestation_id: str
    price_ref: str
    day: dt.date
    status: str  # attendance: present | absent_justified | absent_unjustified
    booking_id: str
    booked_at: dt.datetime
    marked_at: dt.datetime


def prestation_id(code: str, commune: str = COMMUNE) -> str:
    return str(uuid.uuid5(BOOKING_NAMESPACE, f"{commune}:prestation:{code}"))


def booking_id(child_id: str, code: str, day: dt.date) -> str:
    return str(uuid.uuid5(BOOKING_NAMESPACE, f"{COMMUNE}:history-booking:{child_id}:{code}:{day.isoformat()}"))


def is_school_day(day: dt.date) -> bool:
    return (SCHOOL_YEAR[0] <= day <= SCHOOL_YEAR[1] and day.weekday() in SCHOOL_WEEKDAYS
            and not any(first <= day <= last for first, last in SCHOOL_DAYS_CLOSED))


def history_end(today: dt.date) -> dt.date | None:
    """The last day of the history: the end of last month, within the school year; None before it."""
    end = min(today.replace(day=1) - dt.timedelta(days=1), SCHOOL_YEAR[1])
    return end if end >= SCHOOL_YEAR[0] else None


def past_months(today: dt.date) -> list[str]:
    """The months of the history ("2026-09", ...), oldest first."""
    end, months = history_end(today), []
    day = SCHOOL_YEAR[0].replace(day=1)
    while end is not None and day <= end:
        months.append(f"{day.year:04d}-{day.month:02d}")
        day = (day + dt.timedelta(days=32)).replace(day=1)
    return months


def past_days(today: dt.date) -> list[PastDay]:
    """Every booked and marked day of the history, by date then child."""
    end = history_end(today)
    if end is None:
        return []
    days, day = [], SCHOOL_YEAR[0]
    while day <= end:
        if is_school_day(day):
            for child_id, code, price_ref, weekdays in HABITS:
                if day.weekday() in weekdays:
                    days.append(PastDay(child_id, code, prestation_id(code), price_ref, day,
                                        ABSENCES.get((child_id, day), "present"), booking_id(child_id, code, day),
                                        BOOKED_AT, dt.datetime.combine(day, MARKED_AT, dt.timezone.utc)))
        day += dt.timedelta(days=1)
    return days
