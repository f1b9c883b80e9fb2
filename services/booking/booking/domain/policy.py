"""When a séance may be booked or cancelled: deadlines, maximum horizon, opening windows.

`refusal()` is the single answer to "can this parent book / cancel this date now, and if not,
why?". Places (capacity) and enrolment are checked by the cart, opening dates by `openings`.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import Enum

from .closures import CommuneCalendar
from .deadlines import PARIS, DeadlineRule, deadline_for
from .reasons import Reason


class Action(Enum):
    BOOK = "book"
    CANCEL = "cancel"


@dataclass(frozen=True)
class OpeningWindow:
    """Bookings for séances between `first` and `last` open at `opens_at` (residents may open earlier)."""
    first: dt.date
    last: dt.date
    opens_at: dt.datetime
    residents_open_at: dt.datetime | None = None

    def __post_init__(self):
        for instant in (self.opens_at, self.residents_open_at):
            if instant is not None and instant.tzinfo is None:
                raise ValueError("L'heure d'ouverture des réservations doit préciser son fuseau horaire")

    def opens_for(self, resident: bool) -> dt.datetime:
        if resident and self.residents_open_at is not None:
            return min(self.residents_open_at, self.opens_at)
        return self.opens_at


@dataclass(frozen=True)
class BookingPolicy:
    booking_deadline: DeadlineRule
    cancellation_deadline: DeadlineRule
    horizon_days: int | None = None  # bookable at most this many days ahead (8 weeks = 56)
    windows: tuple[OpeningWindow, ...] = ()


def booking_opens_at(policy: BookingPolicy, session_date: dt.date, resident: bool = True) -> dt.datetime | None:
    """When bookings for this séance open, if an opening window or the horizon says so."""
    candidates = [w.opens_for(resident) for w in policy.windows if w.first <= session_date <= w.last]
    if policy.horizon_days is not None:
        candidates.append(dt.datetime.combine(session_date - dt.timedelta(days=policy.horizon_days),
                                              dt.time(0), tzinfo=PARIS))
    return max(candidates, default=None)


def refusal(policy: BookingPolicy, action: Action, session_date: dt.date, now: dt.datetime,
            calendar: CommuneCalendar, starts_at: dt.time | None = None, *,
            resident: bool = True, deadline_waived: bool = False) -> Reason | None:
    """None when `action` on the séance of `session_date` is allowed at `now`, otherwise why not.

    `deadline_waived`: an agent overrode the deadline for this family (the override and its
    reason are recorded by the caller); the horizon and opening windows still apply to bookings.
    """
    if now.tzinfo is None:
        raise ValueError("`now` must be timezone-aware")
    if action is Action.BOOK:
        for window in policy.windows:
            if window.first <= session_date <= window.last and now < window.opens_for(resident):
                return Reason.NOT_YET_OPEN
        if policy.horizon_days is not None:
            today = now.astimezone(PARIS).date()
            if session_date > today + dt.timedelta(days=policy.horizon_days):
                return Reason.BEYOND_HORIZON
        rule, late = policy.booking_deadline, Reason.BOOKING_DEADLINE_PASSED
    else:
        rule, late = policy.cancellation_deadline, Reason.CANCELLATION_DEADLINE_PASSED
    if not deadline_waived and now >= deadline_for(rule, session_date, calendar, starts_at):
        return late
    return None
