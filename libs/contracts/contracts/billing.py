"""Events published by billing on the `billing.events` exchange; booking consumes them.

- `payment.succeeded.v1`: a prepaid cart's payment is proven (signed notification), or the
  family's credits covered it (then `payment_id` is `credit:<receipt id>` and `amount_cents` 0:
  nothing was paid online). Sent once per cart validation.
- `payment.failed.v1`: the attempt was refused, abandoned, expired at the provider, or its hold
  passed (`reason` expired), or the cart could not be priced (`reason` error). A payment that
  arrives after this is kept by billing as a credit; booking is not told again.
- `period.locked.v1`: a monthly invoicing run of the commune's month was finalised.
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
