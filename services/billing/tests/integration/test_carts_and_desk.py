"""Prepaid carts (booking's cart.validated.v1), offline payments, PDFs, the attestation, exports."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from contracts import booking as booking_contract
from servicekit.types import utcnow

from billing import payflow
from billing.models import invoices, payment_transactions
from billing_testkit import RETURN_URL, bank_notification, notify, outbox_events, past_month, unique


def _cart(world, family, days, ref="ALSH", state="awaiting_payment", hold_minutes=60, status="held", mode="prepaid",
          validated_at=None):
    """booking's cart.validated.v1 of one line per day (a price reference without a grid: another prestation)."""
    lines = [booking_contract.CartLineFact(
        child_id=family.child_id, prestation_id=world.prestations.get(ref, f"p-{ref}"), service_id="svc",
        commune=world.commune, session_date=day, action="book", status=status, payment_mode=mode, price_ref=ref,
        booking_id=unique("bk")) for day in days]
    cart_id = unique("cart")
    validated_at = validated_at or utcnow()
    world.deliver(booking_contract.CartValidated(
        cart_id=cart_id, family_id=family.family_id, parent_id=family.caller.sub, state=state,
        validated_at=validated_at, hold_expires_at=validated_at + dt.timedelta(minutes=hold_minutes), lines=lines),
        "booking")
    return cart_id


def _started_payment(world, client):
    """A one-day prepaid cart (10,00 €) whose online payment the parent started: (family, cart id, attempt)."""
    world.grid("ALSH", "Mercredi", [{"upper_qf": None, "price_cents": 1000}])
    family = world.family()
    cart_id = _cart(world, family, _days(1))
    attempt = client.post(f"/internal/parent/carts/{cart_id}/payment", json={"return_url": RETURN_URL},
                          headers=family.headers).json()
    return family, cart_id, attempt


def _family_with_credit(world, client):
    """A family whose last month (one 5,00 € meal) was paid with 20,00 € in cash: a 15,00 € credit.
    (family, the month's invoice)"""
    world.grid("REPAS", "Repas", [{"upper_qf": None, "price_cents": 500}])
    family = world.family()
    month, weekdays = past_month()
    world.book(family, weekdays[0], "REPAS")
    world.run(month)
    [invoice] = world.invoices(family, "to_pay")
    client.post("/internal/agent/payments", json={"family_id": family.family_id, "method": "cash",
                                                  "amount_cents": 2000, "excess": "credit"}, headers=world.headers)
    return family, invoice


def _events(world, kind, cart_id):
    return [e for e in outbox_events(world.db, kind) if e["cart_id"] == cart_id]


def _days(count=2):
    today = dt.date.today()
    return [today + dt.timedelta(days=7 + i) for i in range(count)]


def test_a_prepaid_cart_is_paid_online_and_booking_is_told_once(world, client):
    world.grid("ALSH", "Mercredi journée", [{"upper_qf": 600, "price_cents": 800}, {"upper_qf": None, "price_cents": 1500}],
               childcare=True, service_label="Accueil de loisirs")
    family = world.family(qf=500)
    cart_id = _cart(world, family, _days(2))
    status = client.get(f"/internal/parent/carts/{cart_id}/payment", headers=family.headers).json()
    assert status["status"] == "created" and status["amount_cents"] == 1600
    started = client.post(f"/internal/parent/carts/{cart_id}/payment", json={"return_url": RETURN_URL},
                          headers=family.headers)
    assert started.status_code == 201, started.text
    attempt = started.json()
    again = client.post(f"/internal/parent/carts/{cart_id}/payment", json={"return_url": RETURN_URL},
                        headers=family.headers).json()
    assert again["transaction_id"] == attempt["transaction_id"]  # double click: same attempt, same form
    paid = bank_notification(attempt, "paid")
    assert notify(client, paid).json()["effect"] == "payment"
    assert notify(client, paid).json()["effect"] == "none"
    [succeeded] = _events(world, "payment.succeeded.v1", cart_id)
    assert succeeded["amount_cents"] == 1600 and succeeded["family_id"] == family.family_id
    [receipt] = world.invoices(family, "paid")
    assert receipt["origin"] == "cart" and receipt["number"].startswith("F-")
    # the paid day cancelled with a credit: the family gets a credit note of its price
    world.deliver(booking_contract.BookingCancelled(
        booking_id="bk", family_id=family.family_id, child_id=family.child_id, commune=world.commune,
        service_id="svc", prestation_id=world.prestations["ALSH"], session_date=_days(2)[0], payment_mode="prepaid",
        price_ref="ALSH", refund="credit", by="agent", cancelled_at=utcnow()), "booking")
    [credit] = world.invoices(family, "credit")
    assert credit["total_cents"] == 800 and credit["remaining_credit_cents"] == 800


def test_payment_outcomes_name_the_validation_they_are_for(world, client):
    """booking settles only the validation paid for: a cart validated again after its hold ran out
    is not paid (nor released) by the first validation's attempt."""
    world.grid("ALSH", "Mercredi", [{"upper_qf": None, "price_cents": 1000}])
    family = world.family()
    for outcome, kind in (("paid", "payment.succeeded.v1"), ("refused", "payment.failed.v1")):
        validated_at = utcnow()
        cart_id = _cart(world, family, _days(1), validated_at=validated_at)
        attempt = client.post(f"/internal/parent/carts/{cart_id}/payment", json={"return_url": RETURN_URL},
                              headers=family.headers).json()
        notify(client, bank_notification(attempt, outcome))
        [event] = _events(world, kind, cart_id)
        assert dt.datetime.fromisoformat(event["validated_at"]) == validated_at
    covered, _invoice = _family_with_credit(world, client)  # paid by credits at once, or refused at once
    for family, ref, kind in ((covered, "ALSH", "payment.succeeded.v1"), (covered, "SANSGRILLE", "payment.failed.v1")):
        validated_at = utcnow()
        [event] = _events(world, kind, _cart(world, family, _days(1), ref=ref, validated_at=validated_at))
        assert dt.datetime.fromisoformat(event["validated_at"]) == validated_at


def test_a_refused_payment_reopens_the_cart_and_a_late_payment_becomes_a_credit(world, client):
    family, cart_id, attempt = _started_payment(world, client)
    assert notify(client, bank_notification(attempt, "refused")).json()["effect"] == "failed"
    [failed] = _events(world, "payment.failed.v1", cart_id)
    assert failed["reason"] == "refused"
    assert world.invoices(family, "to_pay") == []  # the receipt is cancelled
    # the bank then says paid (out of order): the money is kept as a credit, booking is not told
    assert notify(client, bank_notification(attempt, "paid")).json()["effect"] == "late_payment"
    assert _events(world, "payment.succeeded.v1", cart_id) == []
    [credit] = world.invoices(family, "credit")
    assert credit["remaining_credit_cents"] == 1000


def _abandon(world, family, cart_id):
    with world.db.read() as s:
        validated_at = s.execute(sa.select(invoices.c.cart_validated_at).where(invoices.c.cart_id == cart_id)).scalar()
    return world.deliver(booking_contract.CartAbandoned(cart_id=cart_id, family_id=family.family_id,
                                                        validated_at=validated_at, abandoned_at=utcnow()), "booking")


def test_an_abandoned_cart_closes_its_attempt_and_a_payment_after_it_becomes_a_credit(world, client):
    family, cart_id, attempt = _started_payment(world, client)
    _abandon(world, family, cart_id)
    _abandon(world, family, cart_id)  # delivered twice: nothing more
    status = client.get(f"/internal/parent/carts/{cart_id}/payment", headers=family.headers).json()
    assert status["status"] == "abandoned" and status["redirect"] is None
    assert world.invoices(family, "to_pay") == []
    with world.db.read() as s:
        assert s.execute(sa.select(invoices.c.state).where(invoices.c.cart_id == cart_id)).scalar() == "cancelled"
    assert _events(world, "payment.failed.v1", cart_id) == []  # booking released the cart itself
    # the bank then says paid: the money is kept as a credit, booking is not told
    assert notify(client, bank_notification(attempt, "paid")).json()["effect"] == "late_payment"
    assert _events(world, "payment.succeeded.v1", cart_id) == []
    [credit] = world.invoices(family, "credit")
    assert credit["remaining_credit_cents"] == 1000


def test_a_payment_recorded_before_the_abandon_comes_back_as_a_credit_note(world, client):
    family, cart_id, attempt = _started_payment(world, client)
    assert notify(client, bank_notification(attempt, "paid")).json()["effect"] == "payment"
    _abandon(world, family, cart_id)  # booking had released the places first: payment.after_expiry there
    _abandon(world, family, cart_id)
    [credit] = world.invoices(family, "credit")
    assert credit["total_cents"] == 1000 and credit["remaining_credit_cents"] == 1000


def _paid_after_release(world, family, cart_id, payment_id, state="expired"):
    return world.deliver(booking_contract.CartPaidAfterRelease(
        cart_id=cart_id, family_id=family.family_id, payment_id=payment_id, cart_state=state,
        received_at=utcnow()), "booking")


def test_a_payment_landing_after_booking_released_the_places_comes_back_as_a_credit_note(world, client):
    """booking's hold ran out (it tells billing nothing) and the bank says paid before billing's
    re-check failed the attempt: billing books it and tells booking, which answers that the
    places were released: the family gets its money back as a credit note, once."""
    family, cart_id, attempt = _started_payment(world, client)
    assert notify(client, bank_notification(attempt, "paid")).json()["effect"] == "payment"
    [succeeded] = _events(world, "payment.succeeded.v1", cart_id)
    for _ in range(2):  # delivered twice: one credit note
        _paid_after_release(world, family, cart_id, succeeded["payment_id"])
    [credit] = world.invoices(family, "credit")
    assert credit["total_cents"] == 1000 and credit["remaining_credit_cents"] == 1000
    [issued] = [e for e in outbox_events(world.db, "credit.issued.v1") if e["family_id"] == family.family_id]
    assert issued["amount_cents"] == 1000 and "places" in issued["reason"]
    _abandon(world, family, cart_id)  # the parent had also abandoned it: still one credit note
    assert len(world.invoices(family, "credit")) == 1


def test_credits_used_for_a_cart_released_before_they_reached_booking_come_back(world, client):
    world.grid("ALSH", "Mercredi", [{"upper_qf": None, "price_cents": 1000}])
    family, _invoice = _family_with_credit(world, client)
    cart_id = _cart(world, family, _days(1))  # 10,00 € of the 15,00 € credit
    [succeeded] = _events(world, "payment.succeeded.v1", cart_id)
    assert succeeded["payment_id"].startswith("credit:")
    _paid_after_release(world, family, cart_id, succeeded["payment_id"])
    assert sum(c["remaining_credit_cents"] for c in world.invoices(family, "credit")) == 1500


def test_an_abandon_before_billing_saw_the_cart_is_retried(world):
    family = world.family()
    with pytest.raises(payflow.CartNotSeenYet):
        world.deliver(booking_contract.CartAbandoned(cart_id=unique("cart"), family_id=family.family_id,
                                                     validated_at=utcnow(), abandoned_at=utcnow()), "booking")


def _abandon_validation(world, family, cart_id, validated_at):
    return world.deliver(booking_contract.CartAbandoned(cart_id=cart_id, family_id=family.family_id,
                                                        validated_at=validated_at, abandoned_at=utcnow()), "booking")


def test_an_abandon_of_a_cart_billing_refused_to_price_is_not_retried(world):
    family = world.family()  # no price grid for "SANSGRILLE": billing refuses to price the cart
    validated_at = utcnow()
    cart_id = _cart(world, family, _days(1), ref="SANSGRILLE", validated_at=validated_at)
    [failed] = _events(world, "payment.failed.v1", cart_id)
    assert failed["reason"] == "error"
    _abandon_validation(world, family, cart_id, validated_at)  # seen and deliberately not priced: nothing to do
    assert world.invoices(family) == []


def test_an_abandon_of_a_cart_with_nothing_prepaid_is_not_retried(world):
    world.grid("REPAS", "Repas", [{"upper_qf": None, "price_cents": 400}])
    family = world.family()
    validated_at = utcnow()
    cart_id = _cart(world, family, _days(1), ref="REPAS", status="confirmed", mode="end_of_month",
                    validated_at=validated_at)
    _abandon_validation(world, family, cart_id, validated_at)
    assert world.invoices(family) == [] and _events(world, "payment.failed.v1", cart_id) == []


def test_credits_cover_a_cart_so_no_payment_page(world, client):
    world.grid("ALSH", "Mercredi", [{"upper_qf": None, "price_cents": 700}])
    family, invoice = _family_with_credit(world, client)
    cart_id = _cart(world, family, _days(2))  # 14,00 € against a 15,00 € credit
    status = client.get(f"/internal/parent/carts/{cart_id}/payment", headers=family.headers).json()
    assert status["payment_needed"] is False and status["status"] == "paid"
    assert len(_events(world, "payment.succeeded.v1", cart_id)) == 1
    assert world.invoices(family, "credit")[0]["remaining_credit_cents"] == 100
    assert invoice["id"] in {i["id"] for i in world.invoices(family, "paid")}


def test_a_cart_past_its_hold_is_failed_by_the_recheck_job(world, client, provider):
    world.grid("ALSH", "Mercredi", [{"upper_qf": None, "price_cents": 1000}])
    family = world.family()
    cart_id = _cart(world, family, _days(1), hold_minutes=-1)
    later = utcnow() + dt.timedelta(minutes=6)
    counts = payflow.recheck_pending(world.db, provider, now=later)
    assert counts["failed"] >= 1
    [failed] = _events(world, "payment.failed.v1", cart_id)
    assert failed["reason"] == "expired"
    with world.db.read() as s:
        state = s.execute(sa.select(payment_transactions.c.state).where(
            payment_transactions.c.cart_id == cart_id)).scalar()
    assert state == "expired"


def test_offline_payments_are_allocated_oldest_first_and_exported(world, client):
    world.grid("REPAS", "Repas", [{"upper_qf": None, "price_cents": 400}])
    family = world.family()
    for back in (2, 1):
        month, weekdays = past_month(back)
        world.book(family, weekdays[0], "REPAS")
        world.book(family, weekdays[1], "REPAS")
        world.run(month)
    older, newer = sorted(world.invoices(family, "to_pay"), key=lambda i: i["month"])
    too_much = client.post("/internal/agent/payments", json={"family_id": family.family_id, "method": "cheque",
                                                             "amount_cents": 2000}, headers=world.headers)
    assert too_much.status_code == 422 and "dépasse" in too_much.json()["detail"]
    paid = client.post("/internal/agent/payments", json={"family_id": family.family_id, "method": "cheque",
                                                         "amount_cents": 1000, "reference": "=cmd|' /C calc'!A0"},
                       headers=world.headers)
    assert paid.status_code == 201, paid.text
    body = paid.json()
    assert [a["invoice_id"] for a in body["allocations"]] == [older["id"], newer["id"]]
    assert [a["amount_cents"] for a in body["allocations"]] == [800, 200]
    assert {i["id"]: i["due_cents"] for i in world.invoices(family, "to_pay")} == {newer["id"]: 600}
    csv_text = client.get("/internal/agent/exports/payments.csv", headers=world.headers).text
    assert body["number"] in csv_text and "10,00" in csv_text and "'=cmd" in csv_text
    listed = client.get("/internal/agent/payments", params={"method": "cheque"}, headers=world.headers).json()
    assert listed["total"] == 1


def test_pdfs_open_and_the_attestation_counts_the_years_payments(world, client):
    world.grid("PERI", "Accueil du soir", [{"upper_qf": None, "price_cents": 250}], childcare=True,
               service_label="Périscolaire")
    family = world.family(birth_dates=[dt.date(dt.date.today().year - 4, 3, 1)])
    month, weekdays = past_month()
    for day in weekdays[:4]:
        world.book(family, day, "PERI")
    world.run(month)
    [invoice] = world.invoices(family, "to_pay")
    pdf = client.get(f"/internal/parent/invoices/{invoice['id']}/pdf", headers=family.headers)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF") and len(pdf.content) > 3000
    agent_pdf = client.get(f"/internal/agent/invoices/{invoice['id']}/pdf", headers=world.headers)
    assert agent_pdf.status_code == 200 and agent_pdf.content.startswith(b"%PDF")
    client.post("/internal/agent/payments", json={"family_id": family.family_id, "method": "cash",
                                                  "amount_cents": 1000}, headers=world.headers)
    year = dt.date.today().year
    figures = client.get(f"/internal/parent/attestations/{year}", headers=family.headers).json()
    assert figures["paid_cents"] == 1000 and figures["tax_childcare_cents"] == 1000
    assert figures["by_service"] == [{"label": "Périscolaire", "amount_cents": 1000}]
    attestation = client.get(f"/internal/parent/attestations/{year}/pdf", headers=family.headers)
    assert attestation.status_code == 200 and attestation.content.startswith(b"%PDF")
    stranger = world.family()
    assert client.get(f"/internal/parent/attestations/{year}", params={"commune": "ailleurs"},
                      headers=stranger.headers).status_code == 404


def test_bad_input_is_a_french_problem_never_a_500(world, client):
    h = world.headers
    cases = [
        client.post("/internal/agent/runs", json={"month": "2026-13"}, headers=h),
        client.post("/internal/agent/runs", json={"month": "2026-09", "x": 1}, headers=h),
        client.post("/internal/agent/price-grids", json={"price_ref": "X", "label": "X", "brackets": [
            {"upper_qf": 900, "price_cents": 1}, {"upper_qf": 500, "price_cents": 2}, {"price_cents": 3}]}, headers=h),
        client.post("/internal/agent/price-grids", json={"price_ref": "Y", "label": "Y",
                                                         "brackets": [{"upper_qf": 10, "price_cents": 1}]}, headers=h),
        client.put("/internal/agent/settings", json={"charge_rules": {"absent_justified": {"percent": "10"}}},
                   headers=h),
        client.put("/internal/agent/settings", json={"dates": {"publication": {"months_after": 0, "day": 5}}},
                   headers=h),
        client.put("/internal/agent/settings", json={"payment_min_cents": 500, "payment_max_cents": 100}, headers=h),
        client.post("/internal/agent/payments", json={"family_id": "nobody", "method": "cash", "amount_cents": 5},
                    headers=h),
        client.post("/internal/agent/payments", json={"family_id": "x", "method": "online", "amount_cents": 5},
                    headers=h),
        client.get("/internal/agent/invoices", params={"per_page": 0}, headers=h),
        client.get("/internal/agent/invoices", params={"unknown": 1}, headers=h),
        client.post("/internal/parent/payments", json={"invoice_ids": [], "return_url": RETURN_URL},
                    headers=world.family().headers),
        client.post("/internal/parent/payments", json={"invoice_ids": ["a"], "return_url": "javascript:alert(1)"},
                    headers=world.family().headers),
        client.get("/internal/agent/runs", headers={}),
    ]
    statuses = [r.status_code for r in cases]
    assert all(400 <= s < 500 for s in statuses), statuses
    for response in cases:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"]
    assert statuses[2] == 422 and "croissants" in cases[2].json()["detail"]
    assert statuses[4] == 422 and "justifiée" in cases[4].json()["detail"]
    assert statuses[7] == 404


def test_a_cart_receipt_is_paid_from_the_cart_only(world, client):
    world.grid("ALSH", "Mercredi", [{"upper_qf": None, "price_cents": 900}])
    family = world.family()
    _cart(world, family, _days(1))
    [receipt] = world.invoices(family, "to_pay")
    refused = world.pay(family, [receipt["id"]])
    assert refused.status_code == 422 and "panier" in refused.json()["detail"]
    desk = client.post("/internal/agent/payments", json={"family_id": family.family_id, "method": "cash",
                                                         "amount_cents": 900, "invoice_ids": [receipt["id"]]},
                       headers=world.headers)
    assert desk.status_code == 422
    assert world.invoices(family, "to_pay")[0]["due_cents"] == 900


def test_an_offline_payment_sent_twice_with_one_idempotency_key_is_recorded_once(world, client):
    world.grid("REPAS", "Repas", [{"upper_qf": None, "price_cents": 500}])
    family = world.family()
    month, weekdays = past_month()
    world.book(family, weekdays[0], "REPAS")
    world.run(month)
    body = {"family_id": family.family_id, "method": "cheque", "amount_cents": 300, "reference": "1234567"}
    headers = {**world.headers, "Idempotency-Key": "agent-form-key-0123456789"}
    first = client.post("/internal/agent/payments", json=body, headers=headers)
    again = client.post("/internal/agent/payments", json=body, headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"] and again.json()["number"] == first.json()["number"]
    listed = client.get("/internal/agent/payments", params={"family_id": family.family_id}, headers=world.headers)
    assert listed.json()["total"] == 1 and listed.json()["items"][0]["family_name"] == family.name
    assert [i["due_cents"] for i in world.invoices(family, "to_pay")] == [200]
    other = client.post("/internal/agent/payments", json={**body, "amount_cents": 100}, headers=headers)
    assert other.status_code == 422 and "clé d'idempotence" in other.json()["detail"]
    bad = client.post("/internal/agent/payments", json=body, headers={**world.headers, "Idempotency-Key": "court"})
    assert bad.status_code == 400


def test_agents_find_invoices_by_part_of_the_familys_name(world, client):
    world.grid("REPAS", "Repas", [{"upper_qf": None, "price_cents": 500}])
    tag = unique("x").replace("-", "")[-6:]
    dupont, durand = world.family(name=f"Dupont_{tag}"), world.family(name=f"Durand{tag}")
    month, weekdays = past_month()
    for family in (dupont, durand):
        world.book(family, weekdays[0], "REPAS")
    world.run(month)

    def names(text):
        found = client.get("/internal/agent/invoices", params={"family_name": text}, headers=world.headers)
        assert found.status_code == 200, found.text
        return {i["family_name"] for i in found.json()["items"]}

    assert names(f"dupont_{tag}".upper()) == {f"Dupont_{tag}"}
    assert names(tag) == {f"Dupont_{tag}", f"Durand{tag}"}
    assert names(f"t_{tag}") == {f"Dupont_{tag}"}   # the underscore is a letter, not a wildcard
    assert names(f"d%{tag}") == set()
