"""Invoices, credit notes and the yearly attestation as PDF (WeasyPrint from Jinja templates, French).

Rendering takes tens of milliseconds of CPU: the API runs it in a worker thread (run_read)."""
from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session

from servicekit.problems import Problem

from billing import documents
from billing.domain.attestation import Child, InvoicedLine, PaymentPart, yearly_attestation
from billing.domain.calendar import long_date
from billing.domain.money import format_euros
from billing.models import allocations, children, families, invoice_lines, payments
from billing.timeutil import paris_today

TEMPLATES = Path(__file__).with_name("templates")


@lru_cache
def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    env.filters["euros"] = format_euros
    env.filters["fr_date"] = lambda value: long_date(dt.date.fromisoformat(value) if isinstance(value, str)
                                                     else value) if value else "—"
    return env


@lru_cache
def _css() -> str:
    return (TEMPLATES / "base.css").read_text(encoding="utf-8")


def commune_label(commune: str) -> str:
    return commune.replace("-", " ").title()


def render(template: str, **context) -> bytes:
    from weasyprint import HTML

    html = _env().get_template(template).render(css=_css(), **context)
    return HTML(string=html, base_url=str(TEMPLATES)).write_pdf()


def invoice_pdf(view: dict) -> bytes:
    title = "Facture" if view["kind"] == "invoice" else "Avoir"
    return render("invoice.html", doc=view, title=title, commune_label=commune_label(view["commune"]))


def parent_invoice_pdf(session: Session, family_id: str, invoice_id: str) -> bytes:
    return invoice_pdf(documents.parent_detail(session, family_id, invoice_id))


def agent_invoice_pdf(session: Session, commune: str, invoice_id: str) -> bytes:
    return invoice_pdf(documents.agent_detail(session, commune, invoice_id))


# --- the yearly attestation ------------------------------------------------------------------------------------
def attestation_data(session: Session, family_id: str, commune: str, year: int):
    parts = session.execute(
        sa.select(payments.c.id, allocations.c.invoice_id, payments.c.received_on, allocations.c.amount_cents,
                  payments.c.method).join(allocations, allocations.c.payment_id == payments.c.id)
        .where(payments.c.family_id == family_id, payments.c.commune == commune,
               payments.c.received_on >= dt.date(year, 1, 1), payments.c.received_on <= dt.date(year, 12, 31))).all()
    invoice_ids = {p.invoice_id for p in parts}
    lines = session.execute(sa.select(invoice_lines.c.invoice_id, invoice_lines.c.child_id,
                                      invoice_lines.c.service_label, invoice_lines.c.childcare,
                                      invoice_lines.c.amount_cents)
                            .where(invoice_lines.c.invoice_id.in_(list(invoice_ids)))).all() if invoice_ids else []
    kids = session.execute(sa.select(children).where(children.c.family_id == family_id)).mappings().all()
    return yearly_attestation(
        year, family_id, commune,
        [Child(k["child_id"], k["given_name"], k["birth_date"]) for k in kids],
        [InvoicedLine(l.invoice_id, l.child_id, l.service_label, bool(l.childcare), l.amount_cents) for l in lines],
        [PaymentPart(p.id, p.invoice_id, p.received_on, p.amount_cents, p.method) for p in parts])


def _family_commune(session: Session, family_id: str, commune: str | None) -> tuple[str, str]:
    rows = session.execute(sa.select(families.c.commune, families.c.family_name)
                           .where(families.c.family_id == family_id)).all()
    known = {r.commune: r.family_name for r in rows}
    if commune is None:
        if len(known) != 1:
            raise Problem(422, "Précisez la commune de l'attestation (paramètre commune).")
        commune = next(iter(known))
    if commune not in known:
        raise Problem(404, "Aucune attestation pour cette commune.")
    return commune, known[commune] or "Famille"


def attestation_pdf(session: Session, family_id: str, year: int, commune: str | None = None) -> bytes:
    if year > paris_today().year or year < 2000:
        raise Problem(422, "Année d'attestation invalide.")
    commune, family_name = _family_commune(session, family_id, commune)
    data = attestation_data(session, family_id, commune, year)
    return render("attestation.html", a=data, family_name=family_name, commune_label=commune_label(commune),
                  today=paris_today())


def attestation_view(session: Session, family_id: str, year: int, commune: str | None = None) -> dict:
    commune, family_name = _family_commune(session, family_id, commune)
    a = attestation_data(session, family_id, commune, year)
    return {"year": a.year, "commune": commune, "family_id": family_id, "family_name": family_name,
            "paid_cents": a.paid_cents, "tax_childcare_cents": a.tax_childcare_cents,
            "by_service": [{"label": label, "amount_cents": cents} for label, cents in a.by_service],
            "by_child": [{"child_id": c.child_id, "name": c.name, "paid_cents": c.paid_cents,
                          "tax_childcare_cents": c.tax_childcare_cents,
                          "by_service": [{"label": label, "amount_cents": cents} for label, cents in c.by_service]}
                         for c in a.by_child]}

