import pytest
from hypothesis import given, strategies as st

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

BOOKING_TIME_REFUSALS = [Reason.BOOKING_DEADLINE_PASSED, Reason.BEYOND_HORIZON, Reason.NOT_YET_OPEN]


@given(closure=st.none() | st.sampled_from([Reason.PUBLIC_HOLIDAY, Reason.SCHOOL_HOLIDAY, Reason.AD_HOC_CLOSURE]),
       booking=st.none() | st.sampled_from(BookingStatus), attendance=st.none() | st.sampled_from(Attendance),
       booking_refusal=st.none() | st.sampled_from(BOOKING_TIME_REFUSALS),
       places_left=st.none() | st.integers(0, 3), enrolled=st.booleans())
def test_a_date_is_shown_bookable_only_when_it_really_is(closure, booking, attendance, booking_refusal, places_left,
                                                         enrolled):
    shown = date_state(closure=closure, booking=booking, attendance=attendance, booking_refusal=booking_refusal,
                       places_left=places_left, enrolled=enrolled)
    if shown is DateState.BOOKABLE:
        assert closure is None and attendance is None and booking_refusal is None and places_left != 0 and enrolled
        assert booking in (None, BookingStatus.CANCELLED)
    if attendance is not None:
        assert shown.code == attendance.value
