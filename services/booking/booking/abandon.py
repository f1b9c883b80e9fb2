"""A parent gives up a cart awaiting payment ("Abandonner ce paiement").

The held places are released at once, exactly as the expiry job releases them
(`carts.held_context` / `carts.settle_held`, rule `checkout.settle_abandoned`): the cart becomes
`failed` (as after a failed payment; `expired` if its hold had already run out), so its unpaid
lines come back to an open cart when the parent returns to it. cart.abandoned.v1 tells billing
to close the cart's open payment attempt.

The parent's current cart row is locked (FOR UPDATE) like billing's payment outcome locks it,
so the two are serialised: a payment settled first leaves nothing to abandon (409); a payment
arriving after the abandon finds the cart failed and is recorded as payment.after_expiry
(billing turns the money into a credit). A second click answers the released cart as it is.

A payment arriving for a cart whose places were released (abandoned, failed, expired, or reopened
since) bought nothing: `paid_after_release` tells billing (cart.paid_after_release.v1), which
gives the money back as a credit note; the places are not taken again (see the README).
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit.problems import Problem
from servicekit.tokens import Caller
from servicekit.types import utcnow

from booking import access, carts, events
from booking.domain import checkout
from booking.domain.cart import CartState
from booking.models import carts as cart_table

NOTHING_TO_ABANDON = "Votre panier n'attend aucun paiement : il n'y a rien à abandonner."
RELEASED = (CartState.FAILED.code, CartState.EXPIRED.code)


def abandon_payment(session: Session, caller: Caller, now: dt.datetime | None = None) -> dict:
    """Release the held places of the parent's cart awaiting payment; the cart as the API shows it."""
    family_id = access.parent_family(caller)
    now = now or utcnow()
    row = carts.current_cart_row(session, caller.sub, lock=True)
    if row is None or row["family_id"] != family_id or row["state"] == CartState.OPEN.code:
        raise Problem(409, NOTHING_TO_ABANDON)
    if row["state"] in RELEASED:  # a second click, or the hold ran out meanwhile: nothing more to do
        return carts.cart_view(session, row)
    cart, locked, found = carts.held_context(session, row)
    settled = checkout.settle_abandoned(cart, locked, now)
    carts.settle_held(session, row, settled, locked, found, now, "payment")
    events.publish(session, [events.abandoned(row, now)])
    return carts.cart_view(session, {**row, "state": settled.cart.state.code}, settled.cart)


def paid_after_release(session: Session, cart_id: str, payment_id: str, now: dt.datetime | None = None,
                       earlier_validation: bool = False) -> bool:
    """After `carts.payment_outcome` refused a payment.succeeded.v1 (in the same transaction, the cart
    row locked), or for a payment of an earlier validation: if the cart is neither awaiting payment
    nor paid (or the payment was for an earlier validation), the places it paid for were released
    before it came, so billing is told to give the money back. True if it was told."""
    row = session.execute(sa.select(cart_table).where(cart_table.c.id == cart_id)).mappings().first()
    if row is None:
        return False
    if not earlier_validation and row["state"] in (CartState.AWAITING_PAYMENT.code, CartState.PAID.code):
        return False  # the payment is (or was already) the one that confirmed the places
    events.publish(session, [events.paid_after_release(row, payment_id, now or utcnow())])
    return True


def for_an_earlier_validation(session: Session, cart_id: str, validated_at: dt.datetime | None) -> bool:
    """Whether billing's payment outcome is for a validation of the cart before its current one
    (the hold ran out and the parent validated the cart again): it must not settle the new hold.
    The cart row is locked first, as `carts.payment_outcome` locks it. Older events (no
    validated_at) are taken for the current validation, as before."""
    if validated_at is None:
        return False
    current = session.execute(sa.select(cart_table.c.validated_at).where(cart_table.c.id == cart_id)
                              .with_for_update()).scalar()
    return current is not None and current != validated_at
