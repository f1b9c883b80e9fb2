"""The state of one date shown to parents, in words (never only a colour).

`date_state` derives it from the facts, in this order: what happened (attendance) beats what
was booked, which beats whether the date is open and bookable now.
"""
from __future__ import annotations

from enum import Enum

from .facts import Attendance, BookingStatus
from .reasons import Reason


class DateState(Enum):
    PRESENT = ("present", "Présent")
    ABSENT_JUSTIFIED = ("absent_justified", "Absent (absence justifiée)")
    ABSENT_UNJUSTIFIED = ("absent_unjustified", "Absent (absence non justifiée)")
    CLOSED = ("closed", "Fermé")
    BOOKED = ("booked", "Réservé")
    AWAITING_PAYMENT = ("awaiting_payment", "Réservé, en attente de paiement")
    AWAITING_CONFIRMATION = ("awaiting_confirmation", "Place proposée, en attente de confirmation")
    WAITING_LIST = ("waiting_list", "Sur liste d'attente")
    CANCELLATION_REQUESTED = ("cancellation_requested", "Annulation demandée")
    CANCELLED = ("cancelled", "Annulé")
    PAST_DEADLINE = ("past_deadline", "Délai dépassé")
    NOT_YET_OPEN = ("not_yet_open", "Pas encore ouvert à la réservation")
    NOT_ENROLLED = ("not_enrolled", "Non inscrit à cette date")
    FULL = ("full", "Complet")
    BOOKABLE = ("bookable", "Réservable")

    def __init__(self, code: str, label: str):
        self.code = code
        self.label = label


_ATTENDANCE = {
    Attendance.PRESENT: DateState.PRESENT,
    Attendance.ABSENT_JUSTIFIED: DateState.ABSENT_JUSTIFIED,
    Attendance.ABSENT_UNJUSTIFIED: DateState.ABSENT_UNJUSTIFIED,
}
_BOOKING = {
    BookingStatus.CONFIRMED: DateState.BOOKED,
    BookingStatus.HELD: DateState.AWAITING_PAYMENT,
    BookingStatus.PENDING_AGENT: DateState.AWAITING_CONFIRMATION,
    BookingStatus.WAITING: DateState.WAITING_LIST,
    BookingStatus.CANCELLATION_REQUESTED: DateState.CANCELLATION_REQUESTED,
}
_NOT_BOOKABLE = {
    Reason.BOOKING_DEADLINE_PASSED: DateState.PAST_DEADLINE,
    Reason.BEYOND_HORIZON: DateState.NOT_YET_OPEN,
    Reason.NOT_YET_OPEN: DateState.NOT_YET_OPEN,
}


def date_state(*, closure: Reason | None, booking: BookingStatus | None, attendance: Attendance | None,
               booking_refusal: Reason | None, places_left: int | None, enrolled: bool = True) -> DateState:
    """The state of one child's date for one prestation.

    closure: why the date is not an opening date (`openings.closure_reason`), None if open;
    booking: the child's booking status for the date, if any;
    attendance: what the staff recorded, if anything (a presence without booking shows too);
    booking_refusal: `policy.refusal(..., Action.BOOK, ...)` at the instant shown;
    places_left: `Occupancy.places_left` (None: unlimited);
    enrolled: whether the child's enrolment in the service covers the date.
    """
    if attendance is not None:
        return _ATTENDANCE[attendance]
    if closure is not None:
        return DateState.CLOSED
    if booking in _BOOKING:
        return _BOOKING[booking]
    if not enrolled:
        return DateState.NOT_ENROLLED
    bookable = booking_refusal is None and places_left != 0
    if booking is BookingStatus.CANCELLED and not bookable:
        return DateState.CANCELLED  # a cancelled date that can be booked again shows as bookable
    if booking_refusal is not None:
        state = _NOT_BOOKABLE.get(booking_refusal)
        if state is None:
            raise ValueError(f"Not a booking-time refusal: {booking_refusal}")
        return state
    if places_left == 0:
        return DateState.FULL
    return DateState.BOOKABLE
