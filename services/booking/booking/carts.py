"""The parent's cart (panier): lines, "Valider", payment outcomes and expiry.

One current cart per parent (the latest one that is open, awaiting payment, expired or failed);
its lines belong to one commune. Validation is the adapter `booking.domain` asks for: the
séances' occupancy rows are locked in a fixed order, `checkout.validate` decides every line,
and bookings, occupancy, cart, waiting-list promotions and events are written in the same
transaction — so confirmed bookings never exceed a capacity, whatever the concurrency, and a
failure leaves nothing half-done.
"""
from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from psycopg.rows import dict_row
from sqlalchemy.orm import Session

from servicekit import bulk
from servicekit.bulk import insert_rows
from servicekit.db import is_postgresql
from servicekit.messaging import outbox
from servicekit.problems import Problem
from servicekit.queries import one_of
from servicekit.tokens import Caller
from servicekit.types import isoformat_utc, utcnow
from servicekit import pg

from booking import access, audit, events, idempotency, places, store
from booking.domain import cart as cart_rules
from booking.domain import checkout
from booking.domain.cancellations import refund_for
from booking.domain.cart import Cart, CartLine, CartState, IllegalTransition, LineOutcome, LineStatus
from booking.domain.catalogue import PaymentMode
from booking.domain.facts import BookingStatus
from booking.domain.period import PeriodRequest, plan_period
from booking.domain.policy import Action
from booking.domain.reasons import Reason
from booking.models import bookings, cart_lines, carts, children, families, prestations

MAX_LINES = 500
VALIDATE = "cart.validate"  # the Idempotency-Key's operation
CURRENT_STATES = (CartState.OPEN.code, CartState.AWAITING_PAYMENT.code, CartState.EXPIRED.code, CartState.FAILED.code)
STATES = {s.code: s for s in CartState}
LINE_STATUSES = {s.code: s for s in LineStatus}
REASONS = {r.code: r for r in Reason}


# --- reading and writing carts ----------------------------------------------------------------------------
# Built once (the states are constants written in the text): no statement to build, nor its
# cache key to compute, on every request.
_CURRENT_CART = (sa.select(carts).where(carts.c.parent_sub == sa.bindparam("parent_sub"),
                                        carts.c.state.in_([sa.literal_column(f"'{code}'") for code in CURRENT_STATES]))
                 .order_by(carts.c.created_at.desc()).limit(1))
_CURRENT_CART_LOCKED = _CURRENT_CART.with_for_update()


# Adding lines on PostgreSQL: the parent's current cart locked, and the family's children and the
# prestations of its communes among the new lines' (store.LINE_CHECKS_PG), in one statement.
_EDITABLE_CART_PG = pg.query(f"""
SELECT {", ".join(f"cart.{name}" for name in carts.c.keys())}, checks.children, checks.prestations
FROM ({store.LINE_CHECKS_PG}) AS checks
LEFT JOIN LATERAL (
    SELECT * FROM carts WHERE parent_sub = :parent_sub
      AND state IN ({", ".join(f"'{code}'" for code in CURRENT_STATES)})
    ORDER BY created_at DESC LIMIT 1 FOR UPDATE
) AS cart ON true
""")
_CART_TIMES = ("validated_at", "hold_expires_at", "created_at", "updated_at")

# "Valider"'s lock of the current cart (PostgreSQL): `_CURRENT_CART_LOCKED`'s text, sent by `pg`.
_CURRENT_CART_LOCKED_PG = pg.query(f"""
SELECT {", ".join(carts.c.keys())} FROM carts WHERE parent_sub = :parent_sub
  AND state IN ({", ".join(f"'{code}'" for code in CURRENT_STATES)})
ORDER BY created_at DESC LIMIT 1 FOR UPDATE
""")


def _cart_row(got: Mapping) -> dict:
    """A `carts` row read through `pg` as SQLAlchemy reads it (its instants in UTC)."""
    row = {name: got[name] for name in carts.c.keys()}
    for name in _CART_TIMES:
        row[name] = pg.utc(row[name])
    return row


def current_cart_row(session: Session, parent_sub: str, lock: bool) -> dict | None:
    """The parent's current cart (open, awaiting payment, expired or failed), locked if asked."""
    if lock and is_postgresql(session):
        got = pg.execute(session, _CURRENT_CART_LOCKED_PG, {"parent_sub": parent_sub}, row_factory=dict_row).fetchone()
        return _cart_row(got) if got else None
    row = session.execute(_CURRENT_CART_LOCKED if lock else _CURRENT_CART, {"parent_sub": parent_sub}).mappings().first()
    return dict(row) if row else None


def _domain_cart(session: Session, row: Mapping, stored: Iterable[Mapping] | None = None) -> Cart:
    """The cart of `row` with its lines (`stored`: already read, in order)."""
    if stored is None:
        stored = session.execute(sa.select(cart_lines).where(cart_lines.c.cart_id == row["id"])
                                 .order_by(cart_lines.c.position)).mappings()
    lines, outcomes = [], []
    for r in stored:
        line = CartLine(r["child_id"], r["prestation_id"], r["session_date"], Action(r["action"]))
        lines.append(line)
        if r["outcome"]:
            outcomes.append(LineOutcome(line, LINE_STATUSES[r["outcome"]], REASONS.get(r["reason"])))
    return Cart(row["id"], row["parent_sub"], STATES[row["state"]], tuple(lines), tuple(outcomes),
                row["validated_at"], row["hold_expires_at"])


# A new cart and its lines (a JSON document, as servicekit.bulk sends rows) in one statement; the
# lines' foreign key is checked at the statement's end, once the cart is in.
_NEW_CART_PG = pg.query("""
WITH new_cart AS (
    INSERT INTO carts (id, family_id, parent_sub, commune, state, validated_at, hold_expires_at, created_at, updated_at)
    VALUES (:id, :family_id, :parent_sub, :commune, :state, CAST(:validated_at AS timestamptz),
            CAST(:hold_expires_at AS timestamptz), :created_at, :updated_at)
)
INSERT INTO cart_lines (cart_id, child_id, prestation_id, session_date, action, position, outcome, reason)
SELECT cart_id, child_id, prestation_id, session_date, action, position, outcome, reason
FROM json_populate_recordset(NULL::cart_lines, :lines)
""")


def _save_cart(session: Session, row: Mapping, cart: Cart, now: dt.datetime, commune: str | None = None) -> None:
    values = {"state": cart.state.code, "validated_at": cart.validated_at, "hold_expires_at": cart.hold_expires_at,
              "updated_at": now}
    if commune is not None or not cart.lines:
        values["commune"] = commune if cart.lines else None
    if row.get(NEW) and cart.lines and is_postgresql(session):  # the cart and its lines: one statement
        pg.execute(session, _NEW_CART_PG, {**{k: v for k, v in row.items() if k != NEW}, **values,
                                       "lines": json.dumps(_line_rows(row["id"], cart), default=dt.date.isoformat)})
        return
    if row.get(NEW):  # not stored yet (_editable_cart): one INSERT with its values, no lines to delete
        session.execute(carts.insert().values({**{k: v for k, v in row.items() if k != NEW}, **values}))
    else:
        session.execute(carts.update().where(carts.c.id == row["id"]).values(**values))
        session.execute(cart_lines.delete().where(cart_lines.c.cart_id == row["id"]))
    if cart.lines:
        insert_rows(session, cart_lines, _line_rows(row["id"], cart))


def _line_rows(cart_id: str, cart: Cart) -> list[dict]:
    """The `cart_lines` rows of `cart`, in order, with their outcomes."""
    outcomes = {o.line.key: o for o in cart.outcomes}
    return [{"cart_id": cart_id, "child_id": line.child_id, "prestation_id": line.prestation_id,
             "session_date": line.session_date, "action": line.action.value, "position": n,
             "outcome": outcomes[line.key].status.code if line.key in outcomes else None,
             "reason": outcomes[line.key].reason.code if line.key in outcomes and outcomes[line.key].reason else None}
            for n, line in enumerate(cart.lines)]


_OUTCOMES = (cart_lines.update()
             .where(cart_lines.c.cart_id == sa.bindparam("line_cart"), cart_lines.c.child_id == sa.bindparam("line_child"),
                    cart_lines.c.prestation_id == sa.bindparam("line_prestation"),
                    cart_lines.c.session_date == sa.bindparam("line_date"))
             .values(outcome=sa.bindparam("new_outcome"), reason=sa.bindparam("new_reason")))


# The cart's state, its lines' outcomes (one UPDATE from a JSON document: psycopg's executemany
# would send one per line, and arrays cost a Python call per element to dump), the
# Idempotency-Key's answer (when a key was given), the new bookings and the events (the outbox
# rows, `servicekit.messaging.outbox.INSERT_EVENTS_PG`) in one statement.
_OUTCOMES_PG = pg.query("""
WITH saved_cart AS (
    UPDATE carts SET state = :state, validated_at = CAST(:validated_at AS timestamptz),
        hold_expires_at = CAST(:hold_expires_at AS timestamptz), updated_at = :now
    WHERE id = :cart
), remembered AS (
    INSERT INTO idempotency_keys (caller_sub, operation, key, cart_id, response, created_at)
    SELECT :sub, :operation, CAST(:key AS varchar), :cart, CAST(:response AS json), :now
    WHERE CAST(:key AS varchar) IS NOT NULL
), booked AS (
    INSERT INTO bookings (id, commune, family_id, child_id, service_id, prestation_id, session_date, status, cart_id,
                          waiting_since, created_at, updated_at)
    SELECT id, commune, family_id, child_id, service_id, prestation_id, session_date, status, cart_id,
           waiting_since, created_at, updated_at
    FROM json_populate_recordset(NULL::bookings, :bookings)
), outboxed AS (
    {outbox_insert}
)
UPDATE cart_lines AS l SET outcome = v.outcome, reason = v.reason
FROM json_to_recordset(CAST(:outcomes AS json))
    AS v(child_id varchar, prestation_id varchar, session_date date, outcome varchar, reason varchar)
WHERE l.cart_id = :cart AND l.child_id = v.child_id AND l.prestation_id = v.prestation_id
  AND l.session_date = v.session_date
""".format(outbox_insert=outbox.INSERT_EVENTS_PG))


def _save_outcomes(session: Session, row: Mapping, cart: Cart, now: dt.datetime, caller_sub: str,
                   key: str | None, answer: dict, new_bookings: list[dict], published: list) -> str | None:
    """A validated cart whose stored lines are unchanged: its state and every line's outcome
    (instead of deleting and inserting its lines again), `answer` remembered for `key`, the
    `new_bookings` rows inserted and the `published` events written to the outbox. Returns the
    answer's JSON text on PostgreSQL (written once: the record's and the HTTP response's)."""
    if is_postgresql(session):
        outcomes = cart.outcomes
        document = events.document(published)
        text = json.dumps(answer)
        pg.execute(session, _OUTCOMES_PG, {"bookings": bulk.document(bookings, new_bookings), "events": document or "[]",
            "cart": row["id"], "state": cart.state.code, "validated_at": cart.validated_at,
            "hold_expires_at": cart.hold_expires_at, "now": now, "sub": caller_sub, "operation": VALIDATE,
            "key": key or None, "response": text,
            "outcomes": json.dumps([
                {"child_id": o.line.child_id, "prestation_id": o.line.prestation_id,
                 "session_date": o.line.session_date.isoformat(), "outcome": o.status.code,
                 "reason": o.reason.code if o.reason else None} for o in outcomes])})
        if document is not None:
            events.written(session)
        return text
    insert_rows(session, bookings, new_bookings)
    session.execute(carts.update().where(carts.c.id == row["id"]).values(
        state=cart.state.code, validated_at=cart.validated_at, hold_expires_at=cart.hold_expires_at, updated_at=now))
    idempotency.remember(session, caller_sub, VALIDATE, key, answer, cart_id=row["id"], now=now)
    session.execute(_OUTCOMES, [
        {"line_cart": row["id"], "line_child": o.line.child_id, "line_prestation": o.line.prestation_id,
         "line_date": o.line.session_date, "new_outcome": o.status.code, "new_reason": o.reason.code if o.reason else None}
        for o in cart.outcomes])
    events.publish(session, published)
    return None


class Answer(dict):
    """"Valider"'s answer with its JSON text as written with the cart (`json.dumps`): the API
    sends that text instead of encoding the same lines again."""

    def __init__(self, answer: dict, text: str):
        super().__init__(answer)
        self.text = text


NEW = "_new"  # marks a cart row made by _editable_cart and not inserted yet


_UNREAD = object()


def _editable_cart(session: Session, family_id: str, parent_sub: str, now: dt.datetime,
                   row: Mapping | None = _UNREAD) -> tuple[dict, Cart]:
    """The parent's cart, ready for changes: a new one if none (inserted by `_save_cart`),
    reopened after a failed or expired payment (its unpaid lines come back); refused while a
    payment is awaited. `row`: the current cart as read already (locked)."""
    if row is _UNREAD:
        row = current_cart_row(session, parent_sub, lock=True)
    if row is None or row["family_id"] != family_id:
        row = {"id": str(uuid.uuid4()), "family_id": family_id, "parent_sub": parent_sub, "commune": None,
               "state": CartState.OPEN.code, "validated_at": None, "hold_expires_at": None,
               "created_at": now, "updated_at": now, NEW: True}
        return row, Cart(row["id"], parent_sub)
    cart = _domain_cart(session, row)
    if cart.state is CartState.AWAITING_PAYMENT:
        raise Problem(409, "Votre panier attend son paiement : payez-le ou attendez qu'il expire avant de le modifier.")
    if cart.state in (CartState.EXPIRED, CartState.FAILED):
        cart = cart_rules.reopen(cart)
    return row, cart


# --- views --------------------------------------------------------------------------------------------------
def cart_view(session: Session, row: Mapping | None, cart: Cart | None = None, skipped: Iterable = (),
              known: LineFacts | None = None) -> dict:
    """The cart as the API shows it. `known`: the prestations and children the caller already
    read (only the missing ones are read here)."""
    if row is None:
        return {"id": None, "state": CartState.OPEN.code, "state_label": CartState.OPEN.label, "commune": None,
                "validated_at": None, "hold_expires_at": None, "lines": [], "skipped": []}
    cart = cart or _domain_cart(session, row)
    outcomes = {o.line.key: o for o in cart.outcomes}
    lines = cart.lines or tuple(o.line for o in cart.outcomes)
    prest, kids = (dict(known.prestations), dict(known.children)) if known else ({}, {})
    missing = {line.prestation_id for line in lines} - prest.keys()
    if missing:
        prest.update((r["id"], r) for r in session.execute(
            sa.select(prestations).where(one_of(session, prestations.c.id, missing))).mappings())
    missing = {line.child_id for line in lines} - kids.keys()
    if missing:
        kids.update((r["child_id"], r) for r in session.execute(
            sa.select(*_CHILD_COLUMNS).where(one_of(session, children.c.child_id, missing))).mappings())
    items = []
    for line in lines:
        p, c, outcome = prest.get(line.prestation_id), kids.get(line.child_id), outcomes.get(line.key)
        items.append({
            "child_id": line.child_id, "child_name": f"{c['given_name']} {c['family_name']}" if c else None,
            "prestation_id": line.prestation_id, "prestation_label": p["label"] if p else None,
            "service_id": p["service_id"] if p else None, "session_date": line.session_date.isoformat(),
            "action": line.action.value, "payment_mode": p["payment_mode"] if p else None,
            "price_ref": p["price_ref"] if p else None,
            "outcome": outcome.status.code if outcome else None, "outcome_label": outcome.label if outcome else None,
            "reason": outcome.reason.code if outcome and outcome.reason else None,
        })
    return {"id": row["id"], "state": cart.state.code, "state_label": cart.state.label, "commune": row["commune"],
            "validated_at": isoformat_utc(cart.validated_at), "hold_expires_at": isoformat_utc(cart.hold_expires_at),
            "lines": items,
            "skipped": [{"session_date": s.day.isoformat(), "reason": s.reason.code, "reason_label": s.reason.label}
                        for s in skipped]}


def get_cart(session: Session, caller: Caller) -> dict:
    family_id = access.parent_family(caller)
    row = current_cart_row(session, caller.sub, lock=False)
    if row is not None and row["family_id"] != family_id:
        row = None
    return cart_view(session, row)


# --- changing lines ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LineFacts:
    """What `_check_lines` read about a cart's lines, reused by `cart_view`."""
    commune: str
    prestations: Mapping[str, Mapping]  # id -> prestations row
    children: Mapping[str, Mapping]  # child_id -> child_id, given_name, family_name


_CHILD_COLUMNS = (children.c.child_id, children.c.given_name, children.c.family_name)


def _own_children(session: Session, family_id: str, child_ids: Iterable[str]) -> dict[str, Mapping]:
    """The family's current children among `child_ids` (one statement), or 404 if any is not."""
    ids = set(child_ids)
    found = {r["child_id"]: r for r in session.execute(sa.select(*_CHILD_COLUMNS).where(
        one_of(session, children.c.child_id, ids), children.c.family_id == family_id, children.c.removed_at.is_(None))).mappings()}
    if len(found) != len(ids):
        raise Problem(404, access.CHILD_NOT_FOUND)
    return found


def _check_lines(session: Session, family_id: str, lines: list[CartLine], commune: str | None,
                 checked: tuple[dict, dict] | None = None) -> LineFacts:
    """Every line is for the family's own child and a prestation of one of its communes (the
    cart's commune if it has lines already). One statement on PostgreSQL, two on SQLite, whatever
    the number of lines; none if `checked` holds them already (`store.line_checks`)."""
    child_ids, ids = {line.child_id for line in lines}, {line.prestation_id for line in lines}
    if checked is not None or is_postgresql(session):
        kids, found = checked or store.children_and_prestations(session, family_id, child_ids, ids)
        if len(kids) != len(child_ids):
            raise Problem(404, access.CHILD_NOT_FOUND)
    else:
        kids = _own_children(session, family_id, child_ids)
        found = {r["id"]: r for r in session.execute(
            sa.select(prestations).join(families, sa.and_(families.c.commune == prestations.c.commune,
                                                          families.c.family_id == family_id))
            .where(one_of(session, prestations.c.id, ids))).mappings()}
    if len(found) != len(ids):
        raise Problem(404, "Cette prestation est introuvable.")
    used = {r["commune"] for r in found.values()} | ({commune} if commune else set())
    if len(used) > 1:
        raise Problem(409, "Un panier ne peut contenir que des réservations d'une seule commune : "
                           "validez d'abord votre panier en cours.")
    return LineFacts(used.pop(), found, kids)


def _parse_line(data: Mapping[str, Any]) -> CartLine:
    return CartLine(data["child_id"], data["prestation_id"], dt.date.fromisoformat(data["session_date"]),
                    Action(data.get("action", "book")))


def _store_lines(session: Session, family_id: str, caller: Caller, new_lines: list[CartLine], now: dt.datetime,
                 skipped: Iterable = ()) -> dict:
    checked = None
    if new_lines and is_postgresql(session):  # the cart locked and the lines checked: one statement
        got = pg.execute(session, _EDITABLE_CART_PG, {"parent_sub": caller.sub, **store.line_checks_params(
            family_id, {line.child_id for line in new_lines}, {line.prestation_id for line in new_lines})},
            row_factory=dict_row).fetchone()
        checked = store.line_checks(got["children"], got["prestations"])
        row, cart = _editable_cart(session, family_id, caller.sub, now, _cart_row(got) if got["id"] is not None else None)
    else:
        row, cart = _editable_cart(session, family_id, caller.sub, now)
    facts = (_check_lines(session, family_id, new_lines, row["commune"] if cart.lines else None, checked)
             if new_lines else None)
    commune = facts.commune if facts else None
    cart = cart_rules.add_lines(cart, new_lines)
    if len(cart.lines) > MAX_LINES:
        raise Problem(422, f"Un panier contient au plus {MAX_LINES} lignes : validez-le d'abord.")
    _save_cart(session, row, cart, now, commune or row["commune"])
    row = {**row, "commune": (commune or row["commune"]) if cart.lines else None}
    return cart_view(session, row, cart, skipped, facts)


def add_lines(session: Session, caller: Caller, body: Mapping[str, Any], now: dt.datetime | None = None) -> dict:
    family_id = access.parent_family(caller)
    lines = [_parse_line(item) for item in body["lines"]]
    return _store_lines(session, family_id, caller, lines, now or utcnow())


def remove_line(session: Session, caller: Caller, body: Mapping[str, Any], now: dt.datetime | None = None) -> dict:
    family_id = access.parent_family(caller)
    now = now or utcnow()
    row, cart = _editable_cart(session, family_id, caller.sub, now)
    key = (body["child_id"], body["prestation_id"], dt.date.fromisoformat(body["session_date"]))
    cart = cart_rules.remove_line(cart, key)
    _save_cart(session, row, cart, now, row["commune"])
    return cart_view(session, {**row, "commune": row["commune"] if cart.lines else None}, cart)


def period_plan(session: Session, caller: Caller, body: Mapping[str, Any], now: dt.datetime):
    """The period view: a weekly pattern over a range -> lines, and each skipped date with why."""
    family_id = access.parent_family(caller)
    child = access.own_child(session, family_id, body["child_id"])
    found = store.prestations_by_id(session, [body["prestation_id"]])
    if body["prestation_id"] not in found or found[body["prestation_id"]][0]["commune"] not in access.family_communes(
            session, family_id):
        raise Problem(404, "Cette prestation est introuvable.")
    row, prestation = found[body["prestation_id"]]
    first, last = dt.date.fromisoformat(body["first"]), dt.date.fromisoformat(body["last"])
    if (last - first).days > 366:
        raise Problem(422, "Choisissez une période d'au plus un an.")
    request = PeriodRequest(child["child_id"], frozenset(body["weekdays"]), first, last,
                            Action(body.get("action", "book")))
    enrolments = store.enrolments_of(session, [child["child_id"]], [prestation.service_id])
    keys = [(child["child_id"], prestation.id, first + dt.timedelta(days=n)) for n in range((last - first).days + 1)]
    statuses = {k[2]: s for k, s in store.statuses(session, keys).items()}
    return plan_period(request, prestation, store.calendar(session, row["commune"]), enrolments, statuses, now)


def preview_period(session: Session, caller: Caller, body: Mapping[str, Any], now: dt.datetime | None = None) -> dict:
    plan = period_plan(session, caller, body, now or utcnow())
    return {"lines": [{"child_id": line.child_id, "prestation_id": line.prestation_id,
                       "session_date": line.session_date.isoformat(), "action": line.action.value}
                      for line in plan.lines],
            "skipped": [{"session_date": s.day.isoformat(), "reason": s.reason.code, "reason_label": s.reason.label}
                        for s in plan.skipped]}


def add_period(session: Session, caller: Caller, body: Mapping[str, Any], now: dt.datetime | None = None) -> dict:
    now = now or utcnow()
    plan = period_plan(session, caller, body, now)
    return _store_lines(session, access.parent_family(caller), caller, list(plan.lines), now, plan.skipped)


# --- validation -----------------------------------------------------------------------------------------------
def run_checkout(session: Session, cart: Cart, family_id: str, commune: str, now: dt.datetime, *,
                 by: str = "parent", new_id=None) -> tuple[checkout.Checkout, dict, places.PrestationMap]:
    """Decide and store every line of `cart` (its slots locked), promote freed waiting lists,
    publish confirmations and cancellations. `by="agent"`: an agent books for the family (fixed
    days): nothing to pay online, every line is confirmed and invoiced. `new_id`: see
    `places.write_changes`."""
    found = store.prestations_by_id(session, {line.prestation_id for line in cart.lines}, commune)
    result, rows, found, published, _ = _checkout(session, cart, family_id, commune, found, now, by, new_id=new_id)
    events.publish(session, published)
    return result, rows, found


class Contended(Exception):
    """An optimistic validation found that places it decided on were taken meanwhile: its
    transaction must roll back, and the cart be validated again with the séances locked first."""


Pending = tuple[dict, dict] | None  # places to `places.claim` before commit: (peeked, decided)


def _checkout(session: Session, cart: Cart, family_id: str, commune: str, found: places.PrestationMap,
              now: dt.datetime, by: str, optimistic: bool = False, new_id=None, facts: store.CartFacts | None = None,
              deferred: list[dict] | None = None) -> tuple[checkout.Checkout, dict, places.PrestationMap, list, Pending]:
    """`run_checkout` without publishing: returns the events to publish too.

    `optimistic`: a cart of new bookings is decided on the séances as committed now, without
    locking them; the places are claimed at the end of the transaction (the pending claim
    returned; `Contended` if they are gone). Anything else (cancellations, dates the family has
    bookings for, lines that would be waiting-listed, séances without rows yet) locks the
    séances first. `facts`: what `store.cart_facts` read with the cart (else read here).
    `deferred`: an optimistic validation's new bookings are appended to it, not inserted (the
    caller inserts them with the cart's outcomes)."""
    if by == "agent":
        found = {pid: ({**row, "payment_mode": PaymentMode.END_OF_MONTH.code},
                       replace(p, payment_mode=PaymentMode.END_OF_MONTH)) for pid, (row, p) in found.items()}
    child_ids = {line.child_id for line in cart.lines}
    # What other carts cannot change is read before taking the séances' locks (held until commit).
    if facts is not None:  # read already with the cart (`store.cart_facts`)
        calendar, enrolments, overrides, resident = facts.calendar, facts.enrolments, facts.overrides, facts.resident
    else:
        calendar, enrolments = store.calendar(session, commune), store.enrolments_of(session, child_ids)
        overrides = store.overrides(session, family_id, child_ids)
        resident = store.is_resident(session, family_id, commune)
    slots = [(line.prestation_id, line.session_date) for line in cart.lines if line.prestation_id in found]
    keys = [line.key for line in cart.lines]
    cart_id = cart.id if by == "parent" else None

    def decide(occupancy, current):
        return checkout.validate(cart, checkout.Snapshot(
            calendar=calendar, prestations={pid: p for pid, (_, p) in found.items()}, enrolments=enrolments,
            bookings={key: BookingStatus(r["status"]) for key, r in current.items()}, occupancy=occupancy,
            deadline_overrides=overrides, resident=resident), now)

    if optimistic and all(line.action is Action.BOOK for line in cart.lines):
        if facts is not None:
            peeked = places.occupancies(facts.seances, slots, found)
            current = {key: {"status": status.value} for key, status in facts.statuses.items()}
        else:
            peeked = places.peek(session, slots, found)
            current = places.booking_rows(session, keys) if peeked is not None else {}
        if peeked is not None:
            result = decide(peeked, current)
            # Only new bookings (INSERTs), and none put on a waiting list: a place freed since the
            # peek would leave it waiting beside a free place; the locked séance decides those.
            if not any(key in current for key, _ in result.changes) and not any(
                    o.status is LineStatus.WAITING_LISTED for o in result.cart.outcomes):
                rows = places.write_changes(session, result.changes, family_id, found, now, cart_id, existing={},
                                            new_id=new_id, deferred=deferred)
                return result, rows, found, _published(result, rows, found, by, now), (peeked, dict(result.occupancy))
    locked = places.lock(session, slots, found)
    # The family's bookings of these dates, read once the séances are locked: a twin cart of the
    # same child (another guardian) has committed by then, and this one decides on its outcome.
    current = places.booking_rows(session, keys)
    result = decide(locked, current)
    occupancy = dict(result.occupancy)
    rows = places.write_changes(session, result.changes, family_id, found, now, cart_id, existing=current,
                                new_id=new_id)
    places.promote(session, result.freed, occupancy, found, now)
    places.save(session, locked, occupancy)
    return result, rows, found, _published(result, rows, found, by, now), None


def _published(result: checkout.Checkout, rows: Mapping, found: places.PrestationMap, by: str,
               now: dt.datetime) -> list:
    """The cart's booking.confirmed / booking.cancelled events."""
    published = []
    for outcome in result.cart.outcomes:
        row = rows.get(outcome.line.key)
        prestation_row = found.get(outcome.line.prestation_id, (None,))[0]
        if outcome.status is LineStatus.CONFIRMED:
            published.append(events.confirmed(row, prestation_row, "agent" if by == "agent" else "cart", now))
        elif outcome.status is LineStatus.CANCELLED:
            refund = refund_for(found[outcome.line.prestation_id][1]).code
            published.append(events.cancelled(row, prestation_row, refund, "parent", now))
    return published


def _line_facts(result: checkout.Checkout, rows: Mapping, found: places.PrestationMap, commune: str) -> list[dict]:
    facts = []
    for outcome in result.cart.outcomes:
        line = outcome.line
        prestation_row = found.get(line.prestation_id, (None,))[0]
        facts.append({
            "child_id": line.child_id, "prestation_id": line.prestation_id,
            "service_id": prestation_row["service_id"] if prestation_row else "", "commune": commune,
            "session_date": line.session_date, "action": line.action.value, "status": outcome.status.code,
            "reason": outcome.reason.code if outcome.reason else None,
            "payment_mode": prestation_row["payment_mode"] if prestation_row else PaymentMode.END_OF_MONTH.code,
            "price_ref": prestation_row["price_ref"] if prestation_row else "",
            "booking_id": rows[line.key]["id"] if line.key in rows else None,
            "prestation_label": prestation_row["label"] if prestation_row else None,
        })
    return facts


def validate_cart(session: Session, caller: Caller, idempotency_key: str | None = None,
                  now: dt.datetime | None = None, *, optimistic: bool = False, commit: bool = False) -> dict:
    """"Valider": every line confirmed, held for payment, waiting-listed or refused with its
    reason, atomically. The same Idempotency-Key returns the first answer again.

    `optimistic` (the API's first attempt): the séances are locked only at the end, for the
    claim of their places and the commit, so that carts of the same dates wait for each other
    that long only; raises `Contended` (roll back, then validate again without it) when the
    places decided on were taken meanwhile. `commit` (the API: nothing follows in the
    transaction): the claim and the COMMIT in one round trip (`places.claim`)."""
    family_id = access.parent_family(caller)
    now = now or utcnow()
    row = current_cart_row(session, caller.sub, lock=True)  # twin requests of one parent queue here
    usable = row is not None and row["family_id"] == family_id and row["commune"] is not None
    facts = None
    if is_postgresql(session):  # the answer and every read below in one round trip, once the cart is locked
        facts = store.cart_facts(session, row["id"] if usable else None, family_id, row["commune"] if usable else None,
                                 caller.sub, VALIDATE, idempotency_key)
        answer = facts.answer
    else:
        answer = idempotency.answered(session, caller.sub, VALIDATE, idempotency_key)
    if answer is not None:  # a retry, or a twin that committed
        return answer
    if not usable:
        raise Problem(422, "Le panier est vide.")
    cart = _domain_cart(session, row, facts.lines if facts else None)
    if cart.state in (CartState.EXPIRED, CartState.FAILED):  # "Valider" again: the unpaid lines come back
        cart = cart_rules.reopen(cart)
        _save_cart(session, row, cart, now)
    if cart.state is not CartState.OPEN:
        raise IllegalTransition(cart.state, "valider")
    commune = row["commune"]
    # The lines were checked when added; checked again (the family, its children and communes may
    # have changed since) with what the validation and the answer need anyway.
    child_ids, prestation_ids = {line.child_id for line in cart.lines}, {line.prestation_id for line in cart.lines}
    if facts is not None:  # read for the stored lines (a reopened cart may have fewer)
        kids = {c: facts.children[c] for c in child_ids if c in facts.children}
        found = {p: facts.prestations[p] for p in prestation_ids if p in facts.prestations}
        if len(kids) != len(child_ids):
            raise Problem(404, access.CHILD_NOT_FOUND)
    else:
        kids = _own_children(session, family_id, child_ids)
        found = store.prestations_by_id(session, prestation_ids, commune, family_id=family_id)
    if len(found) != len(prestation_ids):
        raise Problem(404, "Cette prestation est introuvable.")
    deferred = [] if facts is not None else None  # PostgreSQL: new bookings inserted with the outcomes
    result, rows, found, published, pending = _checkout(session, cart, family_id, commune, found, now, "parent",
                                                        optimistic, facts=facts, deferred=deferred)
    done = result.cart
    answer = cart_view(session, row, done, known=LineFacts(commune, {pid: r for pid, (r, _) in found.items()}, kids))
    if done.state is not CartState.OPEN:
        cart_row = {**row, "state": done.state.code, "validated_at": done.validated_at or now,
                    "hold_expires_at": done.hold_expires_at}
        published.append(events.validated(cart_row, _line_facts(result, rows, found, commune)))
    text = None
    if done.lines == cart.lines:  # the confirmations and cart.validated.v1 with the outcomes (PostgreSQL)
        text = _save_outcomes(session, row, done, now, caller.sub, idempotency_key, answer, deferred or [], published)
    else:
        insert_rows(session, bookings, deferred or [])
        _save_cart(session, row, done, now, commune)
        idempotency.remember(session, caller.sub, VALIDATE, idempotency_key, answer, cart_id=row["id"], now=now)
        events.publish(session, published)  # the confirmations and cart.validated.v1: one INSERT
    if pending is not None and not places.claim(session, *pending, found, commit=commit):
        raise Contended
    return Answer(answer, text) if text is not None else answer


# --- payment outcomes and expiry ----------------------------------------------------------------------------
def settle_held(session: Session, row: Mapping, settled: checkout.Checkout, locked: Mapping,
                found: places.PrestationMap, now: dt.datetime, via: str) -> None:
    """Store what a rule decided for a cart's held places (paid, failed, expired, abandoned):
    bookings, freed places given to waiting lists, counters, confirmations, the cart."""
    occupancy = dict(settled.occupancy)
    rows = places.write_changes(session, settled.changes, row["family_id"], found, now, row["id"])
    places.promote(session, settled.freed, occupancy, found, now)
    places.save(session, locked, occupancy)
    for key, status in settled.changes:
        if status is not None:
            events.booking_confirmed(session, rows[key], found[key[1]][0], via, now)
    _save_cart(session, row, settled.cart, now, row["commune"])


def held_context(session: Session, row: Mapping) -> tuple[Cart, dict, places.PrestationMap]:
    """The cart of `row`, its held séances locked (in order) and their prestations."""
    cart = _domain_cart(session, row)
    held = cart.held_lines()
    found = store.prestations_by_id(session, {line.prestation_id for line in held})
    locked = places.lock(session, [(line.prestation_id, line.session_date) for line in held], found)
    return cart, locked, found


def payment_outcome(session: Session, cart_id: str, succeeded: bool, now: dt.datetime | None = None) -> bool:
    """billing's payment.succeeded / payment.failed for a cart awaiting payment. False when the
    cart is not waiting for one any more (a repeated event, or a payment after expiry: recorded
    in the audit trail, billing refunds it)."""
    now = now or utcnow()
    row = session.execute(sa.select(carts).where(carts.c.id == cart_id).with_for_update()).mappings().first()
    if row is None or row["state"] != CartState.AWAITING_PAYMENT.code:
        if row is not None and succeeded and row["state"] in (CartState.EXPIRED.code, CartState.FAILED.code) \
                and row["commune"]:
            audit.record(session, row["commune"], audit.SYSTEM, "payment.after_expiry", cart_id=cart_id)
        return False
    row = dict(row)
    cart, locked, found = held_context(session, row)
    settled = checkout.settle_paid(cart, locked) if succeeded else checkout.settle_failed(cart, locked)
    settle_held(session, row, settled, locked, found, now, "payment")
    return True


def expiry_due(session: Session, now: dt.datetime, limit: int = 200) -> list[str]:
    """Carts whose payment did not come within the hold (60 minutes), oldest first."""
    return list(session.execute(sa.select(carts.c.id).where(
        carts.c.state == CartState.AWAITING_PAYMENT.code, carts.c.hold_expires_at <= now)
        .order_by(carts.c.hold_expires_at).limit(limit)).scalars())


def expire_cart(session: Session, cart_id: str, now: dt.datetime | None = None) -> bool:
    """Release the held places of one overdue cart (its own transaction: each cart's slots are
    locked in order, never two carts' slots at once). False if it was paid or taken meanwhile."""
    now = now or utcnow()
    row = session.execute(sa.select(carts).where(carts.c.id == cart_id).with_for_update(skip_locked=True)
                          ).mappings().first()
    if row is None or not cart_rules.is_expired(_domain_cart(session, row), now):
        return False
    row = dict(row)
    cart, locked, found = held_context(session, row)
    settle_held(session, row, checkout.settle_expired(cart, locked, now), locked, found, now, "payment")
    return True


def expire_carts(db, now: dt.datetime | None = None) -> int:
    """The worker's job: expire every overdue cart, one transaction each."""
    now = now or utcnow()
    with db.read() as session:
        due = expiry_due(session, now)
    expired = 0
    for cart_id in due:
        with db.transaction() as session:
            expired += expire_cart(session, cart_id, now)
    return expired
