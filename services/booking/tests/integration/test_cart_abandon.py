""""Abandonner ce paiement": a parent gives up a cart awaiting payment; its held places are
released at once as on expiry, billing is told, a second click changes nothing, only the cart's
parent can do it, and a payment settling at the same moment is serialised with it."""
import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from booking_testkit import envelope, outbox_events
from contracts import billing
from servicekit.problems import Problem
from servicekit.types import utcnow

from booking import abandon, carts, consumers
from booking.models import audit_entries, sessions
from test_cart_api import add, held_and_waiting, line, statuses, validate

pytestmark = pytest.mark.integration
ABANDON = "/internal/parent/cart/abandon"


def held_cart(world, client, capacity=1, **changes):
    p = world.prestation(payment_mode="prepaid", capacity=capacity, refund_on_cancellation="credit", **changes)
    family = world.family()
    world.enrol(family)
    day = world.open_dates(p["id"], 1)[0]
    add(client, family, line(family, p, day))
    cart = validate(client, family)
    assert cart["state"] == "awaiting_payment"
    return p, family, day, cart


def occupancy(db, p, day):
    with db.read() as s:
        return s.execute(sa.select(sessions.c.confirmed, sessions.c.held).where(
            sessions.c.prestation_id == p["id"], sessions.c.session_date == day)).one()


def after_expiry(db, cart_id):
    with db.read() as s:
        return s.execute(sa.select(sa.func.count()).select_from(audit_entries).where(
            audit_entries.c.action == "payment.after_expiry",
            audit_entries.c.details["cart_id"].as_string() == cart_id)).scalar()


def test_abandoning_releases_the_places_at_once_and_tells_billing(db, world, client):
    p, first, second, day, cart = held_and_waiting(world, client)

    r = client.post(ABANDON, headers=first.headers)
    assert r.status_code == 200, r.text
    shown = r.json()
    assert shown["id"] == cart["id"] and shown["state"] == "failed" and shown["state_label"] == "Paiement non effectué"
    assert statuses(db, first) == [] and statuses(db, second) == [(day, "confirmed")]  # the waiting list moved up
    assert occupancy(db, p, day) == (1, 0)
    [event] = [e for e in outbox_events(db, "cart.abandoned.v1") if e["cart_id"] == cart["id"]]
    assert event["family_id"] == first.family_id and dt.datetime.fromisoformat(event["validated_at"]) == dt.datetime.fromisoformat(
        cart["validated_at"])

    again = client.post(ABANDON, headers=first.headers)  # a second click: the cart as it is
    assert again.status_code == 200 and again.json()["state"] == "failed"
    assert len([e for e in outbox_events(db, "cart.abandoned.v1") if e["cart_id"] == cart["id"]]) == 1

    # a payment arriving afterwards does not bring the places back: recorded for billing to refund
    with db.transaction() as s:
        assert carts.payment_outcome(s, cart["id"], succeeded=True) is False
    assert after_expiry(db, cart["id"]) == 1 and statuses(db, first) == []

    # the unpaid date is back in the cart, to validate again (now waiting-listed)
    assert validate(client, first)["lines"][0]["outcome"] == "waiting_listed"


def test_only_a_cart_awaiting_payment_is_abandoned_and_only_by_its_parent(db, world, client):
    p, family, day, cart = held_cart(world, client)
    other = world.family()
    r = client.post(ABANDON, headers=other.headers)  # another parent: their own (empty) cart
    assert r.status_code == 409 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["detail"] == abandon.NOTHING_TO_ABANDON
    assert client.post(ABANDON, headers=world.agent_headers).status_code == 403
    assert statuses(db, family) == [(day, "held")]

    paid = envelope(billing.PaymentSucceeded(payment_id="pay-a", cart_id=cart["id"], family_id=family.family_id,
                                             amount_cents=500, paid_at=utcnow()), "billing")
    with db.transaction() as s:
        consumers.on_payment_succeeded(s, paid)
    r = client.post(ABANDON, headers=family.headers)  # paid already: nothing to give up
    assert r.status_code == 409 and "aucun paiement" in r.json()["detail"]
    assert statuses(db, family) == [(day, "confirmed")]


@pytest.mark.parametrize("round_", range(4))
def test_an_abandon_and_a_payment_at_the_same_moment_are_serialised(db, world, client, round_):
    """Both lock the cart row: either the payment wins (places confirmed, the abandon refused) or
    the abandon does (places released, the payment recorded as after expiry) — never both."""
    p, family, day, cart = held_cart(world, client)
    start, answers = threading.Barrier(2), {}

    def abandon_it():
        start.wait()
        try:
            with db.transaction() as s:
                answers["abandon"] = abandon.abandon_payment(s, family.caller)["state"]
        except Problem as problem:
            answers["abandon"] = problem.status

    def pay_it():
        start.wait()
        with db.transaction() as s:
            answers["paid"] = carts.payment_outcome(s, cart["id"], succeeded=True)

    threads = [threading.Thread(target=abandon_it), threading.Thread(target=pay_it)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    if answers["paid"]:
        assert answers["abandon"] == 409
        assert statuses(db, family) == [(day, "confirmed")] and occupancy(db, p, day) == (1, 0)
        assert after_expiry(db, cart["id"]) == 0
    else:
        assert answers["abandon"] == "failed"
        assert statuses(db, family) == [] and occupancy(db, p, day) == (0, 0)
        assert after_expiry(db, cart["id"]) == 1
