"""Events published by booking on the `booking.events` exchange.

Amounts are never in these events: each line names its `price_ref` and billing prices it
(quotient familial bracket, commune's tariff). Dates are séance dates (Europe/Paris calendar).
"""
from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict

from contracts.envelope import EventPayload

PaymentMode = Literal["prepaid", "end_of_month"]
RefundDecision = Literal["not_invoiced", "refund", "credit", "none"]


class CartLineFact(BaseModel):
    """One line of a validated cart and what became of it."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    child_id: str
    prestation_id: str
    service_id: str
    commune: str
    session_date: dt.date
    action: Literal["book", "cancel"]
    # confirmed, held (prepaid: awaiting payment), waiting_listed, cancelled,
    # cancellation_requested, left_waiting_list, refused
    status: str
    reason: str | None = None        # code of the refusal, when refused
    payment_mode: PaymentMode
    price_ref: str
    booking_id: str | None = None
    # The prestation's label as the parent saw it (e.g. "Repas du midi"). Optional: events
    # published before it was added carry none.
    prestation_label: str | None = None


class CartValidated(EventPayload):
    """A parent validated their cart. Billing starts a payment for the `held` prepaid lines
    (until `hold_expires_at`); end-of-month lines are invoiced at the end of the month."""

    EVENT_TYPE = "cart.validated.v1"
    cart_id: str
    family_id: str
    parent_id: str                   # the parent's public sub
    state: Literal["validated", "awaiting_payment", "open"]
    validated_at: dt.datetime
    hold_expires_at: dt.datetime | None = None
    lines: list[CartLineFact]


class CartAbandoned(EventPayload):
    """A parent gave up paying a cart awaiting payment ("Abandonner ce paiement"): booking has
    released its held places (the cart is failed, or expired if the hold had run out). Billing
    closes the cart's open payment attempt and cancels its receipt; money arriving later for it
    becomes a credit, as after an expired hold."""

    EVENT_TYPE = "cart.abandoned.v1"
    cart_id: str
    family_id: str
    validated_at: dt.datetime        # which validation of the cart (billing's receipt is per validation)
    abandoned_at: dt.datetime


class CartPaidAfterRelease(EventPayload):
    """billing's payment.succeeded.v1 came for a cart whose held places booking had already released
    (its hold expired, its payment was abandoned or failed): the payment bought nothing. Billing
    gives the money back to the family as a credit note (once per receipt)."""

    EVENT_TYPE = "cart.paid_after_release.v1"
    cart_id: str
    family_id: str
    payment_id: str                  # payment.succeeded.v1's payment_id (billing's payment, or credit:<receipt>)
    cart_state: str                  # the cart's state when the payment came: expired, failed or open (reopened)
    received_at: dt.datetime


class BookingConfirmed(EventPayload):
    """A child's date is booked for good (end-of-month line, payment received, waiting list)."""

    EVENT_TYPE = "booking.confirmed.v1"
    booking_id: str
    family_id: str
    child_id: str
    commune: str
    service_id: str
    prestation_id: str
    session_date: dt.date
    payment_mode: PaymentMode
    price_ref: str
    via: Literal["cart", "payment", "waiting_list", "agent"]
    confirmed_at: dt.datetime


class BookingCancelled(EventPayload):
    """A booked date was cancelled; `refund` says what billing owes the family."""

    EVENT_TYPE = "booking.cancelled.v1"
    booking_id: str
    family_id: str
    child_id: str
    commune: str
    service_id: str
    prestation_id: str
    session_date: dt.date
    payment_mode: PaymentMode
    price_ref: str
    refund: RefundDecision
    by: Literal["parent", "agent"]
    cancelled_at: dt.datetime


class AttendanceRecorded(EventPayload):
    """The staff marked a child on a séance (a later mark for the same child and date replaces it;
    so does a later `attendance.removed.v1`)."""

    EVENT_TYPE = "attendance.recorded.v1"
    family_id: str
    child_id: str
    commune: str
    service_id: str
    prestation_id: str
    session_date: dt.date
    status: Literal["present", "absent_justified", "absent_unjustified"]
    booked: bool                     # False: present without booking
    payment_mode: PaymentMode
    price_ref: str
    recorded_at: dt.datetime


class AttendanceRemoved(EventPayload):
    """An agent removed a child's mark set by mistake: the child is back to "not marked" on that
    séance (nothing to price from attendance; a booking stays a booking).

    Marks and removals of one child, prestation and date form one sequence ordered by time: this
    removal replaces every mark whose `recorded_at` is not after `removed_at`, and a mark recorded
    after it replaces the removal. Keep `removed_at` as the slot's attendance time so that an older
    mark delivered late is ignored. Refused by booking once the period is invoiced."""

    EVENT_TYPE = "attendance.removed.v1"
    family_id: str
    child_id: str
    commune: str
    service_id: str
    prestation_id: str
    session_date: dt.date
    removed_status: Literal["present", "absent_justified", "absent_unjustified"]  # the mark removed
    payment_mode: PaymentMode
    price_ref: str
    removed_at: dt.datetime


class WaitingListConfirmed(EventPayload):
    """A waiting child got a place (automatically or by an agent): tell the parent."""

    EVENT_TYPE = "waiting_list.confirmed.v1"
    booking_id: str
    family_id: str
    child_id: str
    commune: str
    service_id: str
    prestation_id: str
    prestation_label: str
    session_date: dt.date
    payment_mode: PaymentMode
    price_ref: str
    by: Literal["automatic", "agent"]
    confirmed_at: dt.datetime


class BookingReminderDue(EventPayload):
    """Children enrolled in a service have no booking yet for next week's séances of a
    prestation, whose booking deadline is still ahead: remind the family (once per family,
    prestation and week)."""

    EVENT_TYPE = "booking_reminder.due.v1"
    family_id: str
    commune: str
    child_ids: list[str]
    service_id: str
    prestation_id: str
    prestation_label: str
    week_first: dt.date              # Monday of the week (Europe/Paris calendar)
    week_last: dt.date               # its Friday
    deadline: dt.datetime            # the booking deadline of the prestation's first open day that week
