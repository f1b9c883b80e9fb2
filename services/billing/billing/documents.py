"""Reading invoices and credit notes: "Mes factures" for parents, lists and details for agents.

A parent sees their family's published documents whose publication day has come; an agent sees
their commune's, drafts included when asked for a run. Anything else is "not found".
"""
from __future__ import annotations

import datetime as dt
from typing import Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit.problems import Problem

from billing.domain.calendar import Month
from billing.domain.pricing import REASON_LABELS, Reason
from billing.ledger import owed
from billing.models import allocations, credit_uses, invoice_lines, invoices, payments
from billing.timeutil import paris_today

NOT_FOUND = "Cette facture est introuvable."
STATUSES = ("to_pay", "paid", "credit", "cancelled", "draft")


def status_of(row: Mapping) -> str:
    if row["state"] == "draft":
        return "draft"
    if row["state"] == "cancelled":
        return "cancelled"
    if row["kind"] == "credit_note":
        return "credit"
    return "to_pay" if owed(row) > 0 else "paid"


def _date(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def summary_view(row: Mapping, today: dt.date | None = None) -> dict:
    today = today or paris_today()
    due = owed(row)
    online = (row["kind"] == "invoice" and due > 0 and not row["direct_debit"] and row["last_day_online"] is not None
              and row["published_on"] <= today <= row["last_day_online"])
    return {"id": row["id"], "number": row["number"], "kind": row["kind"], "origin": row["origin"],
            "status": status_of(row), "commune": row["commune"], "family_id": row["family_id"],
            "family_name": row["family_name"], "month": row["month"], "month_label": Month.parse(row["month"]).label,
            "total_cents": row["total_cents"], "credited_cents": row["credited_cents"],
            "paid_cents": row["paid_cents"], "due_cents": due, "remaining_credit_cents": row["remaining_cents"],
            "issued_on": _date(row["issued_on"]), "published_on": _date(row["published_on"]),
            "displayed_deadline": _date(row["displayed_deadline"]), "last_day_online": _date(row["last_day_online"]),
            "due_on": _date(row["due_on"]), "direct_debit": bool(row["direct_debit"]),
            "payable_online": online, "corrects": row["corrects"], "cart_id": row["cart_id"]}


def line_view(line: Mapping) -> dict:
    return {"day_key": line["day_key"], "child_id": line["child_id"], "child_name": line["child_name"],
            "prestation_id": line["prestation_id"], "prestation_label": line["prestation_label"],
            "service_label": line["service_label"], "day": line["day"].isoformat(), "reason": line["reason"],
            "reason_label": REASON_LABELS[Reason(line["reason"])] if line["reason"] else None,
            "unit_price_cents": line["unit_price_cents"], "amount_cents": line["amount_cents"], "label": line["label"]}


def lines_of(session: Session, invoice_id: str) -> list[Mapping]:
    return session.execute(sa.select(invoice_lines).where(invoice_lines.c.invoice_id == invoice_id)
                           .order_by(invoice_lines.c.position)).mappings().all()


def detail_view(session: Session, row: Mapping) -> dict:
    view = summary_view(row)
    lines = lines_of(session, row["id"])
    view["lines"] = [line_view(line) for line in lines]
    groups: dict[tuple[str, str], dict] = {}
    for line in lines:  # per child and prestation, as the paper invoice shows them
        group = groups.setdefault((line["child_name"], line["prestation_label"]), {
            "child_name": line["child_name"], "prestation_label": line["prestation_label"], "days": 0,
            "amount_cents": 0})
        group["days"] += 1
        group["amount_cents"] += line["amount_cents"]
    view["groups"] = list(groups.values())
    view["credits_used"] = [{"credit_id": r.credit_id, "number": r.number, "amount_cents": r.amount_cents}
                            for r in session.execute(
        sa.select(credit_uses.c.credit_id, invoices.c.number, credit_uses.c.amount_cents)
        .join(invoices, invoices.c.id == credit_uses.c.credit_id)
        .where(credit_uses.c.invoice_id == row["id"], credit_uses.c.reversed.is_(False)))]
    view["payments"] = [{"payment_id": r.id, "number": r.number, "method": r.method, "received_on": _date(r.received_on),
                         "amount_cents": r.amount_cents} for r in session.execute(
        sa.select(payments.c.id, payments.c.number, payments.c.method, payments.c.received_on,
                  allocations.c.amount_cents).join(allocations, allocations.c.payment_id == payments.c.id)
        .where(allocations.c.invoice_id == row["id"]).order_by(payments.c.received_on, payments.c.number))]
    return view


# --- parents -----------------------------------------------------------------------------------------------
def _visible_to_parent(family_id: str, today: dt.date):
    return sa.and_(invoices.c.family_id == family_id, invoices.c.state == "published",
                   invoices.c.published_on <= today)


def parent_document(session: Session, family_id: str, invoice_id: str) -> Mapping:
    row = session.execute(sa.select(invoices).where(invoices.c.id == invoice_id,
                                                    _visible_to_parent(family_id, paris_today()))).mappings().first()
    if row is None:
        raise Problem(404, NOT_FOUND)
    return row


def parent_list(session: Session, family_id: str, status: str | None = None, year: int | None = None,
                page: int = 1, per_page: int = 50) -> dict:
    today = paris_today()
    rows = session.execute(sa.select(invoices).where(_visible_to_parent(family_id, today))
                           .order_by(invoices.c.issued_on.desc(), invoices.c.number.desc())).mappings().all()
    views = [summary_view(row, today) for row in rows if year is None or row["issued_on"].year == year]
    if status:
        views = [v for v in views if v["status"] == status]
    to_pay = sum(v["due_cents"] for v in views if v["status"] == "to_pay")
    credit = sum(v["remaining_credit_cents"] for v in views if v["status"] == "credit")
    start = (page - 1) * per_page
    return {"items": views[start:start + per_page], "total": len(views), "page": page, "per_page": per_page,
            "to_pay_cents": to_pay, "credit_cents": credit}


def parent_detail(session: Session, family_id: str, invoice_id: str) -> dict:
    return detail_view(session, parent_document(session, family_id, invoice_id))


# --- agents ---------------------------------------------------------------------------------------------------
def agent_document(session: Session, commune: str, invoice_id: str) -> Mapping:
    row = session.execute(sa.select(invoices).where(invoices.c.id == invoice_id, invoices.c.commune == commune)
                          ).mappings().first()
    if row is None:
        raise Problem(404, NOT_FOUND)
    return row


def agent_query(commune: str, *, month: str | None = None, status: str | None = None, family_id: str | None = None,
                run_id: str | None = None, kind: str | None = None, number: str | None = None,
                family_name: str | None = None):
    query = sa.select(invoices).where(invoices.c.commune == commune)
    query = query.where(invoices.c.run_id == run_id) if run_id else query.where(invoices.c.state != "draft")
    if month:
        query = query.where(invoices.c.month == str(Month.parse(month)))
    if family_id:
        query = query.where(invoices.c.family_id == family_id)
    if family_name:  # part of the family's name, any case; % and _ are taken literally
        query = query.where(invoices.c.family_name.icontains(family_name, autoescape=True))
    if kind:
        query = query.where(invoices.c.kind == kind)
    if number:
        query = query.where(invoices.c.number == number)
    due = invoices.c.total_cents - invoices.c.credited_cents - invoices.c.paid_cents
    if status == "to_pay":
        query = query.where(invoices.c.kind == "invoice", invoices.c.state == "published", due > 0)
    elif status == "paid":
        query = query.where(invoices.c.kind == "invoice", invoices.c.state == "published", due <= 0)
    elif status == "credit":
        query = query.where(invoices.c.kind == "credit_note", invoices.c.state == "published")
    elif status in ("cancelled", "draft"):
        query = query.where(invoices.c.state == status)
    return query


def agent_list(session: Session, commune: str, page: int = 1, per_page: int = 50, **filters) -> dict:
    query = agent_query(commune, **filters)
    total = session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar()
    rows = session.execute(query.order_by(invoices.c.family_name, invoices.c.number, invoices.c.id)
                           .limit(per_page).offset((page - 1) * per_page)).mappings()
    return {"items": [summary_view(row) for row in rows], "total": total, "page": page, "per_page": per_page}


def agent_detail(session: Session, commune: str, invoice_id: str) -> dict:
    return detail_view(session, agent_document(session, commune, invoice_id))

