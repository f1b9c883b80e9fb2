"""Sharing a payment over invoices, and credits over a prepaid cart.

- One payment for several selected invoices goes to the oldest invoice first (issue date, then
  number), each invoice receiving at most what it still owes; a payment smaller than the total
  leaves the newest invoices partly or wholly unpaid (partial payments are allowed).
- Overpayment (our choice): refused by default. Online payments are always started for exactly
  the amount due, so only an offline payment can exceed it (a 50 € cheque for 47,30 € due); the
  agent then either corrects the amount or records the surplus as a credit (avoir) of the family,
  which is applied to the next invoices and carts (`excess="credit"`).
- All invoices of one payment belong to the same family and commune (one régie).
- An invoice on direct debit cannot be paid online (the commune collects it); neither can an
  invoice outside its online window (before publication, after the last day payable online).
- Prepaid cart: the family's open credits of that commune are deducted first, oldest first; if
  they cover the whole cart, no online payment is needed.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Iterable, Literal, Sequence

from .invoicing import CreditUse, OpenCredit, apply_credits
from .money import format_euros


class PaymentMethod(StrEnum):
    """How a payment was made: online by card, or recorded by an agent at the régie."""

    ONLINE = "online"
    CASH = "cash"
    CHEQUE = "cheque"
    CESU = "cesu"
    HOLIDAY_VOUCHERS = "holiday_vouchers"
    DIRECT_DEBIT = "direct_debit"
    CREDIT = "credit"  # an avoir used on an invoice: settles it, but is no money received

    @property
    def label(self) -> str:
        return PAYMENT_METHOD_LABELS[self]


PAYMENT_METHOD_LABELS = {
    PaymentMethod.ONLINE: "Carte bancaire en ligne",
    PaymentMethod.CASH: "Espèces",
    PaymentMethod.CHEQUE: "Chèque",
    PaymentMethod.CESU: "CESU",
    PaymentMethod.HOLIDAY_VOUCHERS: "Chèques vacances",
    PaymentMethod.DIRECT_DEBIT: "Prélèvement",
    PaymentMethod.CREDIT: "Avoir",
}


class AllocationError(ValueError):
    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True, slots=True)
class OpenInvoice:
    id: str
    number: str
    family_id: str
    commune_id: str
    issued_on: date
    due_cents: int  # what is still owed
    direct_debit: bool = False
    published_on: date | None = None
    last_day_online: date | None = None


@dataclass(frozen=True, slots=True)
class AllocationPart:
    invoice_id: str
    amount_cents: int
    settles: bool  # the invoice is fully paid after this part


@dataclass(frozen=True, slots=True)
class Allocation:
    parts: tuple[AllocationPart, ...]
    excess_cents: int = 0  # surplus to record as a credit (only with excess="credit")

    @property
    def allocated_cents(self) -> int:
        return sum(part.amount_cents for part in self.parts)


def oldest_first(invoices: Iterable[OpenInvoice]) -> list[OpenInvoice]:
    return sorted(invoices, key=lambda invoice: (invoice.issued_on, invoice.number, invoice.id))


def _check_one_account(invoices: Sequence[OpenInvoice]) -> None:
    if len({(invoice.family_id, invoice.commune_id) for invoice in invoices}) > 1:
        raise AllocationError("Un paiement ne peut régler que des factures d'une même famille et d'une même commune.")
    if len({invoice.id for invoice in invoices}) != len(invoices):
        raise AllocationError("Une facture est sélectionnée deux fois.")


def allocate_payment(amount_cents: int, invoices: Iterable[OpenInvoice], *,
                     excess: Literal["refuse", "credit"] = "refuse") -> Allocation:
    """Share `amount_cents` over `invoices`, oldest first; never more than each one owes."""
    invoices = oldest_first(invoices)
    _check_one_account(invoices)
    if amount_cents <= 0:
        raise AllocationError("Le montant d'un paiement doit être positif.")
    owed = sum(max(invoice.due_cents, 0) for invoice in invoices)
    if amount_cents > owed and excess == "refuse":
        raise AllocationError(f"Le paiement ({format_euros(amount_cents)}) dépasse le montant dû "
                              f"({format_euros(owed)}).")
    parts, left = [], amount_cents
    for invoice in invoices:
        if left == 0:
            break
        if invoice.due_cents <= 0:
            continue
        part = min(left, invoice.due_cents)
        parts.append(AllocationPart(invoice.id, part, part == invoice.due_cents))
        left -= part
    return Allocation(tuple(parts), excess_cents=left)


def check_payable_online(invoices: Iterable[OpenInvoice], today: date) -> None:
    """Raise AllocationError (French detail) unless every selected invoice can be paid online today."""
    invoices = list(invoices)
    if not invoices:
        raise AllocationError("Aucune facture sélectionnée.")
    _check_one_account(invoices)
    for invoice in invoices:
        if invoice.direct_debit:
            raise AllocationError(f"La facture {invoice.number} est réglée par prélèvement : "
                                  f"elle ne peut pas être payée en ligne.")
        if invoice.due_cents <= 0:
            raise AllocationError(f"La facture {invoice.number} est déjà réglée.")
        if invoice.published_on is not None and today < invoice.published_on:
            raise AllocationError(f"La facture {invoice.number} n'est pas encore publiée.")
        if invoice.last_day_online is not None and today > invoice.last_day_online:
            raise AllocationError(f"La facture {invoice.number} ne peut plus être payée en ligne depuis le "
                                  f"{invoice.last_day_online:%d/%m/%Y} : contactez la régie.")


def online_payment(invoices: Iterable[OpenInvoice], today: date) -> tuple[int, Allocation]:
    """The amount to ask the provider for the selected invoices, and how it will be allocated."""
    invoices = list(invoices)
    check_payable_online(invoices, today)
    amount = sum(invoice.due_cents for invoice in invoices)
    return amount, allocate_payment(amount, invoices)


@dataclass(frozen=True, slots=True)
class CartSettlement:
    total_cents: int
    credit_uses: tuple[CreditUse, ...]

    @property
    def to_pay_cents(self) -> int:
        return self.total_cents - sum(use.amount_cents for use in self.credit_uses)

    @property
    def payment_needed(self) -> bool:
        return self.to_pay_cents > 0


def settle_cart(total_cents: int, family_id: str, commune_id: str, credits: Iterable[OpenCredit]) -> CartSettlement:
    """Deduct the family's open credits (that commune only, oldest first) from a prepaid cart."""
    if total_cents < 0:
        raise AllocationError("Le montant d'un panier ne peut pas être négatif.")
    usable = [c for c in credits if c.family_id == family_id and c.commune_id == commune_id and c.remaining_cents > 0]
    return CartSettlement(total_cents, apply_credits(total_cents, usable))
