"""May this line (child, prestation, date, book or cancel) go through, places aside? One answer,
used by the cart's validation and by the period view alike."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from .cart import CartLine
from .catalogue import Prestation
from .closures import CommuneCalendar
from .enrolment import Enrolment, is_enrolled
from .facts import BookingStatus
from .openings import closure_reason
from .policy import Action, refusal
from .reasons import Reason

#: Booked in some form: booking the date again is refused.
ACTIVE = frozenset({BookingStatus.CONFIRMED, BookingStatus.HELD, BookingStatus.PENDING_AGENT,
                    BookingStatus.WAITING, BookingStatus.CANCELLATION_REQUESTED})
#: Cancelling these means leaving the waiting list: no deadline applies.
ON_WAITING_LIST = frozenset({BookingStatus.WAITING, BookingStatus.PENDING_AGENT})


def line_refusal(line: CartLine, prestation: Prestation, calendar: CommuneCalendar,
                 enrolments: Iterable[Enrolment], status: BookingStatus | None, now: dt.datetime, *,
                 resident: bool = True, deadline_waived: bool = False) -> Reason | None:
    """Why `line` cannot go through, capacity aside; None if it can.

    `status`: the child's current booking status for this prestation and date.
    """
    closed = closure_reason(prestation.schedule, calendar, line.session_date)
    if closed is not None:
        return closed
    if line.action is Action.CANCEL:
        if status in ON_WAITING_LIST:
            return None
        if status is BookingStatus.CANCELLATION_REQUESTED:
            return Reason.CANCELLATION_ALREADY_REQUESTED
        if status is not BookingStatus.CONFIRMED:
            return Reason.NOT_BOOKED
    else:
        if not is_enrolled(enrolments, line.child_id, prestation.service_id, line.session_date):
            return Reason.NOT_ENROLLED
        if status in ACTIVE:
            return Reason.ALREADY_BOOKED
    return refusal(prestation.policy, line.action, line.session_date, now, calendar, prestation.starts_at,
                   resident=resident, deadline_waived=deadline_waived)
