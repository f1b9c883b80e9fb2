"""The platform's own small online payment interface; the rest of billing sees only this.

One implementation sits on eopayment (`billing.payments.eopayment_provider`), so that the
simulated bank, a real Systempay / PayZen shop or PayFiP are a matter of configuration.
Amounts are integer cents. Messages meant for people are French.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal, Protocol, runtime_checkable


class PaymentStatus(StrEnum):
    PAID = "paid"
    REFUSED = "refused"  # the bank or card refused
    CANCELLED = "cancelled"  # the payer gave up (abandoned) or the payment was cancelled
    EXPIRED = "expired"  # the provider says the attempt will never be paid
    PENDING = "pending"  # not decided yet
    ERROR = "error"  # the provider reports a technical failure


class PaymentError(Exception):
    """Base of the errors below; `detail` is French, for a problem+json answer."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class InvalidNotification(PaymentError):
    """A notification or return that is not provably from the provider (bad or missing signature,
    missing fields, a test payment where only real ones count). Never pays anything."""


class AmountOutOfRange(PaymentError):
    """The amount is outside what the provider accepts; checked before starting."""


class RequestRejected(PaymentError):
    """The provider (or its library) refuses the request as built, e.g. a reference in a format
    it does not take; trying again unchanged will not help."""


class ProviderUnavailable(PaymentError):
    """The provider could not be reached or answered nonsense; worth trying again later."""


@dataclass(frozen=True)
class PaymentRequest:
    """One payment attempt, as billing asks for it."""

    transaction_id: str  # the platform's id of this attempt (one per attempt)
    amount_cents: int
    return_url: str  # where the payer's browser comes back
    notify_url: str  # where the provider's server-to-server notification goes
    email: str | None = None  # PayFiP requires it
    label: str = ""  # e.g. "Factures F-2026-09-0000123, F-2026-09-0000124"
    order_id: str | None = None  # a reference the bank shows and keeps (letters, digits, dashes)


@dataclass(frozen=True)
class PaymentStart:
    """How to send the payer to the provider: a redirect (GET) or a form to auto-submit (POST)."""

    transaction_id: str  # the id the provider's messages will carry: keep it on the attempt
    method: Literal["GET", "POST"]
    url: str
    fields: tuple[tuple[str, str], ...] = ()  # the form's hidden fields (POST)

    @property
    def is_form(self) -> bool:
        return self.method == "POST"


@dataclass(frozen=True)
class PaymentOutcome:
    """What the provider says about one attempt, signature (or origin) verified."""

    transaction_id: str  # as in PaymentStart.transaction_id
    status: PaymentStatus
    amount_cents: int | None  # as the provider states it (compare with the attempt's amount)
    bank_reference: str  # the provider's own reference, to quote to the bank
    source: Literal["notification", "return", "status_check"]
    test: bool = False  # a payment in the provider's test mode
    message: str = ""  # the provider's wording of the status
    transaction_date: datetime | None = None
    raw: dict[str, str] = field(default_factory=dict, compare=False, repr=False)  # for the audit log

    @property
    def proves_payment(self) -> bool:
        """Only a server-to-server notification or the provider's own status answer proves a
        payment; the browser's return is shown to the payer, never booked."""
        return self.status is PaymentStatus.PAID and self.source != "return"


@runtime_checkable
class PaymentProvider(Protocol):
    name: str
    min_amount_cents: int
    max_amount_cents: int

    def check_amount(self, amount_cents: int) -> None:
        """Raise AmountOutOfRange (French detail) unless the provider accepts this amount."""

    def start(self, request: PaymentRequest) -> PaymentStart:
        """Register the attempt with the provider; where to send the payer. Checks the amount."""

    def parse_notification(self, body: bytes | str, query_string: str = "") -> PaymentOutcome:
        """The verified outcome of a server-to-server notification, or InvalidNotification."""

    def parse_return(self, query_string: str, body: bytes | str = b"") -> PaymentOutcome | None:
        """The verified outcome carried by the payer's return, if any (for display only)."""

    @property
    def can_check_status(self) -> bool:
        """Whether check_status can ask the provider (the pending re-check job needs it)."""

    def check_status(self, transaction_id: str, started_at: datetime) -> PaymentOutcome | None:
        """Ask the provider about an attempt; None when the provider has no way to be asked."""
