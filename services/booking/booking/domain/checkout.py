"""Validating a cart ("Valider") and settling its payment, over a snapshot of the facts.

The adapter loads a `Snapshot` inside one transaction (occupancy rows locked), calls `validate`,
and writes back the cart, the bookings of each outcome and the new occupancy; `freed` lists the
séances whose waiting list should be promoted (see `waiting_list.promote`).

Order: the cart's bookings take places before its cancellations free any, so a place freed by
a cancellation goes to the waiting list first, never to a line of the same cart.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from .capacity import Occupancy, Slot
from .cart import (Cart, CartLine, CartState, IllegalTransition, LineKey, LineOutcome, LineStatus,
                   after_validation, is_expired, mark_expired, mark_failed, mark_paid, merge_lines)
from .catalogue import PaymentMode, Prestation
from .closures import CommuneCalendar
from .eligibility import ON_WAITING_LIST, line_refusal
from .enrolment import Enrolment
from .facts import BookingStatus
from .policy import Action
from .reasons import Reason


@dataclass(frozen=True)
class Snapshot:
    calendar: CommuneCalendar
    prestations: Mapping[str, Prestation]
    enrolments: tuple[Enrolment, ...]
    bookings: Mapping[LineKey, BookingStatus]  # the family's current status for the cart's dates
    occupancy: Mapping[Slot, Occupancy]  # every slot the cart touches (may be omitted when unlimited)
    deadline_overrides: frozenset[LineKey] = field(default_factory=frozenset)  # agent overrides
    resident: bool = True


#: The child's booking status once a line has this outcome (None: no booking any more).
STATUS_AFTER: dict[LineStatus, BookingStatus | None] = {
    LineStatus.CONFIRMED: BookingStatus.CONFIRMED,
    LineStatus.HELD: BookingStatus.HELD,
    LineStatus.WAITING_LISTED: BookingStatus.WAITING,
    LineStatus.CANCELLED: BookingStatus.CANCELLED,
    LineStatus.CANCELLATION_REQUESTED: BookingStatus.CANCELLATION_REQUESTED,
    LineStatus.LEFT_WAITING_LIST: None,
}

Change = tuple[LineKey, BookingStatus | None]


@dataclass(frozen=True)
class Checkout:
    cart: Cart
    occupancy: dict[Slot, Occupancy]
    changes: tuple[Change, ...] = ()  # what to write: each touched booking's new status
    freed: tuple[Slot, ...] = ()  # places freed: promote these waiting lists


def validate(cart: Cart, snapshot: Snapshot, now: dt.datetime) -> Checkout:
    if cart.state is not CartState.OPEN:
        raise IllegalTransition(cart.state, "valider")
    lines = merge_lines(cart.lines)
    if not lines:
        raise ValueError("Le panier est vide")
    occupancy = dict(snapshot.occupancy)
    freed: list[Slot] = []
    decided: dict[LineKey, LineOutcome] = {}
    for line in sorted(lines, key=lambda line: line.action is not Action.BOOK):
        decided[line.key] = _decide(line, snapshot, occupancy, freed, now)
    outcomes = tuple(decided[line.key] for line in lines)
    changes = tuple((o.line.key, STATUS_AFTER[o.status]) for o in outcomes if o.status is not LineStatus.REFUSED)
    return Checkout(after_validation(replace(cart, lines=lines), outcomes, now), occupancy, changes, tuple(freed))


def _decide(line: CartLine, snap: Snapshot, occupancy: dict[Slot, Occupancy], freed: list[Slot],
            now: dt.datetime) -> LineOutcome:
    prestation = snap.prestations.get(line.prestation_id)
    if prestation is None:
        return LineOutcome(line, LineStatus.REFUSED, Reason.UNKNOWN_PRESTATION)
    status = snap.bookings.get(line.key)
    reason = line_refusal(line, prestation, snap.calendar, snap.enrolments, status, now,
                          resident=snap.resident, deadline_waived=line.key in snap.deadline_overrides)
    if reason is not None:
        return LineOutcome(line, LineStatus.REFUSED, reason)
    slot = (line.prestation_id, line.session_date)

    if line.action is Action.CANCEL:
        if status in ON_WAITING_LIST:
            if status is BookingStatus.PENDING_AGENT:  # a place was held for it
                occupancy[slot] = _occupancy(occupancy, slot, prestation).release_held()
                freed.append(slot)
            return LineOutcome(line, LineStatus.LEFT_WAITING_LIST)
        if not prestation.cancellation_auto_accept:
            return LineOutcome(line, LineStatus.CANCELLATION_REQUESTED)
        occupancy[slot] = _occupancy(occupancy, slot, prestation).release_confirmed()
        freed.append(slot)
        return LineOutcome(line, LineStatus.CANCELLED)

    places = _occupancy(occupancy, slot, prestation)
    if places.has_room:
        prepaid = prestation.payment_mode is PaymentMode.PREPAID
        occupancy[slot] = places.take(hold=prepaid)
        return LineOutcome(line, LineStatus.HELD if prepaid else LineStatus.CONFIRMED)
    if prestation.waiting_list:
        return LineOutcome(line, LineStatus.WAITING_LISTED)
    return LineOutcome(line, LineStatus.REFUSED, Reason.FULL)


def _occupancy(occupancy: Mapping[Slot, Occupancy], slot: Slot, prestation: Prestation) -> Occupancy:
    if slot in occupancy:
        return occupancy[slot]
    if prestation.capacity is None:
        return Occupancy(capacity=None)
    raise KeyError(f"Occupancy of {slot} missing from the snapshot")


def settle_paid(cart: Cart, occupancy: Mapping[Slot, Occupancy]) -> Checkout:
    """Billing confirmed the payment: held places become confirmed bookings."""
    paid = mark_paid(cart)
    updated = dict(occupancy)
    for line in cart.held_lines():
        slot = (line.prestation_id, line.session_date)
        updated[slot] = updated[slot].confirm_held()
    outcomes = tuple(replace(o, status=LineStatus.CONFIRMED) if o.status is LineStatus.HELD else o
                     for o in cart.outcomes)
    changes = tuple((line.key, BookingStatus.CONFIRMED) for line in cart.held_lines())
    return Checkout(replace(paid, outcomes=outcomes), updated, changes)


def settle_failed(cart: Cart, occupancy: Mapping[Slot, Occupancy]) -> Checkout:
    return _release(mark_failed(cart), occupancy)


def settle_expired(cart: Cart, occupancy: Mapping[Slot, Occupancy], now: dt.datetime) -> Checkout:
    return _release(mark_expired(cart, now), occupancy)


def settle_abandoned(cart: Cart, occupancy: Mapping[Slot, Occupancy], now: dt.datetime) -> Checkout:
    """The parent gave up paying ("Abandonner ce paiement"): the held places are released at once,
    as after a failed payment (state failed: the unpaid lines come back to an open cart when the
    parent returns to it), or as after expiry if the hold had already run out."""
    if is_expired(cart, now):
        return settle_expired(cart, occupancy, now)
    if cart.state is not CartState.AWAITING_PAYMENT:
        raise IllegalTransition(cart.state, "abandonner le paiement")
    return settle_failed(cart, occupancy)


def _release(cart: Cart, occupancy: Mapping[Slot, Occupancy]) -> Checkout:
    """Unpaid places go back; the held bookings disappear (the parent never had them)."""
    updated, freed = dict(occupancy), []
    for line in cart.held_lines():
        slot = (line.prestation_id, line.session_date)
        updated[slot] = updated[slot].release_held()
        freed.append(slot)
    changes = tuple((line.key, None) for line in cart.held_lines())
    return Checkout(cart, updated, changes, tuple(freed))
