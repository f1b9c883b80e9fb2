"""An agent's decision on a cancellation request, and what is refunded.

A cancellation the service does not accept automatically waits (`CANCELLATION_REQUESTED`, the
place still taken) until an agent accepts it — freeing the place for the waiting list — or
refuses it with a message. What is given back depends on how the date was paid: an end-of-month
date simply will not be invoiced; a prepaid one is refunded or credited (avoir) as the service's
rule says, unless the agent decides otherwise (e.g. no medical certificate).
"""
from __future__ import annotations

from .capacity import Occupancy
from .catalogue import PaymentMode, Prestation, RefundDecision
from .facts import BookingStatus

# RefundDecision is a prestation's rule (catalogue); re-exported for callers of this module.
__all__ = ["RefundDecision", "NotAwaitingDecision", "refund_for", "accept_cancellation", "refuse_cancellation"]


class NotAwaitingDecision(ValueError):
    def __init__(self, status: BookingStatus | None):
        super().__init__("Aucune demande d'annulation en attente pour cette date")
        self.status = status


def refund_for(prestation: Prestation, agent_choice: RefundDecision | None = None) -> RefundDecision:
    if prestation.payment_mode is PaymentMode.END_OF_MONTH:
        return RefundDecision.NOT_INVOICED
    return agent_choice or prestation.refund_on_cancellation


def accept_cancellation(status: BookingStatus | None, occupancy: Occupancy) -> tuple[BookingStatus, Occupancy]:
    """The booking becomes cancelled and its place is freed (promote the waiting list next)."""
    if status is not BookingStatus.CANCELLATION_REQUESTED:
        raise NotAwaitingDecision(status)
    return BookingStatus.CANCELLED, occupancy.release_confirmed()


def refuse_cancellation(status: BookingStatus | None) -> BookingStatus:
    """The booking stands (the agent's message goes to the parent)."""
    if status is not BookingStatus.CANCELLATION_REQUESTED:
        raise NotAwaitingDecision(status)
    return BookingStatus.CONFIRMED
