"""Payments received (online or at the régie) and their allocation to invoices.

`record_payment` is the one way money enters the books: a numbered payment (P series, gap-free),
shared over the invoices oldest first (billing.domain.allocation), the surplus (if allowed)
becoming a credit note. Agents record offline payments (cash, cheque, CESU, chèques vacances,
direct debit); an online payment is recorded from its transaction's proof.
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit import csvexport
from servicekit.problems import Problem
from servicekit.types import isoformat_utc, utcnow

from billing import config, ledger
from billing.domain.allocation import PaymentMethod, allocate_payment, OpenInvoice
from billing.domain.calendar import Month
from billing.domain.numbering import Series
from billing.models import allocations, families, invoices, payments
from billing.timeutil import paris_today

OFFLINE_METHODS = (PaymentMethod.CASH, PaymentMethod.CHEQUE, PaymentMethod.CESU, PaymentMethod.HOLIDAY_VOUCHERS,
                   PaymentMethod.DIRECT_DEBIT)


def open_invoice(row: Mapping) -> OpenInvoice:
    return OpenInvoice(row["id"], row["number"] or "", row["family_id"], row["commune"], row["issued_on"],
                       ledger.owed(row), bool(row["direct_debit"]), row["published_on"], row["last_day_online"])


def lock_invoices(session: Session, commune: str, family_id: str, invoice_ids: Iterable[str] | None) -> list[Mapping]:
    query = sa.select(invoices).where(invoices.c.commune == commune, invoices.c.family_id == family_id,
                                      invoices.c.kind == "invoice", invoices.c.state == "published")
    if invoice_ids is not None:
        query = query.where(invoices.c.id.in_(list(invoice_ids)))
    return session.execute(query.order_by(invoices.c.id).with_for_update()).mappings().all()


def record_payment(session: Session, *, commune: str, family_id: str, method: PaymentMethod, amount_cents: int,
                   invoice_rows: list[Mapping], received_on: dt.date, reference: str | None = None,
                   recorded_by: str | None = None, transaction_id: str | None = None,
                   excess: str = "refuse") -> dict:
    """Store a payment and its allocation (invoices locked by the caller). AllocationError: 422."""
    open_rows = [row for row in invoice_rows if ledger.owed(row) > 0]
    if open_rows:
        allocation = allocate_payment(amount_cents, [open_invoice(r) for r in open_rows], excess=excess)
        parts, surplus = allocation.parts, allocation.excess_cents
    elif excess == "credit":
        parts, surplus = (), amount_cents
    else:
        raise Problem(422, "Aucune facture à régler pour ce paiement.")
    [number] = ledger.allocate_numbers(session, commune, [(Series.PAYMENT, Month.of(received_on))])
    payment_id = str(uuid.uuid4())
    credit_id = None
    if surplus:
        credit_id = ledger.issue_credit_note(session, commune, family_id, surplus,
                                             f"Trop-perçu du paiement {number}", "payment",
                                             note=f"payment {payment_id}")
    session.execute(payments.insert().values(
        id=payment_id, commune=commune, family_id=family_id, number=number, method=method.value,
        amount_cents=amount_cents, received_on=received_on, reference=reference, recorded_by=recorded_by,
        transaction_id=transaction_id, excess_credit_id=credit_id, created_at=utcnow()))
    now = utcnow()
    for part in parts:
        session.execute(allocations.insert().values(payment_id=payment_id, invoice_id=part.invoice_id,
                                                    amount_cents=part.amount_cents))
        values = {"paid_cents": invoices.c.paid_cents + part.amount_cents}
        if part.settles:
            values["settled_at"] = now
        session.execute(invoices.update().where(invoices.c.id == part.invoice_id).values(**values))
    return {"id": payment_id, "number": number, "excess_credit_id": credit_id,
            "allocations": [{"invoice_id": p.invoice_id, "amount_cents": p.amount_cents} for p in parts]}


# --- agents ----------------------------------------------------------------------------------------------
def record_offline(session: Session, commune: str, body: Mapping, agent: str) -> dict:
    method = PaymentMethod(body["method"])
    if method not in OFFLINE_METHODS:
        raise Problem(422, "Ce moyen de paiement ne s'enregistre pas au guichet.")
    family_id = body["family_id"]
    config.family_known(session, commune, family_id)
    received_on = dt.date.fromisoformat(body["received_on"]) if body.get("received_on") else paris_today()
    if received_on > paris_today():
        raise Problem(422, "La date de réception ne peut pas être dans le futur.")
    wanted = body.get("invoice_ids")
    rows = lock_invoices(session, commune, family_id, wanted)
    if wanted is not None and len(rows) != len(set(wanted)):
        raise Problem(404, "Une des factures est introuvable pour cette famille.")
    if wanted is not None and any(row["origin"] == "cart" for row in rows):
        raise Problem(422, "Un reçu de panier se règle en ligne depuis le panier.")
    rows = [row for row in rows if row["origin"] != "cart"]  # a cart's payment tells booking: online only
    if wanted is not None and len(wanted) != len(set(wanted)):
        raise Problem(422, "Une facture est sélectionnée deux fois.")
    result = record_payment(session, commune=commune, family_id=family_id, method=method,
                            amount_cents=body["amount_cents"], invoice_rows=list(rows), received_on=received_on,
                            reference=body.get("reference"), recorded_by=agent,
                            excess=body.get("excess", "refuse"))
    return get_payment(session, commune, result["id"])


def payment_view(row: Mapping, parts: list, family_name: str | None = None) -> dict:
    return {"id": row["id"], "number": row["number"], "commune": row["commune"], "family_id": row["family_id"],
            "family_name": family_name,
            "method": row["method"], "method_label": PaymentMethod(row["method"]).label,
            "amount_cents": row["amount_cents"], "received_on": row["received_on"].isoformat(),
            "reference": row["reference"], "recorded_by": row["recorded_by"],
            "transaction_id": row["transaction_id"], "excess_credit_id": row["excess_credit_id"],
            "created_at": isoformat_utc(row["created_at"]),
            "allocations": [{"invoice_id": p.invoice_id, "number": p.number, "amount_cents": p.amount_cents}
                            for p in parts]}


def _parts(session: Session, payment_ids: list[str]) -> dict[str, list]:
    out: dict[str, list] = {pid: [] for pid in payment_ids}
    if payment_ids:
        for r in session.execute(sa.select(allocations.c.payment_id, allocations.c.invoice_id, invoices.c.number,
                                           allocations.c.amount_cents)
                                 .join(invoices, invoices.c.id == allocations.c.invoice_id)
                                 .where(allocations.c.payment_id.in_(payment_ids)).order_by(allocations.c.id)):
            out[r.payment_id].append(r)
    return out


def get_payment(session: Session, commune: str, payment_id: str) -> dict:
    row = session.execute(sa.select(payments).where(payments.c.id == payment_id, payments.c.commune == commune)
                          ).mappings().first()
    if row is None:
        raise Problem(404, "Ce paiement est introuvable.")
    names = _family_names(session, commune, [row["family_id"]])
    return payment_view(row, _parts(session, [payment_id])[payment_id], names.get(row["family_id"]))


def _family_names(session: Session, commune: str, family_ids: list[str]) -> dict[str, str | None]:
    """identity's family names (billing's projection) by id, for the agents' lists."""
    if not family_ids:
        return {}
    return dict(session.execute(sa.select(families.c.family_id, families.c.family_name).where(
        families.c.commune == commune, families.c.family_id.in_(set(family_ids)))).all())


def payments_query(commune: str, *, family_id: str | None = None, method: str | None = None,
                   received_from: str | None = None, received_to: str | None = None):
    query = sa.select(payments).where(payments.c.commune == commune)
    if family_id:
        query = query.where(payments.c.family_id == family_id)
    if method:
        query = query.where(payments.c.method == method)
    if received_from:
        query = query.where(payments.c.received_on >= dt.date.fromisoformat(received_from))
    if received_to:
        query = query.where(payments.c.received_on <= dt.date.fromisoformat(received_to))
    return query


def list_payments(session: Session, commune: str, page: int = 1, per_page: int = 50, **filters) -> dict:
    query = payments_query(commune, **filters)
    total = session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar()
    rows = session.execute(query.order_by(payments.c.received_on.desc(), payments.c.number.desc())
                           .limit(per_page).offset((page - 1) * per_page)).mappings().all()
    parts = _parts(session, [r["id"] for r in rows])
    names = _family_names(session, commune, [r["family_id"] for r in rows])
    return {"items": [payment_view(r, parts[r["id"]], names.get(r["family_id"])) for r in rows], "total": total,
            "page": page, "per_page": per_page}


# --- CSV exports (for the régie's accounting) ------------------------------------------------------------------
def _euros(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100},{abs(cents) % 100:02d}"


def export_payments(session: Session, commune: str, **filters) -> str:
    rows = session.execute(payments_query(commune, **filters).order_by(payments.c.number)).mappings().all()
    parts = _parts(session, [r["id"] for r in rows])
    return csvexport.csv_text(["numero", "date_reception", "famille", "moyen", "montant_euros", "reference", "factures"],
                ([r["number"], r["received_on"].isoformat(), r["family_id"], PaymentMethod(r["method"]).label,
                  _euros(r["amount_cents"]), r["reference"] or "",
                  " ".join(p.number or "" for p in parts[r["id"]])] for r in rows))


def export_invoices(session: Session, commune: str, **filters) -> str:
    from billing.documents import agent_query, summary_view

    rows = session.execute(agent_query(commune, **filters).order_by(invoices.c.number)).mappings().all()
    labels = {"to_pay": "à payer", "paid": "payée", "credit": "avoir", "cancelled": "annulée", "draft": "brouillon"}
    views = [summary_view(r) for r in rows]
    return csvexport.csv_text(["numero", "type", "mois", "famille_id", "famille", "date_emission", "echeance", "total_euros",
                 "avoirs_deduits_euros", "paye_euros", "reste_du_euros", "statut", "prelevement"],
                ([v["number"] or "", "facture" if v["kind"] == "invoice" else "avoir", v["month"], v["family_id"],
                  v["family_name"], v["issued_on"] or "", v["due_on"] or "", _euros(v["total_cents"]),
                  _euros(v["credited_cents"]), _euros(v["paid_cents"]), _euros(v["due_cents"]),
                  labels[v["status"]], "oui" if v["direct_debit"] else "non"] for v in views))
