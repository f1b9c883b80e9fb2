"""The books: gap-free numbers, credit notes and their use, what an invoice still owes.

Numbers are allocated under a row lock on each (commune, series, year) counter, in the
transaction that stores the documents (billing.domain.numbering): a rollback gives them back,
two finalisations wait for each other, so the series never has a gap or a duplicate.
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit.db import dialect_insert
from servicekit.types import utcnow

from billing.domain.calendar import Month
from billing.domain.invoicing import CreditUse, OpenCredit
from billing.domain.numbering import Series, number_in_sequence
from billing.models import credit_uses, families, invoice_lines, invoices, number_series
from billing.timeutil import paris_today


def allocate_numbers(session: Session, commune: str, documents: list[tuple[Series, Month]]) -> list[str]:
    """Numbers for `documents` (in their order), each in its series and year; locks the counters."""
    keys = sorted({(series.value, month.year) for series, month in documents})
    if not keys:
        return []
    for series, year in keys:
        session.execute(dialect_insert(session, number_series)
                        .values(commune=commune, series=series, year=year, last_counter=0).on_conflict_do_nothing())
    rows = session.execute(
        sa.select(number_series).where(number_series.c.commune == commune,
                                       sa.tuple_(number_series.c.series, number_series.c.year).in_(keys))
        .order_by(number_series.c.series, number_series.c.year).with_for_update()).mappings()
    last = {(Series(row["series"]), row["year"]): row["last_counter"] for row in rows}
    numbers, counters = number_in_sequence(documents, last)
    for (series, year), counter in counters.items():
        if counter != last.get((series, year)):
            session.execute(number_series.update().where(
                number_series.c.commune == commune, number_series.c.series == series.value,
                number_series.c.year == year).values(last_counter=counter))
    return [str(number) for number in numbers]


def family_name(session: Session, commune: str, family_id: str) -> str:
    name = session.execute(sa.select(families.c.family_name).where(
        families.c.family_id == family_id, families.c.commune == commune)).scalar()
    return name or "Famille"


def owed(row: Mapping) -> int:
    """What an invoice still owes (0 for a credit note or a cancelled document)."""
    if row["kind"] != "invoice" or row["state"] != "published":
        return 0
    return max(row["total_cents"] - row["credited_cents"] - row["paid_cents"], 0)


# --- credits -----------------------------------------------------------------------------------------------
def open_credits(session: Session, commune: str, family_ids: Iterable[str] | None = None,
                 lock: bool = True) -> list[OpenCredit]:
    query = sa.select(invoices.c.id, invoices.c.family_id, invoices.c.commune, invoices.c.issued_on,
                      invoices.c.remaining_cents).where(
        invoices.c.commune == commune, invoices.c.kind == "credit_note", invoices.c.state == "published",
        invoices.c.remaining_cents > 0).order_by(invoices.c.issued_on, invoices.c.id)
    if family_ids is not None:
        query = query.where(invoices.c.family_id.in_(list(family_ids)))
    if lock:
        query = query.with_for_update()
    return [OpenCredit(r.id, r.family_id, r.commune, r.issued_on, r.remaining_cents)
            for r in session.execute(query)]


def use_credits(session: Session, invoice_id: str, uses: Iterable[CreditUse], today: dt.date) -> int:
    """Record credit uses on an invoice (the credit notes were locked by open_credits)."""
    total = 0
    for use in uses:
        session.execute(credit_uses.insert().values(credit_id=use.credit_id, invoice_id=invoice_id,
                                                    amount_cents=use.amount_cents, used_on=today, reversed=False,
                                                    created_at=utcnow()))
        session.execute(invoices.update().where(invoices.c.id == use.credit_id)
                        .values(remaining_cents=invoices.c.remaining_cents - use.amount_cents))
        total += use.amount_cents
    if total:
        session.execute(invoices.update().where(invoices.c.id == invoice_id)
                        .values(credited_cents=invoices.c.credited_cents + total))
    return total


def reverse_credit_uses(session: Session, invoice_id: str) -> int:
    """Give back the credits used on a document that is cancelled (a prepaid cart not paid)."""
    rows = session.execute(sa.select(credit_uses).where(credit_uses.c.invoice_id == invoice_id,
                                                        credit_uses.c.reversed.is_(False))).mappings().all()
    for row in rows:
        session.execute(invoices.update().where(invoices.c.id == row["credit_id"])
                        .values(remaining_cents=invoices.c.remaining_cents + row["amount_cents"]))
        session.execute(credit_uses.update().where(credit_uses.c.id == row["id"]).values(reversed=True))
    given_back = sum(row["amount_cents"] for row in rows)
    if given_back:
        session.execute(invoices.update().where(invoices.c.id == invoice_id)
                        .values(credited_cents=invoices.c.credited_cents - given_back))
    return given_back


def issue_credit_note(session: Session, commune: str, family_id: str, amount_cents: int, label: str, origin: str,
                      *, day: dt.date | None = None, child_id: str = "", child_name: str = "",
                      day_key: str | None = None, note: str | None = None) -> str:
    """A numbered credit note (avoir) of `amount_cents` with one line, usable at once."""
    today = paris_today()
    day = day or today
    month = Month.of(today)
    [number] = allocate_numbers(session, commune, [(Series.CREDIT_NOTE, month)])
    credit_id = str(uuid.uuid4())
    now = utcnow()
    session.execute(invoices.insert().values(
        id=credit_id, commune=commune, family_id=family_id, family_name=family_name(session, commune, family_id),
        kind="credit_note", origin=origin, state="published", month=str(month), number=number,
        total_cents=amount_cents, credited_cents=0, paid_cents=0, remaining_cents=amount_cents, issued_on=today,
        published_on=today, direct_debit=False, note=note, created_at=now, finalised_at=now))
    session.execute(invoice_lines.insert().values(
        invoice_id=credit_id, position=0, day_key=day_key or f"credit:{credit_id}", child_id=child_id,
        child_name=child_name, prestation_id=None, prestation_label=label, service_label="Avoir", childcare=False,
        day=day, reason=None, unit_price_cents=-amount_cents, amount_cents=-amount_cents, label=label))
    from billing import events

    events.credit_issued(session, credit_id=credit_id, number=number, family_id=family_id, commune=commune,
                         amount_cents=amount_cents, reason=label)
    return credit_id


def credit_cancelled_day(session: Session, event) -> str | None:
    """booking gave back a day already on a published document (a prepaid cart's receipt, or a
    month already invoiced) with a refund or a credit: what it cost becomes a credit note. A day
    not invoiced yet needs nothing (the run prices its cancellation). Idempotent on the day."""
    from billing.projections import day_key as make_key

    key = make_key(event.child_id, event.prestation_id, event.session_date)
    credit_key = f"cancel:{key}"
    if session.execute(sa.select(invoice_lines.c.id).where(invoice_lines.c.day_key == credit_key)).first():
        return None
    paid = session.execute(
        sa.select(invoice_lines.c.amount_cents, invoice_lines.c.child_name, invoice_lines.c.label)
        .join(invoices, invoices.c.id == invoice_lines.c.invoice_id)
        .where(invoice_lines.c.day_key == key, invoices.c.kind == "invoice", invoices.c.state == "published",
               invoices.c.family_id == event.family_id, invoices.c.commune == event.commune)
        .order_by(invoices.c.created_at)).first()
    if paid is None or paid.amount_cents <= 0:
        return None
    label = f"Annulation — {paid.label}"
    return issue_credit_note(session, event.commune, event.family_id, paid.amount_cents, label, "cancellation",
                             day=event.session_date, child_id=event.child_id, child_name=paid.child_name,
                             day_key=credit_key, note=f"booking {event.booking_id}, refund={event.refund}")
