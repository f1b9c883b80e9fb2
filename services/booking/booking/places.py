"""Places of séances in the database: locked occupancy rows, bookings written from the domain's
decisions, waiting lists promoted when places free up.

Every function runs inside the caller's transaction. `lock` takes the séances' rows with
SELECT ... FOR UPDATE in (prestation, date) order, so concurrent carts queue on the same rows
instead of over-booking them, and never deadlock on each other.

A cart of bookings can also be decided on `peek`ed rows (no lock) and its places taken by `claim`
at the very end of its transaction: the rows are then locked only for the claim and the commit,
not for every write of the validation, and `claim` refuses when the places decided on are gone.
"""
from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit.bulk import insert_rows
from servicekit.db import dialect_insert, is_postgresql
from servicekit.queries import rows_in
from servicekit import pg

from booking import audit, events
from booking.domain import waiting_list
from booking.domain.capacity import NoPlaceLeft, Occupancy, Slot, reapply
from booking.domain.cart import LineKey
from booking.domain.catalogue import Prestation
from booking.domain.facts import BookingStatus
from booking.models import bookings, sessions

PrestationMap = Mapping[str, tuple[dict, Prestation]]  # id -> (row, domain prestation)


_LOCK_COLUMNS = (sessions.c.prestation_id, sessions.c.session_date, sessions.c.capacity, sessions.c.confirmed,
                 sessions.c.held)


def _locked_rows(session: Session, ordered: list[Slot]) -> list:
    wanted = rows_in(session, (sessions.c.prestation_id, sessions.c.session_date), ordered)
    return session.execute(sa.select(*_LOCK_COLUMNS).where(wanted)
                           .order_by(sessions.c.prestation_id, sessions.c.session_date).with_for_update()).all()


def _occupancies(rows, prestations: PrestationMap) -> dict[Slot, Occupancy]:
    out = {}
    for row in rows:
        capacity = row.capacity if row.capacity is not None else prestations[row.prestation_id][1].capacity
        out[(row.prestation_id, row.session_date)] = Occupancy(capacity, row.confirmed, row.held)
    return out


def peek(session: Session, slots: Iterable[Slot], prestations: PrestationMap) -> dict[Slot, Occupancy] | None:
    """The occupancy of each slot as committed now, without locking; None if a séance has no row yet."""
    ordered = sorted(set(slots))
    if not ordered:
        return {}
    rows = session.execute(sa.select(*_LOCK_COLUMNS).where(
        rows_in(session, (sessions.c.prestation_id, sessions.c.session_date), ordered))).all()
    return _occupancies(rows, prestations) if len(rows) == len(ordered) else None


def occupancies(seances: Mapping[Slot, tuple[int | None, int, int]], slots: Iterable[Slot],
                prestations: PrestationMap) -> dict[Slot, Occupancy] | None:
    """`peek` on séance rows read already (slot -> capacity, confirmed, held); None if a slot has none."""
    out = {}
    for slot in set(slots):
        if slot not in seances:
            return None
        capacity, confirmed, held = seances[slot]
        out[slot] = Occupancy(capacity if capacity is not None else prestations[slot[0]][1].capacity, confirmed, held)
    return out


def claim(session: Session, before: Mapping[Slot, Occupancy], after: Mapping[Slot, Occupancy],
          prestations: PrestationMap, *, commit: bool = False) -> bool:
    """Take the places a validation decided on `before` (peeked, unlocked) -> `after`: lock the
    changed séances in order, apply the same change to them as they are now (`reapply`), and save
    the counters. False if a séance no longer has the room: the caller rolls back (anything
    written here goes with it) and validates again with the séances locked first (`lock`).

    `commit` (the last statement of the transaction): on PostgreSQL the claim and the COMMIT are
    sent in one round trip, so the séances stay locked for the statement and the commit only."""
    changed = sorted(slot for slot, occ in after.items() if occ != before[slot])
    if not changed:
        return True
    if is_postgresql(session):
        return _claim_in_one_statement(session, changed, before, after, prestations, commit)
    fresh = _occupancies(_locked_rows(session, changed), prestations)
    try:
        now = {slot: reapply(fresh[slot], before[slot], after[slot]) for slot in changed}
    except NoPlaceLeft:
        return False
    save(session, fresh, now)
    return True


# `reapply` as one statement: the séances locked in (prestation, date) order by the CTE (never a
# deadlock with another cart), then each counter moved by the validation's change where the room
# is still there. Fewer rows updated than asked (a place is gone): the statement fails, dividing
# by zero (SQL has no RAISE), so that a COMMIT sent with it in the same round trip is not run.
_CLAIM_PG = pg.query("""
WITH wanted AS (
    SELECT * FROM json_to_recordset(CAST(:slots AS json))
        AS w(prestation_id varchar, session_date date, capacity integer, confirmed integer, held integer)
), locked AS (
    SELECT s.prestation_id, s.session_date FROM sessions AS s
    JOIN wanted AS w ON w.prestation_id = s.prestation_id AND w.session_date = s.session_date
    ORDER BY s.prestation_id, s.session_date FOR UPDATE OF s
), claimed AS (
    UPDATE sessions AS s SET confirmed = s.confirmed + w.confirmed, held = s.held + w.held
    FROM locked AS l JOIN wanted AS w ON w.prestation_id = l.prestation_id AND w.session_date = l.session_date
    WHERE s.prestation_id = l.prestation_id AND s.session_date = l.session_date
      AND (w.confirmed + w.held <= 0 OR COALESCE(s.capacity, w.capacity) IS NULL
           OR s.confirmed + w.confirmed + s.held + w.held <= COALESCE(s.capacity, w.capacity))
    RETURNING 1
)
SELECT 1 / CAST(count(*) = :count AS integer) FROM claimed
""")
_PLACE_GONE = "22012"  # division_by_zero: `_CLAIM_PG` updated fewer séances than asked


def _claim_in_one_statement(session: Session, changed: list[Slot], before: Mapping[Slot, Occupancy],
                            after: Mapping[Slot, Occupancy], prestations: PrestationMap, commit: bool) -> bool:
    slots = [{"prestation_id": p, "session_date": d.isoformat(), "capacity": prestations[p][1].capacity,
              "confirmed": after[(p, d)].confirmed - before[(p, d)].confirmed,
              "held": after[(p, d)].held - before[(p, d)].held} for p, d in changed]
    params = {"slots": json.dumps(slots), "count": len(changed)}
    try:
        (pg.execute_and_commit if commit else pg.execute)(session, _CLAIM_PG, params)
    except sa.exc.DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == _PLACE_GONE:
            return False  # the transaction is aborted: the caller rolls back
        raise
    return True


def lock(session: Session, slots: Iterable[Slot], prestations: PrestationMap) -> dict[Slot, Occupancy]:
    """The occupancy of each slot, its row created if missing and locked until commit.

    The rows missing are inserted first (in order, ON CONFLICT DO NOTHING: a twin insert of another
    cart is waited for), then every row is locked in order: no row is locked before an insert
    that could wait for another cart (which would deadlock)."""
    ordered = sorted(set(slots))
    if not ordered:
        return {}
    present = {(r.prestation_id, r.session_date) for r in session.execute(sa.select(
        sessions.c.prestation_id, sessions.c.session_date).where(
        rows_in(session, (sessions.c.prestation_id, sessions.c.session_date), ordered)))}
    if len(present) < len(ordered):
        session.execute(dialect_insert(session, sessions).on_conflict_do_nothing(), [
            {"prestation_id": p, "session_date": d, "commune": prestations[p][0]["commune"], "confirmed": 0,
             "held": 0, "generated": False} for p, d in ordered if (p, d) not in present])
    return _occupancies(_locked_rows(session, ordered), prestations)


_SAVE_COUNTS = (sessions.update()
                .where(sessions.c.prestation_id == sa.bindparam("slot_prestation"),
                       sessions.c.session_date == sa.bindparam("slot_date"))
                .values(confirmed=sa.bindparam("new_confirmed"), held=sa.bindparam("new_held")))
_SAVE_COUNTS_PG = sa.text(
    "UPDATE sessions AS s SET confirmed = v.confirmed, held = v.held "
    "FROM unnest(CAST(:prestations AS varchar[]), CAST(:dates AS date[]), CAST(:confirmed AS integer[]), "
    "CAST(:held AS integer[])) AS v(prestation_id, session_date, confirmed, held) "
    "WHERE s.prestation_id = v.prestation_id AND s.session_date = v.session_date")


def save(session: Session, before: Mapping[Slot, Occupancy], after: Mapping[Slot, Occupancy]) -> None:
    """Write the changed counters in one statement (PostgreSQL: one UPDATE over arrays; psycopg's
    executemany would send one per séance): the séances stay locked until commit, so every round
    trip here is time other carts of the same dates wait."""
    changed = []
    for (prestation_id, day), occ in after.items():
        old = before.get((prestation_id, day))
        if old is None or (old.confirmed, old.held) != (occ.confirmed, occ.held):
            changed.append({"slot_prestation": prestation_id, "slot_date": day, "new_confirmed": occ.confirmed,
                            "new_held": occ.held})
    if not changed:
        return
    if is_postgresql(session):
        session.execute(_SAVE_COUNTS_PG, {
            "prestations": [c["slot_prestation"] for c in changed], "dates": [c["slot_date"] for c in changed],
            "confirmed": [c["new_confirmed"] for c in changed], "held": [c["new_held"] for c in changed]})
    else:
        session.execute(_SAVE_COUNTS, changed)


def booking_rows(session: Session, keys: Iterable[LineKey]) -> dict[LineKey, dict]:
    keys = list(keys)
    if not keys:
        return {}
    wanted = rows_in(session, (bookings.c.child_id, bookings.c.prestation_id, bookings.c.session_date), keys)
    rows = session.execute(sa.select(bookings).where(wanted)).mappings()
    return {(r["child_id"], r["prestation_id"], r["session_date"]): dict(r) for r in rows}


def write_changes(session: Session, changes: Iterable[tuple[LineKey, BookingStatus | None]], family_id: str,
                  prestations: PrestationMap, now: dt.datetime, cart_id: str | None = None,
                  existing: Mapping[LineKey, dict] | None = None,
                  new_id: Callable[[LineKey], str] | None = None,
                  deferred: list[dict] | None = None) -> dict[LineKey, dict]:
    """Store each booking's new status (None: the booking disappears). Returns the rows after.
    `existing`: the bookings of these keys as the caller already read them (`booking_rows`).
    `new_id`: the id of a new booking (default a random one; the demo seed's are stable).
    `deferred`: the new bookings are appended to it instead of inserted (the caller inserts
    them with a later statement of its own, in the same transaction)."""
    changes = list(changes)
    if existing is None:
        existing = booking_rows(session, [key for key, _ in changes])
    after: dict[LineKey, dict] = {}
    new_rows = []
    for key, status in changes:
        child_id, prestation_id, day = key
        row = existing.get(key)
        if status is None:
            if row is not None:
                session.execute(bookings.delete().where(bookings.c.id == row["id"]))
            continue
        waiting_since = now if status is BookingStatus.WAITING else None
        if row is None:
            prestation_row = prestations[prestation_id][0]
            row = {"id": new_id(key) if new_id else str(uuid.uuid4()), "commune": prestation_row["commune"], "family_id": family_id,
                   "child_id": child_id, "service_id": prestation_row["service_id"], "prestation_id": prestation_id,
                   "session_date": day, "status": status.value, "cart_id": cart_id, "waiting_since": waiting_since,
                   "created_at": now, "updated_at": now}
            new_rows.append(row)
        else:
            row = {**row, "status": status.value, "cart_id": cart_id or row["cart_id"],
                   "waiting_since": waiting_since, "updated_at": now}
            session.execute(bookings.update().where(bookings.c.id == row["id"])
                            .values(status=row["status"], cart_id=row["cart_id"], waiting_since=waiting_since,
                                    updated_at=now))
        after[key] = row
    if deferred is not None:
        deferred.extend(new_rows)
    elif new_rows:
        insert_rows(session, bookings, new_rows)
    return after


def promote(session: Session, slots: Iterable[Slot], occupancy: dict[Slot, Occupancy], prestations: PrestationMap,
            now: dt.datetime) -> list[dict]:
    """Give freed places to the longest-waiting children (slots must be locked, `occupancy`
    is updated in place). Returns the promoted bookings."""
    promoted = []
    for slot in sorted(set(slots)):
        prestation_row, prestation = prestations[slot[0]]
        if not prestation.waiting_list or not occupancy[slot].has_room:
            continue
        waiting = session.execute(sa.select(bookings).where(
            bookings.c.prestation_id == slot[0], bookings.c.session_date == slot[1],
            bookings.c.status == BookingStatus.WAITING.value)).mappings().all()
        if not waiting:
            continue
        by_id = {r["id"]: dict(r) for r in waiting}
        entries = [waiting_list.WaitingEntry(r["id"], r["child_id"], r["waiting_since"] or r["created_at"])
                   for r in waiting]
        result = waiting_list.promote(occupancy[slot], entries, prestation.waiting_list_auto_confirm)
        occupancy[slot] = result.occupancy
        for promotion in result.promotions:
            row = {**by_id[promotion.entry.booking_id], "status": promotion.status.value}
            session.execute(bookings.update().where(bookings.c.id == row["id"])
                            .values(status=row["status"], waiting_since=None, updated_at=now))
            if promotion.status is BookingStatus.CONFIRMED:
                events.waiting_list_confirmed(session, row, prestation_row, "automatic", now)
                events.booking_confirmed(session, row, prestation_row, "waiting_list", now)
            else:
                audit.record(session, prestation_row["commune"], audit.SYSTEM, "waiting_list.place_held",
                             booking_id=row["id"], child_id=row["child_id"], prestation_id=slot[0],
                             session_date=slot[1])
            promoted.append(row)
    return promoted
