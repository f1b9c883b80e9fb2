"""Parents' journey through the API: services, month calendar, period view, cart, validation
(idempotent), prepaid holds settled by billing's events or expired, cancellations, and tenancy."""
import datetime as dt

import pytest
import sqlalchemy as sa

from booking_testkit import PARIS_TODAY, envelope, outbox_events
from contracts import billing
from servicekit.types import utcnow

from booking import carts, consumers
from booking.models import bookings, carts as carts_table, sessions

pytestmark = pytest.mark.integration


def line(family, prestation, day, action="book"):
    return {"child_id": family.child_id, "prestation_id": prestation["id"], "session_date": day.isoformat(),
            "action": action}


def add(client, family, *lines):
    r = client.post("/internal/parent/cart/lines", json={"lines": list(lines)}, headers=family.headers)
    assert r.status_code == 200, r.text
    return r.json()


def validate(client, family, key=None):
    headers = {**family.headers, **({"Idempotency-Key": key} if key else {})}
    r = client.post("/internal/parent/cart/validate", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def statuses(db, family):
    with db.read() as s:
        return sorted(s.execute(sa.select(bookings.c.session_date, bookings.c.status)
                                .where(bookings.c.family_id == family.family_id)).all())


def test_calendar_then_cart_validated_once_per_idempotency_key(db, world, client):
    p = world.prestation()
    family = world.family()
    world.enrol(family)
    days = world.open_dates(p["id"], 3)

    r = client.get("/internal/parent/services", headers=family.headers)
    assert r.status_code == 200
    [service] = r.json()["items"]
    assert service["prestations"][0]["id"] == p["id"] and service["enrolments"][0]["child_id"] == family.child_id

    r = client.get(f"/internal/parent/children/{family.child_id}/calendar",
                   params={"service_id": world.service_id, "month": days[0].strftime("%Y-%m")}, headers=family.headers)
    assert r.status_code == 200, r.text
    shown = {d["date"]: d for d in r.json()["prestations"][0]["days"]}[days[0].isoformat()]
    assert shown["state"] == "bookable" and shown["state_label"] == "Réservable" and shown["can_book"]
    assert shown["price_ref"] == "REPAS" and shown["booking_deadline"].startswith(
        (days[0] - dt.timedelta(days=1)).isoformat())

    cart = add(client, family, *(line(family, p, d) for d in days))
    assert cart["state"] == "open" and len(cart["lines"]) == 3 and cart["lines"][0]["child_name"].startswith("Léa")
    first = validate(client, family, key="click-1")
    assert first["state"] == "validated"
    assert [l["outcome"] for l in first["lines"]] == ["confirmed"] * 3
    again = validate(client, family, key="click-1")
    assert again == first
    assert statuses(db, family) == [(d, "confirmed") for d in days]
    confirmed = [e for e in outbox_events(db, "booking.confirmed.v1") if e["family_id"] == family.family_id]
    assert len(confirmed) == 3 and {e["via"] for e in confirmed} == {"cart"}
    [validated] = [e for e in outbox_events(db, "cart.validated.v1") if e["family_id"] == family.family_id]
    assert validated["state"] == "validated" and {l["price_ref"] for l in validated["lines"]} == {"REPAS"}
    assert {l["prestation_label"] for l in validated["lines"]} == {p["label"]}  # notify names it in the e-mail

    # the calendar now shows the dates booked, in words
    r = client.get(f"/internal/parent/children/{family.child_id}/calendar",
                   params={"service_id": world.service_id, "month": days[0].strftime("%Y-%m")}, headers=family.headers)
    shown = {d["date"]: d for d in r.json()["prestations"][0]["days"]}[days[0].isoformat()]
    assert shown["state"] == "booked" and shown["can_cancel"] and shown["cancellation_deadline"]

    # a new click (new key): the validated cart is done, the new one is empty: nothing is booked twice
    r = client.post("/internal/parent/cart/validate", headers={**family.headers, "Idempotency-Key": "click-2"})
    assert r.status_code == 422 and r.json()["detail"] == "Le panier est vide."
    assert statuses(db, family) == [(d, "confirmed") for d in days]


def test_a_parent_never_sees_or_books_another_familys_child(db, world, client):
    p = world.prestation()
    mine, theirs = world.family(), world.family()
    world.enrol(theirs)
    day = world.open_dates(p["id"], 1)[0]
    r = client.get(f"/internal/parent/children/{theirs.child_id}/calendar",
                   params={"service_id": world.service_id, "month": day.strftime("%Y-%m")}, headers=mine.headers)
    assert r.status_code == 404
    r = client.post("/internal/parent/cart/lines", headers=mine.headers, json={"lines": [
        {"child_id": theirs.child_id, "prestation_id": p["id"], "session_date": day.isoformat()}]})
    assert r.status_code == 404 and r.json()["detail"] == "Cet enfant est introuvable."
    r = client.post("/internal/parent/period-preview", headers=mine.headers, json={
        "child_id": theirs.child_id, "prestation_id": p["id"], "weekdays": [0], "first": day.isoformat(),
        "last": day.isoformat()})
    assert r.status_code == 404
    assert client.post(f"/internal/parent/children/{theirs.child_id}/feed", headers=mine.headers).status_code == 404
    assert client.get("/internal/parent/cart", headers=mine.headers).json()["lines"] == []
    # nor an agent's call on the parent side, nor a parent's on another commune's prestation
    assert client.get("/internal/parent/cart", headers=world.agent_headers).status_code == 403
    assert statuses(db, theirs) == []


def test_prepaid_places_are_held_until_billing_says_paid(db, world, client):
    p = world.prestation(payment_mode="prepaid", price_ref="ALSH", refund_on_cancellation="credit")
    family = world.family()
    world.enrol(family)
    days = world.open_dates(p["id"], 2)
    add(client, family, *(line(family, p, d) for d in days))
    cart = validate(client, family)
    assert cart["state"] == "awaiting_payment" and {l["outcome"] for l in cart["lines"]} == {"held"}
    expires = dt.datetime.fromisoformat(cart["hold_expires_at"])
    assert dt.timedelta(minutes=59) < expires - utcnow() <= dt.timedelta(minutes=60)
    r = client.post("/internal/parent/cart/lines", json={"lines": [line(family, p, days[0])]}, headers=family.headers)
    assert r.status_code == 409
    [event] = [e for e in outbox_events(db, "cart.validated.v1") if e["family_id"] == family.family_id]
    assert event["state"] == "awaiting_payment" and {l["payment_mode"] for l in event["lines"]} == {"prepaid"}

    paid = envelope(billing.PaymentSucceeded(payment_id="pay-1", cart_id=cart["id"], family_id=family.family_id,
                                             amount_cents=1200, paid_at=utcnow()), "billing")
    with db.transaction() as s:
        consumers.on_payment_succeeded(s, paid)
    with db.transaction() as s:
        consumers.on_payment_succeeded(s, paid)  # delivered twice: nothing more happens
    assert statuses(db, family) == [(d, "confirmed") for d in days]
    with db.read() as s:
        assert s.execute(sa.select(sessions.c.confirmed, sessions.c.held).where(
            sessions.c.prestation_id == p["id"], sessions.c.session_date == days[0])).one() == (1, 0)
    confirmed = [e for e in outbox_events(db, "booking.confirmed.v1") if e["family_id"] == family.family_id]
    assert len(confirmed) == 2 and {e["via"] for e in confirmed} == {"payment"}
    assert client.get("/internal/parent/cart", headers=family.headers).json()["id"] is None  # paid: done


def held_and_waiting(world, client):
    """A prepaid one-place date: the first family's cart holds it awaiting payment, the second's is
    on its waiting list (promoted automatically). (prestation, first, second, day, the held cart)"""
    p = world.prestation(payment_mode="prepaid", capacity=1, waiting_list=True, waiting_list_auto_confirm=True,
                         refund_on_cancellation="credit")
    first, second = world.family(), world.family()
    for family in (first, second):
        world.enrol(family)
    day = world.open_dates(p["id"], 1)[0]
    add(client, first, line(first, p, day))
    held = validate(client, first)
    add(client, second, line(second, p, day))
    waiting = validate(client, second)
    assert held["state"] == "awaiting_payment" and waiting["lines"][0]["outcome"] == "waiting_listed"
    return p, first, second, day, held


def test_unpaid_cart_expires_releases_places_and_promotes_the_waiting_list(db, world, client):
    p, first, second, day, held = held_and_waiting(world, client)

    assert carts.expire_carts(db, now=utcnow() + dt.timedelta(minutes=30)) == 0  # not yet
    assert carts.expire_carts(db, now=utcnow() + dt.timedelta(minutes=61)) == 1
    assert statuses(db, first) == []
    assert statuses(db, second) == [(day, "confirmed")]
    [promoted] = [e for e in outbox_events(db, "waiting_list.confirmed.v1") if e["family_id"] == second.family_id]
    assert promoted["by"] == "automatic" and promoted["session_date"] == day.isoformat()
    with db.read() as s:
        assert s.execute(sa.select(carts_table.c.state).where(carts_table.c.id == held["id"])).scalar() == "expired"
        assert s.execute(sa.select(sessions.c.confirmed, sessions.c.held).where(
            sessions.c.prestation_id == p["id"], sessions.c.session_date == day)).one() == (1, 0)
    shown = client.get("/internal/parent/cart", headers=first.headers).json()
    assert shown["state"] == "expired" and shown["state_label"].startswith("Expiré")
    # a late payment does not bring the places back (recorded for billing to refund)
    with db.transaction() as s:
        assert carts.payment_outcome(s, held["id"], succeeded=True) is False
    # trying again: the unpaid line comes back into an open cart; now the date is waiting-listed
    cart = add(client, first, line(first, p, day))
    assert cart["state"] == "open" and len(cart["lines"]) == 1
    assert validate(client, first)["lines"][0]["outcome"] == "waiting_listed"


def test_failed_payment_releases_the_places(db, world, client):
    p = world.prestation(payment_mode="prepaid", capacity=2, refund_on_cancellation="credit")
    family = world.family()
    world.enrol(family)
    day = world.open_dates(p["id"], 1)[0]
    add(client, family, line(family, p, day))
    cart = validate(client, family)
    failed = envelope(billing.PaymentFailed(payment_id="pay-2", cart_id=cart["id"], family_id=family.family_id,
                                            reason="refused", failed_at=utcnow()), "billing")
    with db.transaction() as s:
        consumers.on_payment_failed(s, failed)
    assert statuses(db, family) == []
    assert client.get("/internal/parent/cart", headers=family.headers).json()["state"] == "failed"


def test_cancellations_through_the_cart(db, world, client):
    auto = world.prestation()  # cancellation accepted at once
    desk = world.prestation(payment_mode="prepaid", cancellation_auto_accept=False, refund_on_cancellation="credit")
    family = world.family()
    world.enrol(family)
    day_auto = world.open_dates(auto["id"], 1)[0]
    add(client, family, line(family, auto, day_auto))
    validate(client, family)
    # the prepaid one: book and pay first
    day_desk = world.open_dates(desk["id"], 1)[0]
    add(client, family, line(family, desk, day_desk))
    cart = validate(client, family)
    with db.transaction() as s:
        carts.payment_outcome(s, cart["id"], succeeded=True)

    add(client, family, line(family, auto, day_auto, "cancel"), line(family, desk, day_desk, "cancel"))
    outcome = {l["prestation_id"]: l["outcome"] for l in validate(client, family)["lines"]}
    assert outcome == {auto["id"]: "cancelled", desk["id"]: "cancellation_requested"}
    [cancelled] = [e for e in outbox_events(db, "booking.cancelled.v1") if e["family_id"] == family.family_id]
    assert cancelled["refund"] == "not_invoiced" and cancelled["by"] == "parent"

    requests = client.get("/internal/agent/cancellation-requests", headers=world.agent_headers).json()["items"]
    [request] = [r for r in requests if r["family_id"] == family.family_id]
    r = client.post(f"/internal/agent/cancellation-requests/{request['id']}/decision", json={"decision": "refuse"},
                    headers=world.agent_headers)
    assert r.status_code == 422 and r.json()["errors"] == {"message": "Ce champ est obligatoire."}
    r = client.post(f"/internal/agent/cancellation-requests/{request['id']}/decision",
                    json={"decision": "accept", "refund": "refund"}, headers=world.agent_headers)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    r = client.post(f"/internal/agent/cancellation-requests/{request['id']}/decision",
                    json={"decision": "accept"}, headers=world.agent_headers)
    assert r.status_code == 409
    by_agent = [e for e in outbox_events(db, "booking.cancelled.v1")
                if e["family_id"] == family.family_id and e["by"] == "agent"]
    assert [e["refund"] for e in by_agent] == ["refund"]
    with db.read() as s:
        assert s.execute(sa.select(sessions.c.confirmed).where(sessions.c.prestation_id == desk["id"],
                                                               sessions.c.session_date == day_desk)).scalar() == 0
    audit = client.get("/internal/agent/audit", headers=world.agent_headers).json()["items"]
    assert audit[0]["action"] == "cancellation.accepted" and audit[0]["details"]["refund"] == "refund"


def test_period_view_and_refusals_in_words(world, client):
    p = world.prestation()
    family, stranger = world.family(), world.family()
    world.enrol(family)
    start = world.open_dates(p["id"], 1)[0]  # school holidays may come first
    body = {"child_id": family.child_id, "prestation_id": p["id"], "weekdays": [0, 1, 3, 4],
            "first": start.isoformat(), "last": (start + dt.timedelta(days=20)).isoformat()}
    r = client.post("/internal/parent/period-preview", json=body, headers=family.headers)
    assert r.status_code == 200, r.text
    plan = r.json()
    assert plan["lines"] and all(dt.date.fromisoformat(l["session_date"]).weekday() in (0, 1, 3, 4)
                                 for l in plan["lines"])
    assert all(s["reason_label"] for s in plan["skipped"])
    cart = client.post("/internal/parent/cart/period", json=body, headers=family.headers).json()
    assert len(cart["lines"]) == len(plan["lines"])
    r = client.post("/internal/parent/cart/lines/remove", headers=family.headers, json={
        "child_id": family.child_id, "prestation_id": p["id"], "session_date": plan["lines"][0]["session_date"]})
    assert len(r.json()["lines"]) == len(plan["lines"]) - 1

    # a child who is not enrolled: the cart stays open, every line refused with its reason
    day = world.open_dates(p["id"], 1)[0]
    add(client, stranger, line(stranger, p, day))
    cart = validate(client, stranger)
    assert cart["state"] == "open" and cart["lines"][0]["outcome"] == "refused"
    assert cart["lines"][0]["reason"] == "not_enrolled"
    assert "inscrit" in cart["lines"][0]["outcome_label"]


def test_bad_parent_input_is_a_problem_never_a_500(world, client):
    p = world.prestation()
    family = world.family()
    day = world.open_dates(p["id"], 1)[0]
    cases = [
        ("post", "/internal/parent/cart/lines", {"lines": []}, 400),
        ("post", "/internal/parent/cart/lines", {"lines": [{**line(family, p, day), "session_date": "2026-02-30"}]},
         (400, 422)),
        ("post", "/internal/parent/cart/lines", {"lines": [{**line(family, p, day), "prestation_id": "unknown"}]}, 404),
        ("post", "/internal/parent/cart/lines", {"lines": [{**line(family, p, day), "action": "steal"}]}, 400),
        ("post", "/internal/parent/cart/validate", None, 422),
        ("post", "/internal/parent/period-preview", {"child_id": family.child_id, "prestation_id": p["id"],
                                                     "weekdays": [0], "first": "2026-01-01", "last": "2028-01-01"}, 422),
        ("post", "/internal/parent/period-preview", {"child_id": family.child_id, "prestation_id": p["id"],
                                                     "weekdays": [9], "first": "2026-01-01", "last": "2026-02-01"}, 400),
        ("post", "/internal/parent/period-preview", {"child_id": family.child_id, "prestation_id": p["id"],
                                                     "weekdays": [0, 1, 2, 3, 4, 5, 6], "first": "0001-01-01",
                                                     "last": "0001-01-09"}, (200, 422)),
        ("post", "/internal/parent/period-preview", {"child_id": family.child_id, "prestation_id": p["id"],
                                                     "weekdays": [4], "first": "9999-12-20", "last": "9999-12-31"}, (200, 422)),
    ]
    for method, path, body, expected in cases:
        r = getattr(client, method)(path, json=body, headers=family.headers)
        assert r.status_code in (expected if isinstance(expected, tuple) else (expected,)), (path, body, r.text)
        assert r.status_code == 200 or r.headers["content-type"].startswith("application/problem+json")
    r = client.get(f"/internal/parent/children/{family.child_id}/calendar",
                   params={"service_id": world.service_id, "month": "2026-13"}, headers=family.headers)
    assert r.status_code == 400
