"""Online payment through the provider's protocol: only a signed notification pays, once.

Forged, replayed, duplicated (also concurrently) and out-of-order notifications never pay twice
nor lose a payment; a double click makes one transaction; credits go first; direct-debit
invoices and amounts outside the bounds are refused before anything starts.
"""
from __future__ import annotations

import concurrent.futures

import sqlalchemy as sa

from billing_testkit import RETURN_URL, bank_notification, form_of, notify, past_month
from billing.models import payment_notifications, payments


def _invoiced_family(world, days: int = 4, price: int = 355, qf: int | None = 400):
    world.grid("REPAS", "Repas", [{"upper_qf": 500, "price_cents": price}, {"upper_qf": None, "price_cents": 500}])
    family = world.family(qf=qf)
    month, weekdays = past_month()
    for day in weekdays[:days]:
        world.book(family, day)
    world.run(month)
    [invoice] = world.invoices(family, "to_pay")
    return family, invoice


def _payments_of(world, family) -> list:
    with world.db.read() as s:
        return s.execute(sa.select(payments).where(payments.c.family_id == family.family_id)).mappings().all()


def test_a_signed_notification_pays_the_invoice_once_whatever_the_copies(world, client):
    family, invoice = _invoiced_family(world)
    assert invoice["due_cents"] == 4 * 355 and invoice["payable_online"]
    started = world.pay(family, [invoice["id"]])
    assert started.status_code == 201, started.text
    attempt = started.json()
    assert attempt["status"] == "pending" and attempt["amount_cents"] == 1420
    assert attempt["redirect"]["method"] == "POST" and form_of(attempt)["vads_amount"] == "1420"
    assert form_of(attempt)["vads_url_check"].endswith("/internal/payments/notify")
    assert form_of(attempt)["vads_url_return"].startswith(RETURN_URL)

    paid = bank_notification(attempt, "paid")
    first = notify(client, paid)
    assert first.status_code == 200 and first.json()["effect"] == "payment"
    for _ in range(3):  # the bank's retries and replays of the same message
        again = notify(client, paid)
        assert again.status_code == 200 and again.json()["effect"] == "none"
    [payment] = _payments_of(world, family)
    assert payment["amount_cents"] == 1420 and payment["method"] == "online"
    assert payment["number"].startswith("P-")
    assert world.invoices(family, "to_pay") == []
    [settled] = world.invoices(family, "paid")
    assert settled["paid_cents"] == 1420 and settled["due_cents"] == 0
    status = client.get(f"/internal/parent/payments/{attempt['transaction_id']}", headers=family.headers).json()
    assert status["status"] == "paid"


def test_concurrent_duplicate_notifications_count_one_payment(world, client):
    family, invoice = _invoiced_family(world)
    attempt = world.pay(family, [invoice["id"]]).json()
    paid = bank_notification(attempt, "paid")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: notify(client, paid), range(8)))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert sorted(a.json()["effect"] for a in answers) == ["none"] * 7 + ["payment"]
    assert len(_payments_of(world, family)) == 1


def test_forged_notifications_pay_nothing_and_are_logged(world, client):
    family, invoice = _invoiced_family(world)
    attempt = world.pay(family, [invoice["id"]]).json()
    forged = bank_notification(attempt, "paid", key="NotTheBanksKey")
    answer = notify(client, forged)
    assert answer.status_code == 400 and answer.headers["content-type"] == "application/problem+json"
    assert "signature" in answer.json()["detail"]
    tampered = bank_notification(attempt, "paid").replace(b"vads_amount=1420", b"vads_amount=1")
    assert notify(client, tampered).status_code == 400
    assert notify(client, b"garbage=%FF%FE&&&").status_code == 400
    assert notify(client, b"").status_code == 400
    assert _payments_of(world, family) == []
    with world.db.read() as s:
        logged = s.execute(sa.select(sa.func.count()).select_from(payment_notifications).where(
            payment_notifications.c.valid.is_(False))).scalar()
    assert logged >= 3
    assert world.invoices(family, "to_pay")[0]["due_cents"] == 1420


def test_a_paid_notification_for_another_amount_is_never_booked(world, client):
    family, invoice = _invoiced_family(world)
    attempt = world.pay(family, [invoice["id"]]).json()
    answer = notify(client, bank_notification(attempt, "paid", amount="100"))
    assert answer.status_code == 200 and answer.json()["effect"] == "amount_mismatch"
    assert _payments_of(world, family) == []
    flagged = client.get("/internal/agent/transactions", params={"anomalies": "true"}, headers=world.headers).json()
    assert [t["transaction_id"] for t in flagged["items"]] == [attempt["transaction_id"]]
    assert "différent" in flagged["items"][0]["anomalies"][0]["error"]
    assert client.get("/internal/agent/transactions", params={"anomalies": "true"},
                      headers=world.family().headers).status_code == 403


def test_out_of_order_refusal_after_payment_never_unpays(world, client):
    family, invoice = _invoiced_family(world)
    attempt = world.pay(family, [invoice["id"]]).json()
    paid, refused = bank_notification(attempt, "paid"), bank_notification(attempt, "refused")
    assert notify(client, paid).json()["effect"] == "payment"
    assert notify(client, refused).json()["effect"] == "none"
    assert len(_payments_of(world, family)) == 1
    assert client.get(f"/internal/parent/payments/{attempt['transaction_id']}",
                      headers=family.headers).json()["status"] == "paid"


def test_a_payment_notified_after_a_failure_is_still_money_received(world, client):
    family, invoice = _invoiced_family(world)
    attempt = world.pay(family, [invoice["id"]]).json()
    assert notify(client, bank_notification(attempt, "cancelled")).json()["effect"] == "failed"
    late = notify(client, bank_notification(attempt, "paid"))
    assert late.json()["effect"] == "late_payment"
    [payment] = _payments_of(world, family)
    assert payment["amount_cents"] == 1420
    assert world.invoices(family, "to_pay") == []


def test_double_click_makes_one_transaction(world, client):
    family, invoice = _invoiced_family(world)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: world.pay(family, [invoice["id"]], key="click-1"), range(4)))
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["transaction_id"] for a in answers}) == 1
    # without a key (another tab), the open attempt of the last 2 minutes is reused too
    again = world.pay(family, [invoice["id"]])
    assert again.json()["transaction_id"] == answers[0].json()["transaction_id"]


def test_credits_go_first_and_direct_debit_is_refused(world, client):
    world.grid("REPAS", "Repas", [{"upper_qf": None, "price_cents": 400}])
    family = world.family(qf=900)
    month, weekdays = past_month()
    for day in weekdays[:3]:
        world.book(family, day)
    world.run(month)
    [invoice] = world.invoices(family, "to_pay")
    # an offline overpayment on nothing owed... first: a credit of 5,00 € from a cheque surplus
    cheque = client.post("/internal/agent/payments", json={
        "family_id": family.family_id, "method": "cheque", "amount_cents": 1700, "excess": "credit",
        "invoice_ids": [invoice["id"]]}, headers=world.headers)
    assert cheque.status_code == 201, cheque.text
    assert world.invoices(family, "to_pay") == []
    [credit] = world.invoices(family, "credit")
    assert credit["remaining_credit_cents"] == 500

    other = world.family(qf=900)
    client.put(f"/internal/agent/families/{other.family_id}/account", json={"direct_debit": True},
               headers=world.headers)
    for day in weekdays[:2]:
        world.book(other, day)
    world.run(month)
    [debit] = world.invoices(other, "to_pay")
    assert debit["direct_debit"] and not debit["payable_online"]
    refused = world.pay(other, [debit["id"]])
    assert refused.status_code == 422 and "prélèvement" in refused.json()["detail"]


def test_a_parent_cannot_pay_or_see_another_familys_invoice(world, client):
    family, invoice = _invoiced_family(world)
    stranger = world.family()
    assert world.pay(stranger, [invoice["id"]]).status_code == 404
    assert client.get(f"/internal/parent/invoices/{invoice['id']}", headers=stranger.headers).status_code == 404
    assert client.get(f"/internal/parent/invoices/{invoice['id']}/pdf", headers=stranger.headers).status_code == 404
    attempt = world.pay(family, [invoice["id"]]).json()
    assert client.get(f"/internal/parent/payments/{attempt['transaction_id']}",
                      headers=stranger.headers).status_code == 404


def test_amount_bounds_are_checked_before_starting(world, client):
    family, invoice = _invoiced_family(world)
    settings = client.put("/internal/agent/settings", json={"payment_max_cents": 1000}, headers=world.headers)
    assert settings.status_code == 200, settings.text
    refused = world.pay(family, [invoice["id"]])
    assert refused.status_code == 422 and "maximum" in refused.json()["detail"]


def test_the_browser_return_never_pays(world, client):
    family, invoice = _invoiced_family(world)
    attempt = world.pay(family, [invoice["id"]]).json()
    fields = bank_notification(attempt, "paid")  # the same signed fields, carried by the browser
    answer = client.post(f"/internal/payments/return?transaction={attempt['transaction_id']}", content=fields,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"transaction_id": attempt["transaction_id"], "status": "pending",
                             "provider_says": "paid", "proves_payment": False}
    assert _payments_of(world, family) == []
