import pytest

from booking.domain.facts import Attendance, BookingStatus
from booking.domain.reasons import Reason
from booking.domain.states import DateState, date_state


def state(closure=None, booking=None, attendance=None, booking_refusal=None, places_left=None):
    return date_state(closure=closure, booking=booking, attendance=attendance, booking_refusal=booking_refusal,
                      places_left=places_left)


@pytest.mark.parametrize("facts, expected", [
    ({}, DateState.BOOKABLE),
    ({"places_left": 3}, DateState.BOOKABLE),
    ({"places_left": 0}, DateState.FULL),
    ({"closure": Reason.PUBLIC_HOLIDAY}, DateState.CLOSED),
    ({"booking_refusal": Reason.BOOKING_DEADLINE_PASSED}, DateState.PAST_DEADLINE),
    ({"booking_refusal": Reason.BEYOND_HORIZON}, DateState.NOT_YET_OPEN),
    ({"booking_refusal": Reason.NOT_YET_OPEN, "places_left": 0}, DateState.NOT_YET_OPEN),
    ({"booking": BookingStatus.CONFIRMED, "places_left": 0}, DateState.BOOKED),
    ({"booking": BookingStatus.CONFIRMED, "booking_refusal": Reason.BOOKING_DEADLINE_PASSED}, DateState.BOOKED),
    ({"booking": BookingStatus.HELD}, DateState.AWAITING_PAYMENT),
    ({"booking": BookingStatus.PENDING_AGENT}, DateState.AWAITING_CONFIRMATION),
    ({"booking": BookingStatus.WAITING, "places_left": 0}, DateState.WAITING_LIST),
    ({"booking": BookingStatus.CANCELLATION_REQUESTED}, DateState.CANCELLATION_REQUESTED),
    ({"booking": BookingStatus.CANCELLED, "booking_refusal": Reason.BOOKING_DEADLINE_PASSED}, DateState.CANCELLED),
    ({"booking": BookingStatus.CANCELLED, "places_left": 0}, DateState.CANCELLED),
    ({"booking": BookingStatus.CANCELLED, "places_left": 2}, DateState.BOOKABLE),  # may be booked again
    ({"booking": BookingStatus.CONFIRMED, "attendance": Attendance.PRESENT}, DateState.PRESENT),
    ({"attendance": Attendance.PRESENT, "booking_refusal": Reason.BOOKING_DEADLINE_PASSED}, DateState.PRESENT),
    ({"booking": BookingStatus.CONFIRMED, "attendance": Attendance.ABSENT_JUSTIFIED}, DateState.ABSENT_JUSTIFIED),
    ({"booking": BookingStatus.CONFIRMED, "attendance": Attendance.ABSENT_UNJUSTIFIED},
     DateState.ABSENT_UNJUSTIFIED),
    ({"booking": BookingStatus.CONFIRMED, "closure": Reason.AD_HOC_CLOSURE}, DateState.CLOSED),
])
def test_date_state_from_the_facts(facts, expected):
    assert state(**facts) is expected


def test_every_state_has_a_french_label_in_words():
    labels = [s.label for s in DateState]
    assert len(set(labels)) == len(labels)
    assert DateState.FULL.label == "Complet" and DateState.PAST_DEADLINE.label == "Délai dépassé"


def test_a_refusal_that_is_not_about_booking_time_is_a_programming_error():
    with pytest.raises(ValueError):
        state(booking_refusal=Reason.FULL)
