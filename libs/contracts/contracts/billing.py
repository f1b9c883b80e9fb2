"""Events published by billing on the `billing.events` exchange; booking consumes them.

- `payment.succeeded.v1`: a prepaid cart's payment is proven (signed notification), or the
  family's credits covered it (then `payment_id` is `credit:<receipt id>` and `amount_cents` 0:
  nothing was paid online). Sent once per cart validation.
- `payment.failed.v1`: the attempt was refused, abandoned, expired at the provider, or its hold
  passed (`reason` expired), or the cart could not be priced (`reason` error). A payment that
  arrives after this is kept by billing as a credit; booking is not told again.
- `period.locked.v1`: a monthly invoicing run of the commune's month was finalised.
- `invoice.published.v1`: an invoice of a finalised run reached its publication day (announced
  once per run); `credit.issued.v1`: a credit note was issued (runs, corrections, cancellations,
  overpayments, payments after a cart's failure). notify e-mails the family.
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
    # which validation of the cart was paid (cart.validated.v1's validated_at): a cart validated
    # again since is not paid by it. Absent from older events.
    validated_at: dt.datetime | None = None


class PaymentFailed(EventPayload):
    """The payment of a prepaid cart failed or was abandoned: its held places are released."""

    EVENT_TYPE = "payment.failed.v1"
    payment_id: str
    cart_id: str
    family_id: str
    reason: str             # provider's outcome: refused, cancelled, expired, error
    failed_at: dt.datetime
    validated_at: dt.datetime | None = None  # which validation of the cart (as in payment.succeeded.v1)


class PeriodLocked(EventPayload):
    """A commune's month was invoiced: its attendance can no longer change."""

    EVENT_TYPE = "period.locked.v1"
    commune: str
    first: dt.date          # first day of the locked period (usually the 1st of the month)
    last: dt.date
    locked_at: dt.datetime


class InvoicePublished(EventPayload):
    """An invoice became visible to the family (its publication day came): notify e-mails them."""

    EVENT_TYPE = "invoice.published.v1"
    invoice_id: str
    number: str             # F-2026-09-0000123
    family_id: str
    commune: str
    total_cents: int        # what the invoice amounts to (before credits and payments)
    period_first: dt.date   # the invoiced period (the month, for a monthly run)
    period_last: dt.date
    due_date: dt.date


class CreditIssued(EventPayload):
    """A credit note (avoir) was issued to the family; it is deducted from their next invoices."""

    EVENT_TYPE = "credit.issued.v1"
    credit_id: str
    number: str             # A-2026-09-0000012
    family_id: str
    commune: str
    amount_cents: int
    reason: str | None = None   # French, shown to the family (e.g. "Annulation — Léa — Repas — …")
