"""The parent's cart (panier): lines, outcomes and the state machine.

    open ──validate──▶ validated                       (nothing to pay)
    open ──validate──▶ open                            (every line refused: shown, cart kept)
    open ──validate──▶ awaiting_payment ──▶ paid
                                        ──▶ expired ──reopen──▶ open
                                        ──▶ failed  ──reopen──▶ open

Any other move raises `IllegalTransition`. Deciding each line's outcome is `checkout`'s job;
this module keeps the lines tidy and the states honest.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import Enum

from .policy import Action
from .reasons import Reason

HOLD_DURATION = dt.timedelta(minutes=60)

LineKey = tuple[str, str, dt.date]  # (child id, prestation id, séance date)


class CartState(Enum):
    OPEN = ("open", "En cours")
    VALIDATED = ("validated", "Validé")
    AWAITING_PAYMENT = ("awaiting_payment", "En attente de paiement")
    PAID = ("paid", "Payé")
    EXPIRED = ("expired", "Expiré : les places ont été libérées")
    FAILED = ("failed", "Paiement non effectué")  # refused by the bank, or abandoned by the parent

    def __init__(self, code: str, label: str):
        self.code = code
        self.label = label


TRANSITIONS: dict[CartState, frozenset[CartState]] = {
    CartState.OPEN: frozenset({CartState.VALIDATED, CartState.AWAITING_PAYMENT}),
    CartState.AWAITING_PAYMENT: frozenset({CartState.PAID, CartState.EXPIRED, CartState.FAILED}),
    CartState.EXPIRED: frozenset({CartState.OPEN}),
    CartState.FAILED: frozenset({CartState.OPEN}),
    CartState.VALIDATED: frozenset(),
    CartState.PAID: frozenset(),
}


class IllegalTransition(Exception):
    def __init__(self, current: CartState, target: CartState | str):
        target_label = target.label if isinstance(target, CartState) else target
        super().__init__(f"Action impossible sur un panier « {current.label} » : {target_label}")
        self.current = current
        self.target = target


class LineStatus(Enum):
    CONFIRMED = ("confirmed", "Réservation confirmée")
    HELD = ("held", "Place réservée, en attente de paiement")
    WAITING_LISTED = ("waiting_listed", "Inscrit sur la liste d'attente")
    CANCELLED = ("cancelled", "Annulation acceptée")
    CANCELLATION_REQUESTED = ("cancellation_requested", "Demande d'annulation transmise au service")
    LEFT_WAITING_LIST = ("left_waiting_list", "Retiré de la liste d'attente")
    REFUSED = ("refused", "Refusé")

    def __init__(self, code: str, label: str):
        self.code = code
        self.label = label


@dataclass(frozen=True)
class CartLine:
    child_id: str
    prestation_id: str
    session_date: dt.date
    action: Action = Action.BOOK

    @property
    def key(self) -> LineKey:
        return (self.child_id, self.prestation_id, self.session_date)


@dataclass(frozen=True)
class LineOutcome:
    line: CartLine
    status: LineStatus
    reason: Reason | None = None  # set when REFUSED

    @property
    def label(self) -> str:
        return f"{self.status.label} : {self.reason.label}" if self.reason else self.status.label


@dataclass(frozen=True)
class Cart:
    id: str
    parent_id: str
    state: CartState = CartState.OPEN
    lines: tuple[CartLine, ...] = ()
    outcomes: tuple[LineOutcome, ...] = ()
    validated_at: dt.datetime | None = None
    hold_expires_at: dt.datetime | None = None

    def held_lines(self) -> tuple[CartLine, ...]:
        return tuple(o.line for o in self.outcomes if o.status is LineStatus.HELD)


def merge_lines(lines: Iterable[CartLine]) -> tuple[CartLine, ...]:
    """One line per (child, prestation, date): a repeated line is kept once, and a booking and a
    cancellation of the same date cancel each other out (the parent clicked the date twice)."""
    merged: dict[LineKey, CartLine] = {}
    for line in lines:
        previous = merged.get(line.key)
        if previous is None:
            merged[line.key] = line
        elif previous.action is not line.action:
            del merged[line.key]
    return tuple(merged.values())


def _require(cart: Cart, target: CartState) -> None:
    if target not in TRANSITIONS[cart.state]:
        raise IllegalTransition(cart.state, target)


def add_lines(cart: Cart, lines: Iterable[CartLine]) -> Cart:
    if cart.state is not CartState.OPEN:
        raise IllegalTransition(cart.state, "modifier le panier")
    return replace(cart, lines=merge_lines((*cart.lines, *lines)), outcomes=())  # earlier refusals are stale


def remove_line(cart: Cart, key: LineKey) -> Cart:
    if cart.state is not CartState.OPEN:
        raise IllegalTransition(cart.state, "modifier le panier")
    return replace(cart, lines=tuple(line for line in cart.lines if line.key != key), outcomes=())


def after_validation(cart: Cart, outcomes: tuple[LineOutcome, ...], now: dt.datetime) -> Cart:
    """The cart once its lines have outcomes: awaiting payment if a place is held, validated if
    anything was accepted, still open (with the refusals to show) if nothing was."""
    if cart.state is not CartState.OPEN:
        raise IllegalTransition(cart.state, "valider")
    if any(o.status is LineStatus.HELD for o in outcomes):
        return replace(cart, state=CartState.AWAITING_PAYMENT, outcomes=outcomes, validated_at=now,
                       hold_expires_at=now + HOLD_DURATION)
    if all(o.status is LineStatus.REFUSED for o in outcomes):
        return replace(cart, outcomes=outcomes)
    return replace(cart, state=CartState.VALIDATED, outcomes=outcomes, validated_at=now)


def mark_paid(cart: Cart) -> Cart:
    """Billing says the payment succeeded. Accepted while the places are still held, even a
    little after `hold_expires_at` if the expiry job has not run yet."""
    _require(cart, CartState.PAID)
    return replace(cart, state=CartState.PAID)


def mark_failed(cart: Cart) -> Cart:
    _require(cart, CartState.FAILED)
    return replace(cart, state=CartState.FAILED)


def is_expired(cart: Cart, now: dt.datetime) -> bool:
    return (cart.state is CartState.AWAITING_PAYMENT and cart.hold_expires_at is not None
            and now >= cart.hold_expires_at)


def mark_expired(cart: Cart, now: dt.datetime) -> Cart:
    _require(cart, CartState.EXPIRED)
    if not is_expired(cart, now):
        raise IllegalTransition(cart.state, "expirer avant la fin du délai de paiement")
    return replace(cart, state=CartState.EXPIRED)


def reopen(cart: Cart) -> Cart:
    """After a failed or expired payment the lines whose places were released come back, so the
    parent can try again; lines confirmed at validation stay confirmed and leave the cart."""
    _require(cart, CartState.OPEN)
    return replace(cart, state=CartState.OPEN, lines=cart.held_lines(), outcomes=(),
                   validated_at=None, hold_expires_at=None)
