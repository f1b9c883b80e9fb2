"""One online payment attempt (transaction) and what each provider message does to it.

States: created → pending → paid | refused | abandoned | expired.
- created: the attempt is recorded (amount fixed, invoices or cart chosen); pending: the payer
  was sent to the provider. One transaction per attempt: a new attempt is a new transaction.
- Only a verified provider message (server-to-server notification or the provider's status
  answer, never the browser's return) moves a transaction; `apply_outcome` is pure and
  idempotent: the same message twice, or any message after the transaction is decided the same
  way, has no effect (`Effect.NONE`), so a payment is counted once.
- A late "refused"/"abandoned"/"expired" after "paid" never unpays (`Effect.NONE`).
- A "paid" after a failure (out of order, or after the platform expired the attempt) is still
  money received: the transaction becomes paid and the effect is `LATE_PAYMENT` — the adapter
  records the payment; if the cart it was for has been released, the amount becomes a credit.
- A "paid" for another amount than the attempt's is refused (`AmountMismatch`): never booked,
  to be examined by an agent.
- Amount bounds: an attempt is only started within the provider's minimum and maximum.
- Re-check: a transaction pending between 5 minutes and 3 hours is asked about again; one
  pending for longer is expired by the platform (and its cart released).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Iterable

from .money import format_euros

RECHECK_AFTER = timedelta(minutes=5)
GIVE_UP_AFTER = timedelta(hours=3)
DOUBLE_CLICK_WINDOW = timedelta(minutes=2)


class PaymentRuleError(ValueError):
    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class AmountMismatch(PaymentRuleError):
    """The provider says paid, but not the amount of the attempt."""


class TransactionState(StrEnum):
    CREATED = "created"
    PENDING = "pending"
    PAID = "paid"
    REFUSED = "refused"
    ABANDONED = "abandoned"
    EXPIRED = "expired"

    @property
    def is_open(self) -> bool:
        return self in (TransactionState.CREATED, TransactionState.PENDING)

    @property
    def failed(self) -> bool:
        return self in (TransactionState.REFUSED, TransactionState.ABANDONED, TransactionState.EXPIRED)


class ProviderResult(StrEnum):
    """What a provider says; same values as billing.payments.provider.PaymentStatus."""

    PAID = "paid"
    REFUSED = "refused"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    PENDING = "pending"
    ERROR = "error"


_FAILURE_STATE = {
    ProviderResult.REFUSED: TransactionState.REFUSED,
    ProviderResult.ERROR: TransactionState.REFUSED,
    ProviderResult.CANCELLED: TransactionState.ABANDONED,
    ProviderResult.EXPIRED: TransactionState.EXPIRED,
}


class Effect(StrEnum):
    NONE = "none"  # duplicate, out of date or no news: nothing to do
    PAYMENT = "payment"  # record the payment and allocate it
    LATE_PAYMENT = "late_payment"  # record it although the attempt had failed (cart maybe released)
    FAILED = "failed"  # the attempt failed: reopen the cart, let the payer try again
    STILL_PENDING = "still_pending"


@dataclass(frozen=True, slots=True)
class Transaction:
    id: str
    amount_cents: int
    state: TransactionState
    created_at: datetime
    pending_since: datetime | None = None
    decided_at: datetime | None = None
    bank_reference: str = ""

    def __post_init__(self):
        if not isinstance(self.state, TransactionState):  # e.g. a stored string
            object.__setattr__(self, "state", TransactionState(self.state))
        for moment in (self.created_at, self.pending_since, self.decided_at):
            if moment is not None and moment.tzinfo is None:
                raise PaymentRuleError("Horodatage sans fuseau horaire.")


def new_transaction(transaction_id: str, amount_cents: int, now: datetime, min_cents: int,
                    max_cents: int) -> Transaction:
    check_amount(amount_cents, min_cents, max_cents)
    return Transaction(transaction_id, amount_cents, TransactionState.CREATED, now)


def check_amount(amount_cents: int, min_cents: int, max_cents: int) -> None:
    """Raise PaymentRuleError (French detail) unless the provider accepts this amount."""
    if amount_cents < min_cents:
        raise PaymentRuleError(f"Le montant de {format_euros(amount_cents)} est inférieur au minimum accepté "
                               f"pour un paiement en ligne ({format_euros(min_cents)}).")
    if amount_cents > max_cents:
        raise PaymentRuleError(f"Le montant de {format_euros(amount_cents)} dépasse le maximum accepté "
                               f"pour un paiement en ligne ({format_euros(max_cents)}).")


def mark_sent(transaction: Transaction, now: datetime) -> Transaction:
    """The payer is sent to the provider: created → pending (again: no change)."""
    if transaction.state is TransactionState.PENDING:
        return transaction
    if transaction.state is not TransactionState.CREATED:
        raise PaymentRuleError("Ce paiement est terminé : recommencez depuis vos factures ou votre panier.")
    return replace(transaction, state=TransactionState.PENDING, pending_since=now)


def apply_outcome(transaction: Transaction, result: ProviderResult | str, amount_cents: int | None, now: datetime,
                  bank_reference: str = "") -> tuple[Transaction, Effect]:
    """The new transaction and what to do, for one verified provider message. Pure; idempotent."""
    result = ProviderResult(result)
    state = transaction.state
    if result is ProviderResult.PAID:
        if amount_cents is not None and amount_cents != transaction.amount_cents:
            raise AmountMismatch(f"Montant payé ({format_euros(amount_cents)}) différent du montant demandé "
                                 f"({format_euros(transaction.amount_cents)}) : paiement à vérifier par la régie.")
        if state is TransactionState.PAID:
            return transaction, Effect.NONE
        paid = replace(transaction, state=TransactionState.PAID, decided_at=now,
                       bank_reference=bank_reference or transaction.bank_reference)
        return paid, (Effect.LATE_PAYMENT if state.failed else Effect.PAYMENT)
    if result is ProviderResult.PENDING:
        if state is TransactionState.CREATED:
            return replace(transaction, state=TransactionState.PENDING, pending_since=now), Effect.STILL_PENDING
        return transaction, (Effect.STILL_PENDING if state is TransactionState.PENDING else Effect.NONE)
    if not state.is_open:  # paid stays paid; the first failure stands
        return transaction, Effect.NONE
    failed = replace(transaction, state=_FAILURE_STATE[result], decided_at=now,
                     bank_reference=bank_reference or transaction.bank_reference)
    return failed, Effect.FAILED


def _pending_age(transaction: Transaction, now: datetime) -> timedelta | None:
    if not transaction.state.is_open:
        return None
    return now - (transaction.pending_since or transaction.created_at)


def needs_recheck(transaction: Transaction, now: datetime) -> bool:
    """Pending (or never sent) for 5 minutes to 3 hours: ask the provider again."""
    age = _pending_age(transaction, now)
    return age is not None and RECHECK_AFTER <= age <= GIVE_UP_AFTER


def expire_if_stale(transaction: Transaction, now: datetime) -> tuple[Transaction, Effect]:
    """Still undecided after 3 hours: the platform gives up (a later "paid" is still honoured)."""
    age = _pending_age(transaction, now)
    if age is None or age <= GIVE_UP_AFTER:
        return transaction, Effect.NONE
    return replace(transaction, state=TransactionState.EXPIRED, decided_at=now), Effect.FAILED


@dataclass(frozen=True, slots=True)
class Attempt:
    """An existing attempt for the same payer, to recognise a double click on "Payer"."""

    transaction: Transaction
    subject: frozenset[str]  # the invoice ids (or the cart id) it pays


def reusable_attempt(attempts: Iterable[Attempt], subject: Iterable[str], amount_cents: int,
                     now: datetime) -> Transaction | None:
    """An open attempt for exactly this subject and amount started under 2 minutes ago, if any.

    A second click within that window gets the same transaction (and the same provider form)
    rather than a second one; the adapter runs this under a lock on the payer's account.
    """
    subject = frozenset(subject)
    for attempt in attempts:
        tx = attempt.transaction
        if (tx.state.is_open and attempt.subject == subject and tx.amount_cents == amount_cents
                and now - tx.created_at < DOUBLE_CLICK_WINDOW):
            return tx
    return None
