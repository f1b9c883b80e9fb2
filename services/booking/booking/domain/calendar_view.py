"""What the month calendar shows for each date of one child and prestation.

Each day carries its state in words, why it is closed, whether the parent can book or cancel it
now, and the deadline that applies (shown next to every bookable date: unclear rules are
parents' second complaint). The price is billing's: the view gives the prestation's `price_ref`.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .capacity import Occupancy
from .cart import CartLine
from .catalogue import Prestation
from .closures import CommuneCalendar
from .deadlines import deadline_for
from .eligibility import line_refusal
from .enrolment import Enrolment, is_enrolled
from .facts import Attendance, BookingStatus
from .openings import closure_reason, days_between
from .policy import Action, booking_opens_at, refusal
from .reasons import Reason
from .states import DateState, date_state


@dataclass(frozen=True)
class DayView:
    day: dt.date
    state: DateState
    closure: Reason | None  # why the date is closed, for "Fermé : jour férié"
    can_book: bool  # a booking line would be accepted (or waiting-listed) now
    can_cancel: bool
    booking_deadline: dt.datetime | None  # shown while the date can still be booked
    cancellation_deadline: dt.datetime | None  # shown while a booked date can still be cancelled
    places_left: int | None
    price_ref: str
    booking_opens_at: dt.datetime | None = None  # when a "not yet open" date opens

    @property
    def label(self) -> str:
        return f"{self.state.label} : {self.closure.label}" if self.closure else self.state.label


def day_views(prestation: Prestation, calendar: CommuneCalendar, child_id: str, enrolments: Iterable[Enrolment],
              first: dt.date, last: dt.date, bookings: Mapping[dt.date, BookingStatus],
              attendance: Mapping[dt.date, Attendance], occupancy: Mapping[dt.date, Occupancy],
              now: dt.datetime, resident: bool = True) -> list[DayView]:
    """One `DayView` per date from `first` to `last` (closed dates included, with their reason)."""
    enrolments = tuple(enrolments)
    return [_day(prestation, calendar, child_id, enrolments, day, bookings.get(day), attendance.get(day),
                 occupancy.get(day, Occupancy(prestation.capacity)), now, resident)
            for day in days_between(first, last)]


def _day(prestation, calendar, child_id, enrolments, day, status, attended, occupancy, now, resident) -> DayView:
    closure = closure_reason(prestation.schedule, calendar, day)
    if closure is not None:
        return DayView(day, date_state(closure=closure, booking=status, attendance=attended, booking_refusal=None,
                                       places_left=None), closure, False, False, None, None, None, prestation.price_ref)
    policy, starts = prestation.policy, prestation.starts_at
    book_refusal = refusal(policy, Action.BOOK, day, now, calendar, starts, resident=resident)
    state = date_state(closure=None, booking=status, attendance=attended, booking_refusal=book_refusal,
                       places_left=occupancy.places_left,
                       enrolled=is_enrolled(enrolments, child_id, prestation.service_id, day))

    def allowed(action: Action) -> bool:
        line = CartLine(child_id, prestation.id, day, action)
        return line_refusal(line, prestation, calendar, enrolments, status, now, resident=resident) is None

    can_book = attended is None and allowed(Action.BOOK) and (occupancy.has_room or prestation.waiting_list)
    can_cancel = attended is None and allowed(Action.CANCEL)
    return DayView(
        day, state, None, can_book, can_cancel,
        booking_deadline=deadline_for(policy.booking_deadline, day, calendar, starts) if can_book else None,
        cancellation_deadline=(deadline_for(policy.cancellation_deadline, day, calendar, starts)
                               if can_cancel and status is BookingStatus.CONFIRMED else None),
        places_left=occupancy.places_left, price_ref=prestation.price_ref,
        booking_opens_at=(booking_opens_at(policy, day, resident) if state is DateState.NOT_YET_OPEN else None))
