import pytest

from booking.domain.cancellations import (NotAwaitingDecision, RefundDecision, accept_cancellation, refund_for,
                                          refuse_cancellation)
from booking.domain.capacity import Occupancy
from booking.domain.catalogue import PaymentMode, prestation_problems
from booking.domain.facts import BookingStatus


def test_accepting_frees_the_place_and_refusing_keeps_the_booking():
    status, occupancy = accept_cancellation(BookingStatus.CANCELLATION_REQUESTED, Occupancy(10, confirmed=10))
    assert status is BookingStatus.CANCELLED and occupancy.places_left == 1
    assert refuse_cancellation(BookingStatus.CANCELLATION_REQUESTED) is BookingStatus.CONFIRMED


@pytest.mark.parametrize("status", [None, BookingStatus.CONFIRMED, BookingStatus.CANCELLED, BookingStatus.WAITING])
def test_only_a_pending_request_can_be_decided(status):
    with pytest.raises(NotAwaitingDecision, match="Aucune demande"):
        accept_cancellation(status, Occupancy(10, confirmed=1))
    with pytest.raises(NotAwaitingDecision):
        refuse_cancellation(status)


def test_refund_follows_the_payment_mode_and_the_service_rule_unless_the_agent_decides(prestation):
    assert refund_for(prestation()) is RefundDecision.NOT_INVOICED  # end of month: nothing was paid
    assert refund_for(prestation(), RefundDecision.REFUND) is RefundDecision.NOT_INVOICED
    prepaid = prestation(payment_mode=PaymentMode.PREPAID)
    assert refund_for(prepaid) is RefundDecision.CREDIT
    assert refund_for(prepaid, RefundDecision.NONE) is RefundDecision.NONE
    assert refund_for(prestation(payment_mode=PaymentMode.PREPAID, refund_on_cancellation=RefundDecision.REFUND)) \
        is RefundDecision.REFUND
    assert "fin de mois" in prestation_problems(prestation(refund_on_cancellation=RefundDecision.NOT_INVOICED))[0]
