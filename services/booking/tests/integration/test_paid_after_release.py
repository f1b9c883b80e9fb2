"""A payment billing reports for a cart whose held places booking already released (the hold ran
out, the parent abandoned it, or it was reopened since): nothing was booked with it, so booking
tells billing (cart.paid_after_release.v1), which gives the money back as a credit note."""
import datetime as dt

import pytest

from booking_testkit import envelope, outbox_events
from contracts import billing
from servicekit.types import utcnow

from booking import carts, consumers
from test_cart_abandon import after_expiry, held_cart
from test_cart_api import add, line, statuses, validate

pytestmark = pytest.mark.integration


def paid(family, cart, payment_id="pay-late"):
    return envelope(billing.PaymentSucceeded(payment_id=payment_id, cart_id=cart["id"], family_id=family.family_id,
                                             amount_cents=500, paid_at=utcnow()), "billing")


def unused(db, cart):
    return [e for e in outbox_events(db, "cart.paid_after_release.v1") if e["cart_id"] == cart["id"]]


def test_a_payment_after_the_hold_ran_out_is_sent_back_to_billing(db, world, client):
    p, family, day, cart = held_cart(world, client)
    assert carts.expire_carts(db, now=utcnow() + dt.timedelta(minutes=61)) == 1
    with db.transaction() as s:
        consumers.on_payment_succeeded(s, paid(family, cart))
    [event] = unused(db, cart)
    assert event["payment_id"] == "pay-late" and event["family_id"] == family.family_id
    assert event["cart_state"] == "expired"
    assert statuses(db, family) == [] and after_expiry(db, cart["id"]) == 1  # the places stay released


def test_a_payment_for_a_cart_reopened_since_its_release_is_sent_back_too(db, world, client):
    p, family, day, cart = held_cart(world, client)
    assert carts.expire_carts(db, now=utcnow() + dt.timedelta(minutes=61)) == 1
    assert add(client, family, line(family, p, day))["state"] == "open"  # the parent came back to the cart
    with db.transaction() as s:
        consumers.on_payment_succeeded(s, paid(family, cart))
    [event] = unused(db, cart)
    assert event["cart_state"] == "open"


def test_a_payment_that_confirmed_the_places_is_not_sent_back(db, world, client):
    p, family, day, cart = held_cart(world, client)
    for _ in range(2):  # delivered twice: the second finds the cart paid
        with db.transaction() as s:
            consumers.on_payment_succeeded(s, paid(family, cart, "pay-ok"))
    assert statuses(db, family) == [(day, "confirmed")] and unused(db, cart) == []


def test_a_payment_for_an_earlier_validation_never_settles_the_cart_validated_again(db, world, client):
    """The hold ran out, the parent validated the cart again (a new hold), then billing reports on
    the first validation's attempt: its failure leaves the new hold alone, its payment goes back."""
    p, family, day, first = held_cart(world, client)
    assert carts.expire_carts(db, now=utcnow() + dt.timedelta(minutes=61)) == 1
    add(client, family, line(family, p, day))
    second = validate(client, family)
    assert second["state"] == "awaiting_payment" and second["validated_at"] != first["validated_at"]
    earlier = dt.datetime.fromisoformat(first["validated_at"])
    with db.transaction() as s:
        consumers.on_payment_failed(s, envelope(billing.PaymentFailed(
            payment_id="pay-old", cart_id=first["id"], family_id=family.family_id, reason="expired",
            failed_at=utcnow(), validated_at=earlier), "billing"))
    assert statuses(db, family) == [(day, "held")]  # the new hold stands
    with db.transaction() as s:
        consumers.on_payment_succeeded(s, envelope(billing.PaymentSucceeded(
            payment_id="pay-old", cart_id=first["id"], family_id=family.family_id, amount_cents=500,
            paid_at=utcnow(), validated_at=earlier), "billing"))
    assert statuses(db, family) == [(day, "held")]  # not confirmed by the first validation's money
    [event] = unused(db, first)
    assert event["payment_id"] == "pay-old" and event["cart_state"] == "awaiting_payment"
    with db.transaction() as s:  # the new validation's own payment confirms it
        consumers.on_payment_succeeded(s, envelope(billing.PaymentSucceeded(
            payment_id="pay-new", cart_id=first["id"], family_id=family.family_id, amount_cents=500,
            paid_at=utcnow(), validated_at=dt.datetime.fromisoformat(second["validated_at"])), "billing"))
    assert statuses(db, family) == [(day, "confirmed")] and len(unused(db, first)) == 1
