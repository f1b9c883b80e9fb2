import datetime as dt

import pytest

from booking.domain.cart import (Cart, CartLine, CartState, IllegalTransition, LineOutcome, LineStatus, TRANSITIONS,
                                 add_lines, after_validation, is_expired, mark_expired, mark_failed, mark_paid,
                                 merge_lines, remove_line, reopen)
from booking.domain.policy import Action
from booking.domain.reasons import Reason

NOW = dt.datetime(2026, 11, 2, 9, tzinfo=dt.timezone.utc)
MON, TUE = dt.date(2026, 11, 16), dt.date(2026, 11, 17)


def line(day=MON, action=Action.BOOK, child="c1", prestation="p"):
    return CartLine(child, prestation, day, action)


def test_duplicate_lines_are_merged_and_a_book_then_cancel_of_a_date_cancels_out():
    assert merge_lines([line(), line(), line(TUE)]) == (line(), line(TUE))
    assert merge_lines([line(), line(action=Action.CANCEL), line(TUE)]) == (line(TUE),)
    assert merge_lines([line(child="c1"), line(child="c2")]) == (line(child="c1"), line(child="c2"))


def test_lines_are_edited_only_while_the_cart_is_open():
    cart = add_lines(Cart("k", "parent"), [line(), line(TUE), line()])
    assert cart.lines == (line(), line(TUE))
    assert remove_line(cart, line().key).lines == (line(TUE),)
    awaiting = after_validation(cart, (LineOutcome(line(), LineStatus.HELD),), NOW)
    with pytest.raises(IllegalTransition, match="En attente de paiement"):
        add_lines(awaiting, [line(TUE)])


def test_validation_outcome_decides_the_next_state():
    cart = Cart("k", "parent", lines=(line(), line(TUE)))
    confirmed = after_validation(cart, (LineOutcome(line(), LineStatus.CONFIRMED),
                                        LineOutcome(line(TUE), LineStatus.REFUSED, Reason.FULL)), NOW)
    assert confirmed.state is CartState.VALIDATED and confirmed.hold_expires_at is None
    held = after_validation(cart, (LineOutcome(line(), LineStatus.CONFIRMED), LineOutcome(line(TUE), LineStatus.HELD)),
                            NOW)
    assert held.state is CartState.AWAITING_PAYMENT
    assert held.hold_expires_at == NOW + dt.timedelta(minutes=60)
    nothing = after_validation(cart, (LineOutcome(line(), LineStatus.REFUSED, Reason.FULL),), NOW)
    assert nothing.state is CartState.OPEN and nothing.outcomes[0].label == "Refusé : Complet"


def test_a_held_cart_expires_after_sixty_minutes_and_reopens_with_its_held_lines():
    cart = after_validation(Cart("k", "parent", lines=(line(), line(TUE))),
                            (LineOutcome(line(), LineStatus.CONFIRMED), LineOutcome(line(TUE), LineStatus.HELD)), NOW)
    with pytest.raises(IllegalTransition):
        mark_expired(cart, NOW + dt.timedelta(minutes=59))
    assert not is_expired(cart, NOW + dt.timedelta(minutes=59, seconds=59))
    expired = mark_expired(cart, NOW + dt.timedelta(minutes=60))
    assert expired.state is CartState.EXPIRED
    reopened = reopen(expired)
    assert reopened.state is CartState.OPEN and reopened.lines == (line(TUE),) and reopened.outcomes == ()
    assert reopen(mark_failed(cart)).lines == (line(TUE),)


def test_paid_and_validated_carts_are_final():
    cart = after_validation(Cart("k", "parent", lines=(line(),)), (LineOutcome(line(), LineStatus.HELD),), NOW)
    paid = mark_paid(cart)
    assert paid.state is CartState.PAID
    for move in (mark_paid, mark_failed, reopen, lambda c: mark_expired(c, NOW + dt.timedelta(hours=2))):
        with pytest.raises(IllegalTransition):
            move(paid)
    with pytest.raises(IllegalTransition):
        mark_paid(Cart("k", "parent"))  # an open cart cannot be paid


def test_every_state_is_in_the_transition_table():
    assert set(TRANSITIONS) == set(CartState)
