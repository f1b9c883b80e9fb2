"""The figures of a family's yearly payment certificate (attestation de paiement), per commune.

- Counted: what the family paid during the calendar year (payment date in the year), whatever
  month the invoices were for. Credits (avoirs) used on an invoice are not a payment of the year
  and are not counted.
- Each payment part for an invoice is shared over that invoice's lines in proportion to their
  positive amounts (exact to the cent, largest remainder), so amounts per child and per service
  add up to what was paid. Lines without a child (agent adjustments) go to no child.
- Tax (crédit d'impôt pour frais de garde, art. 200 quater B CGI): only childcare services
  (`childcare=True`: périscolaire, accueil de loisirs; never meals — food is excluded) for
  children under six on 1 January of the year, i.e. born on or after 1 January of year − 6, as
  the tax form words it. Amounts paid with CESU are shown but not in the tax amount
  (prefinanced CESU is an aid, deducted from the expenses).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Iterable

from .allocation import PaymentMethod
from .money import split_pro_rata

NOT_COUNTED_METHODS = frozenset({PaymentMethod.CREDIT})
NOT_TAX_METHODS = frozenset({PaymentMethod.CESU})


@dataclass(frozen=True, slots=True)
class Child:
    id: str
    name: str
    birth_date: date


@dataclass(frozen=True, slots=True)
class InvoicedLine:
    invoice_id: str
    child_id: str  # "" for a line without a child
    service_label: str
    childcare: bool  # eligible kind of expense for the tax credit (not meals)
    amount_cents: int


@dataclass(frozen=True, slots=True)
class PaymentPart:
    payment_id: str
    invoice_id: str
    paid_on: date
    amount_cents: int
    method: PaymentMethod | str


@dataclass(frozen=True, slots=True)
class ChildTotal:
    child_id: str
    name: str
    birth_date: date | None
    paid_cents: int
    by_service: tuple[tuple[str, int], ...]
    tax_childcare_cents: int  # what goes on the tax form for this child (0 if six or older)


@dataclass(frozen=True, slots=True)
class Attestation:
    year: int
    family_id: str
    commune_id: str
    paid_cents: int
    by_child: tuple[ChildTotal, ...]
    by_service: tuple[tuple[str, int], ...]
    tax_childcare_cents: int


def under_six_for_tax(child: Child, year: int) -> bool:
    return child.birth_date >= date(year - 6, 1, 1)


def yearly_attestation(year: int, family_id: str, commune_id: str, children: Iterable[Child],
                       lines: Iterable[InvoicedLine], payments: Iterable[PaymentPart]) -> Attestation:
    children_by_id = {child.id: child for child in children}
    lines_by_invoice: dict[str, list[InvoicedLine]] = defaultdict(list)
    for line in lines:
        lines_by_invoice[line.invoice_id].append(line)

    paid = defaultdict(int)  # (child_id, service_label) -> cents
    taxable = defaultdict(int)  # child_id -> cents
    for part in payments:
        if part.paid_on.year != year or part.method in NOT_COUNTED_METHODS or part.amount_cents <= 0:
            continue
        invoice_lines = lines_by_invoice.get(part.invoice_id, [])
        weights = [max(line.amount_cents, 0) for line in invoice_lines]
        if not any(weights):
            paid[("", "Autres")] += part.amount_cents
            continue
        for line, share in zip(invoice_lines, split_pro_rata(part.amount_cents, weights)):
            paid[(line.child_id, line.service_label)] += share
            child = children_by_id.get(line.child_id)
            if (line.childcare and child is not None and under_six_for_tax(child, year)
                    and part.method not in NOT_TAX_METHODS):
                taxable[line.child_id] += share

    by_child = []
    child_ids = {child_id for child_id, _ in paid}
    for child_id in sorted(child_ids, key=lambda cid: (cid == "", _child_name(children_by_id, cid), cid)):
        services = sorted((label, cents) for (cid, label), cents in paid.items() if cid == child_id and cents)
        child = children_by_id.get(child_id)
        by_child.append(ChildTotal(child_id, _child_name(children_by_id, child_id), child.birth_date if child else None,
                                   sum(cents for _, cents in services), tuple(services), taxable.get(child_id, 0)))
    by_service: dict[str, int] = defaultdict(int)
    for (_, label), cents in paid.items():
        by_service[label] += cents
    return Attestation(year, family_id, commune_id, sum(paid.values()), tuple(by_child),
                       tuple(sorted((label, cents) for label, cents in by_service.items() if cents)),
                       sum(taxable.values()))


def _child_name(children: dict[str, Child], child_id: str) -> str:
    child = children.get(child_id)
    return child.name if child else "Sans enfant"
