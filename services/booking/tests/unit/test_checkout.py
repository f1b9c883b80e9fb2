import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings, strategies as st

from booking.domain.capacity import Occupancy
from booking.domain.closures import CommuneCalendar
from booking.domain.cart import Cart, CartLine, CartState, IllegalTransition, LineStatus
from booking.domain.catalogue import PaymentMode
from booking.domain.cart import reopen
from booking.domain.checkout import Snapshot, settle_abandoned, settle_expired, settle_failed, settle_paid, validate
from booking.domain.enrolment import Enrolment
from booking.domain.facts import BookingStatus
from booking.domain.policy import Action
from booking.domain.reasons import Reason

PARIS = ZoneInfo("Europe/Paris")
ZONE_B = CommuneCalendar("B")

NOW = dt.datetime(2026, 11, 10, 9, tzinfo=PARIS)
THU, FRI = dt.date(2026, 11, 12), dt.date(2026, 11, 13)
YEAR = (dt.date(2026, 9, 1), dt.date(2027, 7, 2))
ENROLLED = tuple(Enrolment(child, "s", *YEAR) for child in ("c1", "c2", "c3"))


def book(day=THU, child="c1", prestation="p"):
    return CartLine(child, prestation, day, Action.BOOK)


def cancel(day=THU, child="c1", prestation="p"):
    return CartLine(child, prestation, day, Action.CANCEL)


def snapshot(prestation, occupancy=None, bookings=None, **kwargs):
    occupancy = occupancy if occupancy is not None else {}
    return Snapshot(ZONE_B, {prestation.id: prestation}, kwargs.pop("enrolments", ENROLLED), bookings or {},
                    occupancy, **kwargs)


def statuses(checkout):
    return [(o.status, o.reason) for o in checkout.cart.outcomes]


def test_end_of_month_lines_are_confirmed_at_once(prestation):
    p = prestation()
    result = validate(Cart("k", "parent", lines=(book(THU), book(FRI))), snapshot(p, {
        ("p", THU): Occupancy(2), ("p", FRI): Occupancy(2, confirmed=1)}), NOW)
    assert statuses(result) == [(LineStatus.CONFIRMED, None)] * 2
    assert result.cart.state is CartState.VALIDATED
    assert result.occupancy[("p", FRI)] == Occupancy(2, confirmed=2)
    assert result.changes == ((book(THU).key, BookingStatus.CONFIRMED), (book(FRI).key, BookingStatus.CONFIRMED))


def test_prepaid_lines_hold_their_places_until_paid_or_released(prestation):
    p = prestation(payment_mode=PaymentMode.PREPAID)
    result = validate(Cart("k", "parent", lines=(book(THU),)), snapshot(p, {("p", THU): Occupancy(2)}), NOW)
    assert statuses(result) == [(LineStatus.HELD, None)]
    assert result.cart.state is CartState.AWAITING_PAYMENT
    assert result.occupancy[("p", THU)] == Occupancy(2, held=1)
    assert result.changes == ((book(THU).key, BookingStatus.HELD),)
    paid = settle_paid(result.cart, result.occupancy)
    assert paid.occupancy[("p", THU)] == Occupancy(2, confirmed=1)
    assert paid.changes == ((book(THU).key, BookingStatus.CONFIRMED),)
    assert statuses(paid) == [(LineStatus.CONFIRMED, None)]
    failed = settle_failed(result.cart, result.occupancy)
    assert failed.occupancy[("p", THU)] == Occupancy(2) and failed.freed == (("p", THU),)
    assert failed.changes == ((book(THU).key, None),)  # the unpaid booking disappears
    with pytest.raises(IllegalTransition):
        settle_expired(result.cart, result.occupancy, NOW + dt.timedelta(minutes=30))
    expired = settle_expired(result.cart, result.occupancy, NOW + dt.timedelta(minutes=60))
    assert expired.cart.state is CartState.EXPIRED and expired.occupancy[("p", THU)] == Occupancy(2)


def test_a_parent_who_gives_up_paying_releases_the_held_places_at_once(prestation):
    p = prestation(payment_mode=PaymentMode.PREPAID)
    result = validate(Cart("k", "parent", lines=(book(THU), book(FRI))), snapshot(p, {
        ("p", THU): Occupancy(2), ("p", FRI): Occupancy(1)}), NOW)
    abandoned = settle_abandoned(result.cart, result.occupancy, NOW + dt.timedelta(minutes=5))
    assert abandoned.cart.state is CartState.FAILED  # as after a failed payment, well before the hold's end
    assert abandoned.occupancy == {("p", THU): Occupancy(2), ("p", FRI): Occupancy(1)}
    assert abandoned.freed == (("p", THU), ("p", FRI))
    assert abandoned.changes == ((book(THU).key, None), (book(FRI).key, None))
    assert reopen(abandoned.cart).lines == (book(THU), book(FRI))  # the unpaid dates come back to the cart
    late = settle_abandoned(result.cart, result.occupancy, NOW + dt.timedelta(minutes=60))
    assert late.cart.state is CartState.EXPIRED  # the hold had run out: the same as the expiry job
    for settled in (abandoned, late):  # once released, there is nothing left to give up
        with pytest.raises(IllegalTransition):
            settle_abandoned(settled.cart, settled.occupancy, NOW)
    with pytest.raises(IllegalTransition):  # nothing held: nothing to abandon
        settle_abandoned(Cart("k", "parent", lines=(book(THU),)), {}, NOW)


def test_full_dates_are_waiting_listed_or_refused(prestation):
    full = {("p", THU): Occupancy(2, confirmed=1, held=1)}
    refused = validate(Cart("k", "parent", lines=(book(),)), snapshot(prestation(), full), NOW)
    assert statuses(refused) == [(LineStatus.REFUSED, Reason.FULL)]
    assert refused.cart.state is CartState.OPEN  # nothing accepted: the parent can change the cart
    waiting = validate(Cart("k", "parent", lines=(book(),)), snapshot(prestation(waiting_list=True), full), NOW)
    assert statuses(waiting) == [(LineStatus.WAITING_LISTED, None)]
    assert waiting.changes == ((book().key, BookingStatus.WAITING),)
    assert waiting.cart.state is CartState.VALIDATED and waiting.occupancy == full


def test_each_line_is_checked_and_refused_with_its_reason(prestation):
    p = prestation()
    lines = (book(THU, child="stranger"), book(dt.date(2026, 11, 11)), book(dt.date(2026, 11, 11), prestation="nope"),
             book(dt.date(2026, 11, 10)), book(FRI, child="c2"), cancel(FRI, child="c3"))
    result = validate(Cart("k", "parent", lines=lines), snapshot(p, {("p", FRI): Occupancy(2)}, bookings={
        ("c2", "p", FRI): BookingStatus.CONFIRMED}), NOW)
    assert statuses(result) == [
        (LineStatus.REFUSED, Reason.NOT_ENROLLED),
        (LineStatus.REFUSED, Reason.PUBLIC_HOLIDAY),  # 11 November
        (LineStatus.REFUSED, Reason.UNKNOWN_PRESTATION),
        (LineStatus.REFUSED, Reason.BOOKING_DEADLINE_PASSED),  # today
        (LineStatus.REFUSED, Reason.ALREADY_BOOKED),
        (LineStatus.REFUSED, Reason.NOT_BOOKED),
    ]


def test_enrolment_must_cover_the_date(prestation):
    autumn_only = (Enrolment("c1", "s", dt.date(2026, 9, 1), dt.date(2026, 11, 12)),)
    result = validate(Cart("k", "parent", lines=(book(THU), book(FRI))),
                      snapshot(prestation(), {("p", THU): Occupancy(2), ("p", FRI): Occupancy(2)},
                               enrolments=autumn_only), NOW)
    assert statuses(result) == [(LineStatus.CONFIRMED, None), (LineStatus.REFUSED, Reason.NOT_ENROLLED)]


def test_an_agent_override_lets_one_family_book_after_the_deadline(prestation):
    late = dt.datetime(2026, 11, 11, 15, tzinfo=PARIS)
    cart = Cart("k", "parent", lines=(book(THU),))
    occupancy = {("p", THU): Occupancy(2)}
    assert statuses(validate(cart, snapshot(prestation(), occupancy), late)) == [
        (LineStatus.REFUSED, Reason.BOOKING_DEADLINE_PASSED)]
    overridden = snapshot(prestation(), occupancy, deadline_overrides=frozenset({book(THU).key}))
    assert statuses(validate(cart, overridden, late)) == [(LineStatus.CONFIRMED, None)]


def test_cancellations_free_the_place_or_go_to_the_agents(prestation):
    booked = {("c1", "p", THU): BookingStatus.CONFIRMED}
    occupancy = {("p", THU): Occupancy(2, confirmed=2)}
    accepted = validate(Cart("k", "parent", lines=(cancel(),)), snapshot(prestation(), occupancy, booked), NOW)
    assert statuses(accepted) == [(LineStatus.CANCELLED, None)]
    assert accepted.occupancy[("p", THU)] == Occupancy(2, confirmed=1) and accepted.freed == (("p", THU),)
    assert accepted.changes == ((cancel().key, BookingStatus.CANCELLED),)
    requested = validate(Cart("k", "parent", lines=(cancel(),)),
                         snapshot(prestation(cancellation_auto_accept=False), occupancy, booked), NOW)
    assert statuses(requested) == [(LineStatus.CANCELLATION_REQUESTED, None)]
    assert requested.occupancy == occupancy and requested.freed == ()
    assert requested.changes == ((cancel().key, BookingStatus.CANCELLATION_REQUESTED),)
    late = dt.datetime(2026, 11, 11, 12, tzinfo=PARIS)
    assert statuses(validate(Cart("k", "parent", lines=(cancel(),)), snapshot(prestation(), occupancy, booked),
                             late)) == [(LineStatus.REFUSED, Reason.CANCELLATION_DEADLINE_PASSED)]


def test_leaving_a_waiting_list_needs_no_deadline(prestation):
    late = dt.datetime(2026, 11, 11, 20, tzinfo=PARIS)
    result = validate(Cart("k", "parent", lines=(cancel(),)),
                      snapshot(prestation(), bookings={("c1", "p", THU): BookingStatus.WAITING}), late)
    assert statuses(result) == [(LineStatus.LEFT_WAITING_LIST, None)]
    assert result.changes == ((cancel().key, None),) and result.freed == ()


def test_a_cancellation_in_the_same_cart_never_frees_a_place_for_its_own_booking(prestation):
    p = prestation(waiting_list=True)
    lines = (cancel(child="c1"), book(child="c2"))  # the parent swaps children on a full date
    result = validate(Cart("k", "parent", lines=lines), snapshot(p, {("p", THU): Occupancy(2, confirmed=2)}, {
        ("c1", "p", THU): BookingStatus.CONFIRMED}), NOW)
    assert statuses(result) == [(LineStatus.CANCELLED, None), (LineStatus.WAITING_LISTED, None)]
    assert result.freed == (("p", THU),)  # the waiting list (now with c2 last) gets the place


def test_an_empty_cart_cannot_be_validated(prestation):
    with pytest.raises(ValueError, match="vide"):
        validate(Cart("k", "parent"), snapshot(prestation()), NOW)


carts = st.lists(st.lists(st.tuples(st.sampled_from(["c1", "c2", "c3"]), st.sampled_from([THU, FRI])),
                          min_size=1, max_size=6), min_size=1, max_size=30)


@settings(max_examples=60, deadline=None)
@given(carts=carts, capacity=st.integers(0, 4), prepaid=st.booleans(), pay=st.lists(st.booleans(), max_size=30))
def test_no_sequence_of_validations_and_payments_ever_exceeds_the_capacity(prestation, carts, capacity, prepaid,
                                                                        pay):
    p = prestation(capacity=capacity, payment_mode=PaymentMode.PREPAID if prepaid else PaymentMode.END_OF_MONTH,
                   waiting_list=True)
    occupancy = {("p", THU): Occupancy(capacity), ("p", FRI): Occupancy(capacity)}
    bookings: dict = {}
    confirmed_lines = {THU: 0, FRI: 0}
    for n, picks in enumerate(carts):
        cart = Cart(str(n), "parent", lines=tuple(book(day, child) for child, day in picks))
        result = validate(cart, snapshot(p, occupancy, bookings), NOW)
        occupancy = result.occupancy
        for outcome in result.cart.outcomes:
            if outcome.status is not LineStatus.REFUSED:
                bookings[outcome.line.key] = BookingStatus.WAITING  # anything active: never booked twice
        if result.cart.state is CartState.AWAITING_PAYMENT:
            settle = settle_paid if n < len(pay) and pay[n] else settle_failed
            result = settle(result.cart, occupancy)
            occupancy = result.occupancy
        for outcome in result.cart.outcomes:
            confirmed_lines[outcome.line.session_date] += outcome.status is LineStatus.CONFIRMED
        for occ in occupancy.values():
            assert occ.confirmed + occ.held <= capacity
    for day in (THU, FRI):
        assert occupancy[("p", day)] == Occupancy(capacity, confirmed=confirmed_lines[day], held=0)


def test_withdrawing_a_child_promoted_from_the_waiting_list_gives_the_held_place_back(prestation):
    result = validate(Cart("k", "parent", lines=(cancel(),)), snapshot(
        prestation(waiting_list=True), {("p", THU): Occupancy(2, confirmed=1, held=1)},
        {("c1", "p", THU): BookingStatus.PENDING_AGENT}), NOW)
    assert statuses(result) == [(LineStatus.LEFT_WAITING_LIST, None)]
    assert result.occupancy[("p", THU)] == Occupancy(2, confirmed=1) and result.freed == (("p", THU),)


def test_only_an_open_cart_is_validated(prestation):
    first = validate(Cart("k", "parent", lines=(book(),)), snapshot(prestation(), {("p", THU): Occupancy(2)}), NOW)
    with pytest.raises(IllegalTransition):
        validate(first.cart, snapshot(prestation(), first.occupancy), NOW)
