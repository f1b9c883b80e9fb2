"""The worker's side: booking's facts in any order, the pending-payment re-check, the schedule."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from contracts import booking as booking_contract
from servicekit.types import utcnow

from billing import payflow, runs
from billing.models import booked_days, invoicing_runs
from billing.payments import PaymentOutcome, PaymentStatus
from billing.projections import day_key
from billing_testkit import past_month


def _day(world, family, day):
    with world.db.read() as s:
        return s.execute(sa.select(booked_days).where(
            booked_days.c.day_key == day_key(family.child_id, world.prestations["REPAS"], day))).mappings().one()


def test_booking_facts_out_of_order_never_move_backwards(world):
    world.grid("REPAS", "Repas", [{"upper_qf": None, "price_cents": 300}])
    family = world.family()
    _, weekdays = past_month()
    day = weekdays[0]
    slot = world._slot(family, family.child_id, "REPAS", day, "end_of_month")
    later, earlier = utcnow(), utcnow() - dt.timedelta(minutes=5)
    world.deliver(booking_contract.BookingCancelled(booking_id="b1", refund="none", by="agent", cancelled_at=later,
                                                    **slot), "booking")
    world.deliver(booking_contract.BookingConfirmed(booking_id="b1", via="cart", confirmed_at=earlier, **slot),
                  "booking")
    row = _day(world, family, day)
    assert row["booking_status"] == "cancelled" and row["refund"] == "none"
    attendance = {k: v for k, v in slot.items() if k != "payment_mode"}
    world.deliver(booking_contract.AttendanceRecorded(status="present", booked=True, payment_mode="end_of_month",
                                                      recorded_at=later, **attendance), "booking")
    world.deliver(booking_contract.AttendanceRecorded(status="absent_unjustified", booked=True,
                                                      payment_mode="end_of_month", recorded_at=earlier,
                                                      **attendance), "booking")
    assert _day(world, family, day)["attendance"] == "present"


class CheckableBank:
    """The test bank, askable about an attempt (as PayFiP is): it says the attempt was paid."""

    def __init__(self, bank):
        self.bank = bank
        self.asked = []

    def __getattr__(self, name):
        return getattr(self.bank, name)

    @property
    def can_check_status(self):
        return True

    def check_status(self, transaction_id, started_at):
        self.asked.append(transaction_id)
        return PaymentOutcome(transaction_id=transaction_id, status=PaymentStatus.PAID, amount_cents=self.amount,
                              bank_reference="REF-1", source="status_check")


def test_the_recheck_job_asks_the_provider_about_pending_attempts(world, client, provider):
    world.grid("REPAS", "Repas", [{"upper_qf": None, "price_cents": 450}])
    family = world.family()
    month, weekdays = past_month()
    world.book(family, weekdays[0])
    world.run(month)
    [invoice] = world.invoices(family, "to_pay")
    attempt = world.pay(family, [invoice["id"]]).json()
    bank = CheckableBank(provider)
    bank.amount = 450
    too_soon = payflow.recheck_pending(world.db, bank, now=utcnow() + dt.timedelta(minutes=1))
    assert attempt["transaction_id"] not in bank.asked and too_soon["checked"] == 0
    payflow.recheck_pending(world.db, bank, now=utcnow() + dt.timedelta(minutes=10))
    assert world.invoices(family, "to_pay") == []
    status = client.get(f"/internal/parent/payments/{attempt['transaction_id']}", headers=family.headers).json()
    assert status["status"] == "paid"


def test_an_attempt_undecided_after_three_hours_expires(world, client, provider):
    world.grid("REPAS", "Repas", [{"upper_qf": None, "price_cents": 450}])
    family = world.family()
    month, weekdays = past_month()
    world.book(family, weekdays[0])
    world.run(month)
    [invoice] = world.invoices(family, "to_pay")
    attempt = world.pay(family, [invoice["id"]]).json()
    payflow.recheck_pending(world.db, provider, now=utcnow() + dt.timedelta(hours=3, minutes=5))
    status = client.get(f"/internal/parent/payments/{attempt['transaction_id']}", headers=family.headers).json()
    assert status["status"] == "expired"
    assert world.invoices(family, "to_pay")[0]["due_cents"] == 450  # still owed, payable again


def test_the_schedule_drafts_last_months_run_once(world, client, db):
    world.grid("REPAS", "Repas", [{"upper_qf": None, "price_cents": 300}])
    family = world.family()
    month, weekdays = past_month()
    world.book(family, weekdays[0])
    today = dt.date.today()
    client.put("/internal/agent/settings", json={"schedule_day": min(today.day, 28)}, headers=world.headers)
    scheduled_day = today.replace(day=min(today.day, 28))
    assert runs.scheduled_runs(db, scheduled_day) >= 1
    with db.read() as s:
        drafts = s.execute(sa.select(invoicing_runs).where(invoicing_runs.c.commune == world.commune)).mappings().all()
    assert [(r["month"], r["state"], r["created_by"]) for r in drafts] == [(month, "draft", "schedule")]
    runs.scheduled_runs(db, scheduled_day)
    with db.read() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(invoicing_runs).where(
            invoicing_runs.c.commune == world.commune)).scalar() == 1



def test_the_demo_seed_prices_the_demo_familys_carts(db):
    from billing import seed
    from billing.models import price_grids

    for _ in range(2):  # idempotent
        with db.transaction() as s:
            seed.seed(s)
    with db.read() as s:
        grids = s.execute(sa.select(price_grids.c.price_ref).where(price_grids.c.commune == seed.COMMUNE)).all()
    assert len(grids) == len(seed.GRIDS)
    day = dt.date.today() + dt.timedelta(days=9)
    line = booking_contract.CartLineFact(child_id=seed.DEMO_CHILDREN[0][0], prestation_id="p", service_id="s",
                                         commune=seed.COMMUNE, session_date=day, action="book", status="held",
                                         payment_mode="prepaid", price_ref="ALSH-MERCREDI-JOURNEE")
    from billing_testkit import envelope

    with db.transaction() as s:
        payflow.on_cart_validated(s, envelope(booking_contract.CartValidated(
            cart_id="demo-cart", family_id=seed.DEMO_FAMILY_ID, parent_id="p", state="awaiting_payment",
            validated_at=utcnow(), hold_expires_at=utcnow() + dt.timedelta(hours=1), lines=[line]), "booking"))
    from billing.models import payment_transactions

    with db.read() as s:
        amount = s.execute(sa.select(payment_transactions.c.amount_cents).where(
            payment_transactions.c.cart_id == "demo-cart")).scalar()
    assert amount == 1300  # QF 820: the third bracket of "Mercredi journée"


def test_an_accepted_qf_request_sets_the_familys_qf_unless_an_agent_entered_one_since(world, client):
    from contracts import requests as requests_contract

    family = world.family()

    def accepted(qf, at):
        world.deliver(requests_contract.QuotientUpdateAccepted(
            request_id="r1", family_id=family.family_id, commune=world.commune, quotient_familial=qf,
            valid_from=dt.date.today(), valid_until=dt.date.today() + dt.timedelta(days=365), accepted_at=at),
            "requests")

    accepted(640, utcnow())
    account = client.get(f"/internal/agent/families/{family.family_id}/account", headers=world.headers).json()
    assert account["qf"] == 640 and account["qf_source"] == "request"
    client.put(f"/internal/agent/families/{family.family_id}/account", json={"qf": 700}, headers=world.headers)
    accepted(500, utcnow() - dt.timedelta(hours=1))  # an older acceptance delivered late
    account = client.get(f"/internal/agent/families/{family.family_id}/account", headers=world.headers).json()
    assert account["qf"] == 700 and account["qf_source"] == "agent"
