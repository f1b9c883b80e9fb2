"""Events published by billing on the `billing.events` exchange.

Declared by booking's work (issue 8) while billing's payment and invoicing features are being
built: booking consumes these to settle prepaid carts and to lock invoiced periods; until
billing publishes them, tests drive them directly.
"""
from __future__ import annotations

import datetime as dt

from contracts.envelope import EventPayload


class PaymentSucceeded(EventPayload):
    """A prepaid cart was paid: its held places become confirmed bookings."""

    EVENT_TYPE = "payment.succeeded.v1"
    payment_id: str
    cart_id: str            # booking's cart (cart.validated.v1)
    family_id: str
    amount_cents: int
    paid_at: dt.datetime


class PaymentFailed(EventPayload):
    """The payment of a prepaid cart failed or was abandoned: its held places are released."""

    EVENT_TYPE = "payment.failed.v1"
    payment_id: str
    cart_id: str
    family_id: str
    reason: str             # provider's outcome: refused, cancelled, expired, error
    failed_at: dt.datetime


class PeriodLocked(EventPayload):
    """A commune's month was invoiced: its attendance can no longer change."""

    EVENT_TYPE = "period.locked.v1"
    commune: str
    first: dt.date          # first day of the locked period (usually the 1st of the month)
    last: dt.date
    locked_at: dt.datetime
