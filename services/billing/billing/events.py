"""billing's events (contracts.billing), written to the outbox in the caller's transaction."""
from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from contracts import billing as contract
from servicekit.messaging.outbox import add_event

SOURCE = "billing"


def payment_succeeded(session: Session, *, payment_id: str, cart_id: str, family_id: str, amount_cents: int,
                      paid_at: dt.datetime, validated_at: dt.datetime | None, causation_id: str | None = None) -> None:
    add_event(session, SOURCE, contract.PaymentSucceeded(payment_id=payment_id, cart_id=cart_id, family_id=family_id,
                                                         amount_cents=amount_cents, paid_at=paid_at,
                                                         validated_at=validated_at),
              causation_id=causation_id)


def payment_failed(session: Session, *, payment_id: str, cart_id: str, family_id: str, reason: str,
                   failed_at: dt.datetime, validated_at: dt.datetime | None, causation_id: str | None = None) -> None:
    add_event(session, SOURCE, contract.PaymentFailed(payment_id=payment_id, cart_id=cart_id, family_id=family_id,
                                                      reason=reason, failed_at=failed_at, validated_at=validated_at),
              causation_id=causation_id)


def invoice_published(session: Session, row, period_first: dt.date, period_last: dt.date) -> None:
    add_event(session, SOURCE, contract.InvoicePublished(
        invoice_id=row["id"], number=row["number"], family_id=row["family_id"], commune=row["commune"],
        total_cents=row["total_cents"], period_first=period_first, period_last=period_last, due_date=row["due_on"]))


def credit_issued(session: Session, *, credit_id: str, number: str, family_id: str, commune: str, amount_cents: int,
                  reason: str | None) -> None:
    add_event(session, SOURCE, contract.CreditIssued(credit_id=credit_id, number=number, family_id=family_id,
                                                     commune=commune, amount_cents=amount_cents, reason=reason))


def period_locked(session: Session, *, commune: str, first: dt.date, last: dt.date, locked_at: dt.datetime) -> None:
    add_event(session, SOURCE, contract.PeriodLocked(commune=commune, first=first, last=last, locked_at=locked_at))
