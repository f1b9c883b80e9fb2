"""`seed-demo --with-history`: the demo family's past invoiced with the real run, finalisation and
payment use cases (gap-free numbers, totals from the grids and the demo QF, September-October paid
at the régie, November to pay online, PDFs), idempotent, and booking's events for the same days,
arriving later, change nothing."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from billing_testkit import envelope, outbox_events

from contracts import booking as booking_contract
from contracts import demo as history

from billing import documents, pdf, projections, seed
from billing.models import booked_days, invoice_lines, invoices, invoicing_runs, payments

TODAY = dt.date(2026, 12, 1)
GRID = {ref: prices for ref, _label, _service, _childcare, prices in seed.GRIDS}
BRACKET = 2  # the demo QF 820: 800 < QF <= 1200


def _seed(db, today: dt.date = TODAY) -> list[str]:
    with db.transaction() as s:
        seed.seed(s)
    with db.transaction() as s:
        return seed.seed_history(s, today)


def _family_invoices(db) -> list[dict]:
    with db.read() as s:
        return [dict(r) for r in s.execute(sa.select(invoices).where(invoices.c.family_id == seed.DEMO_FAMILY_ID)
                                           .order_by(invoices.c.month)).mappings()]


def _snapshot(db) -> list[tuple]:
    with db.read() as s:
        return [tuple(r) for r in s.execute(sa.select(booked_days).order_by(booked_days.c.day_key))]


def test_the_past_months_are_invoiced_numbered_paid_and_the_last_one_is_to_pay(db):
    assert _seed(db) == ["2026-09", "2026-10", "2026-11"]
    assert _seed(db) == []  # `make run` twice: nothing new
    found = _family_invoices(db)
    assert [i["month"] for i in found] == ["2026-09", "2026-10", "2026-11"]
    assert {(i["kind"], i["origin"], i["state"]) for i in found} == {("invoice", "monthly", "published")}

    expected = {}  # independently: each present day at the grid's price for the QF's bracket, absences free
    for day in history.past_days(TODAY):
        month = day.day.strftime("%Y-%m")
        expected[month] = expected.get(month, 0) + (GRID[day.price_ref][BRACKET] if day.status == "present" else 0)
    assert expected == {"2026-09": 17 * 390 + 8 * 290, "2026-10": 9 * 390 + 5 * 290, "2026-11": 15 * 390 + 8 * 290}
    assert {i["month"]: i["total_cents"] for i in found} == expected
    with db.read() as s:
        lines = s.execute(sa.select(invoice_lines.c.invoice_id, sa.func.count(),
                                    sa.func.sum(invoice_lines.c.amount_cents))
                          .group_by(invoice_lines.c.invoice_id)).all()
    per_invoice = {invoice_id: (count, total) for invoice_id, count, total in lines}
    for invoice in found:  # one line per booked day (absences at 0 €), adding up to the total
        days = [d for d in history.past_days(TODAY) if d.day.strftime("%Y-%m") == invoice["month"]]
        assert per_invoice[invoice["id"]] == (len(days), invoice["total_cents"])

    numbers = [i["number"] for i in found]  # gap-free, in order
    assert [n.rsplit("-", 1)[0] for n in numbers] == ["F-2026-09", "F-2026-10", "F-2026-11"]
    assert [int(n.rsplit("-", 1)[1]) for n in numbers] == [1, 2, 3]

    assert [i["paid_cents"] for i in found] == [expected["2026-09"], expected["2026-10"], 0]
    with db.read() as s:
        paid = s.execute(sa.select(payments.c.method, payments.c.amount_cents).order_by(payments.c.number)).all()
        runs = s.execute(sa.select(invoicing_runs.c.month, invoicing_runs.c.state)
                         .order_by(invoicing_runs.c.month)).all()
    assert [tuple(p) for p in paid] == [("cheque", expected["2026-09"]), ("direct_debit", expected["2026-10"])]
    assert [tuple(r) for r in runs] == [("2026-09", "finalised"), ("2026-10", "finalised"), ("2026-11", "finalised")]
    locked = outbox_events(db, "period.locked.v1")
    assert [(e["first"], e["last"]) for e in locked] == [
        ("2026-09-01", "2026-09-30"), ("2026-10-01", "2026-10-31"), ("2026-11-01", "2026-11-30")]

    with db.read() as s:  # what the parent sees: November to pay online now, the others paid; PDFs render
        mine = documents.parent_list(s, seed.DEMO_FAMILY_ID)
        assert [(i["number"], i["status"]) for i in mine["items"]] == [
            (numbers[2], "to_pay"), (numbers[1], "paid"), (numbers[0], "paid")]
        assert mine["to_pay_cents"] == expected["2026-11"]
        assert found[2]["last_day_online"] >= TODAY and not found[2]["direct_debit"]
        assert pdf.parent_invoice_pdf(s, seed.DEMO_FAMILY_ID, found[2]["id"]).startswith(b"%PDF")


def test_bookings_events_arriving_later_change_nothing(db):
    _seed(db)
    before, invoices_before = _snapshot(db), _family_invoices(db)
    with db.transaction() as s:
        for day in history.past_days(TODAY):  # what booking's outbox holds for the same days
            common = dict(family_id=history.FAMILY_ID, child_id=day.child_id, commune=history.COMMUNE,
                          service_id="cantine" if day.prestation_code == "cantine-repas" else "periscolaire",
                          prestation_id=day.prestation_id, session_date=day.day, payment_mode="end_of_month",
                          price_ref=day.price_ref)
            projections.on_booking_confirmed(s, envelope(booking_contract.BookingConfirmed(
                booking_id=day.booking_id, via="agent", confirmed_at=day.booked_at, **common), "booking"))
            projections.on_attendance_recorded(s, envelope(booking_contract.AttendanceRecorded(
                status=day.status, booked=True, recorded_at=day.marked_at, **common), "booking"))
    assert _snapshot(db) == before
    assert _family_invoices(db) == invoices_before


def test_a_month_later_december_is_invoiced_november_paid_and_facts_booking_sent_since_stay(db):
    _seed(db)
    lea_day = next(d for d in history.past_days(dt.date(2027, 1, 5)) if d.day.month == 12 and d.child_id == history.LEA)
    real_id, real_at = "booked-by-the-fixed-days", dt.datetime(2026, 12, 1, 19, 0, tzinfo=dt.timezone.utc)
    with db.transaction() as s:  # December's canteen days were booked as fixed days on the first `make run`
        projections.on_booking_confirmed(s, envelope(booking_contract.BookingConfirmed(
            booking_id=real_id, via="agent", confirmed_at=real_at, family_id=history.FAMILY_ID,
            child_id=lea_day.child_id, commune=history.COMMUNE, service_id="cantine",
            prestation_id=lea_day.prestation_id, session_date=lea_day.day, payment_mode="end_of_month",
            price_ref=lea_day.price_ref), "booking"))
    assert _seed(db, today=dt.date(2027, 1, 5)) == ["2026-12"]
    with db.read() as s:
        row = s.execute(sa.select(booked_days).where(booked_days.c.day_key == projections.day_key(
            lea_day.child_id, lea_day.prestation_id, lea_day.day))).mappings().one()
    assert (row["booking_id"], row["attendance"]) == (real_id, "present")  # the newer fact stays; the mark is added
    found = {i["month"]: i for i in _family_invoices(db)}
    december = [d for d in history.past_days(dt.date(2027, 1, 5)) if d.day.month == 12]
    assert found["2026-12"]["total_cents"] == sum(GRID[d.price_ref][BRACKET] for d in december) > 0
    assert found["2026-11"]["paid_cents"] == found["2026-11"]["total_cents"]
    assert found["2026-12"]["paid_cents"] == 0
    assert history.past_months(dt.date(2026, 9, 30)) == []  # never before the rentrée
