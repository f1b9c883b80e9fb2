"""Loading the domain's facts from booking's tables (inside the caller's transaction)."""
from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from psycopg.rows import namedtuple_row
from sqlalchemy.orm import Session

from servicekit.queries import one_of
from servicekit import pg

from booking import codec
from booking.domain.cart import LineKey
from booking.domain.catalogue import Prestation
from booking.domain.closures import CommuneCalendar
from booking.domain.enrolment import Enrolment
from booking.domain.facts import BookingStatus
from booking.models import (bookings, closures, commune_calendars, deadline_overrides, enrolments, families,
                            guardians, prestations)


def calendar(session: Session, commune: str) -> CommuneCalendar:
    row = session.execute(sa.select(commune_calendars).where(commune_calendars.c.commune == commune)).mappings().first()
    return codec.calendar_from_row(row)


def closed_dates(session: Session, commune: str, prestation_ids: Iterable[str]) -> dict[str | None, set[dt.date]]:
    """Ad-hoc closures per prestation id (key None: every prestation of the commune)."""
    ids = list(prestation_ids)
    rows = session.execute(sa.select(closures.c.prestation_id, closures.c.closed_on).where(
        closures.c.commune == commune,
        sa.or_(closures.c.prestation_id.is_(None), one_of(session, closures.c.prestation_id, ids)))).all()
    out: dict[str | None, set[dt.date]] = {}
    for prestation_id, day in rows:
        out.setdefault(prestation_id, set()).add(day)
    return out


def prestations_by_id(session: Session, ids: Iterable[str], commune: str | None = None,
                      family_id: str | None = None) -> dict[str, tuple[dict, Prestation]]:
    """id -> (row, domain prestation with its closures); unknown ids (or of another commune, or
    of a commune the family `family_id` is not registered with) are absent."""
    ids = sorted(set(ids))
    if not ids:
        return {}
    query = sa.select(prestations).where(one_of(session, prestations.c.id, ids))
    if commune is not None:
        query = query.where(prestations.c.commune == commune)
    if family_id is not None:
        query = query.join(families, sa.and_(families.c.commune == prestations.c.commune,
                                             families.c.family_id == family_id))
    rows = session.execute(query).mappings().all()
    out = {}
    by_commune: dict[str, list] = {}
    for row in rows:
        by_commune.setdefault(row["commune"], []).append(row)
    for c, group in by_commune.items():
        closed = closed_dates(session, c, [r["id"] for r in group])
        for row in group:
            days = frozenset(closed.get(None, set()) | closed.get(row["id"], set()))
            out[row["id"]] = (dict(row), codec.prestation_from_row(row, days))
    return out


def enrolments_of(session: Session, child_ids: Iterable[str],
                  service_ids: Iterable[str] | None = None) -> tuple[Enrolment, ...]:
    query = sa.select(enrolments).where(one_of(session, enrolments.c.child_id, sorted(set(child_ids))))
    if service_ids is not None:
        query = query.where(one_of(session, enrolments.c.service_id, sorted(set(service_ids))))
    return tuple(Enrolment(r["child_id"], r["service_id"], r["first"], r["last"], frozenset(r["fixed_weekdays"]))
                 for r in session.execute(query).mappings())


def statuses(session: Session, keys: Iterable[LineKey]) -> dict[LineKey, BookingStatus]:
    """The current booking status of each (child, prestation, date) asked about."""
    keys = list(keys)
    if not keys:
        return {}
    children = sorted({k[0] for k in keys})
    dates = [k[2] for k in keys]
    rows = session.execute(sa.select(bookings.c.child_id, bookings.c.prestation_id, bookings.c.session_date,
                                     bookings.c.status).where(
        bookings.c.child_id.in_(children), bookings.c.session_date.between(min(dates), max(dates)))).all()
    wanted = set(keys)
    return {(c, p, d): BookingStatus(s) for c, p, d, s in rows if (c, p, d) in wanted}


def overrides(session: Session, family_id: str, child_ids: Iterable[str]) -> frozenset[LineKey]:
    """The agent's deadline overrides for this family, as the line keys they waive."""
    rows = session.execute(sa.select(deadline_overrides.c.prestation_id, deadline_overrides.c.session_date)
                           .where(deadline_overrides.c.family_id == family_id)).all()
    return frozenset((child, p, d) for p, d in rows for child in child_ids)


def _plain(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return "-".join("".join(ch if ch.isalnum() else " " for ch in text).split())


def is_resident(session: Session, family_id: str, commune: str) -> bool:
    """A family lives in the commune when a current guardian's home city is the commune (opening
    windows let residents book first)."""
    cities = session.execute(sa.select(guardians.c.city).where(
        guardians.c.family_id == family_id, guardians.c.removed_at.is_(None), guardians.c.city.is_not(None))).scalars()
    return any(_plain(city) == commune for city in cities)


# --- "Valider"'s reads in one round trip (PostgreSQL) ------------------------------------------------------
@dataclass(frozen=True)
class CartFacts:
    """What "Valider" reads once the cart is locked, before deciding (`cart_facts`)."""
    answer: dict | None  # the Idempotency-Key's first answer, if any
    lines: list[dict]  # the cart's lines in order: child_id, prestation_id, session_date, action, outcome, reason
    children: dict[str, dict]  # the family's current children among the lines': child_id -> child_id, names
    prestations: dict[str, tuple[dict, Prestation]]  # as `prestations_by_id(ids, commune, family_id)`
    calendar: CommuneCalendar
    enrolments: tuple[Enrolment, ...]  # the lines' children's
    overrides: frozenset[LineKey]
    resident: bool
    seances: dict[tuple[str, dt.date], tuple[int | None, int, int]]  # the lines' séances: capacity, confirmed, held
    statuses: dict[LineKey, BookingStatus]  # the family's bookings of the lines' keys, as committed


# One statement, its text constant (psycopg keeps it prepared): every read "Valider" does before
# deciding, each as a JSON value (one C-speed decoding), instead of eleven round trips. The
# séances and bookings are as committed at the statement's start: the optimistic validation
# decides on them and `places.claim` checks the places again under lock.
_CART_FACTS_PG = pg.query("""
WITH lines AS (
    SELECT child_id, prestation_id, session_date, action, position, outcome, reason
    FROM cart_lines WHERE cart_id = :cart
)
SELECT
  (SELECT response FROM idempotency_keys WHERE caller_sub = :sub AND operation = :operation AND key = :key)
    AS answer,
  (SELECT json_agg(json_build_array(child_id, prestation_id, session_date, action, outcome, reason)
                   ORDER BY position) FROM lines) AS lines,
  (SELECT json_agg(json_build_array(c.child_id, c.given_name, c.family_name)) FROM children AS c
   WHERE c.child_id IN (SELECT child_id FROM lines) AND c.family_id = :family AND c.removed_at IS NULL) AS children,
  (SELECT json_agg(p) FROM prestations AS p
   WHERE p.id IN (SELECT prestation_id FROM lines) AND p.commune = :commune
     AND EXISTS (SELECT 1 FROM families AS f WHERE f.family_id = :family AND f.commune = p.commune)) AS prestations,
  (SELECT json_agg(json_build_array(prestation_id, closed_on)) FROM closures
   WHERE commune = :commune AND (prestation_id IS NULL OR prestation_id IN (SELECT prestation_id FROM lines)))
    AS closures,
  (SELECT json_build_array(zone, school_weekdays) FROM commune_calendars WHERE commune = :commune) AS calendar,
  (SELECT json_agg(json_build_array(child_id, service_id, first, last, fixed_weekdays)) FROM enrolments
   WHERE child_id IN (SELECT child_id FROM lines)) AS enrolments,
  (SELECT json_agg(json_build_array(prestation_id, session_date)) FROM deadline_overrides WHERE family_id = :family)
    AS overrides,
  (SELECT json_agg(city) FROM guardians WHERE family_id = :family AND removed_at IS NULL AND city IS NOT NULL)
    AS cities,
  (SELECT json_agg(json_build_array(s.prestation_id, s.session_date, s.capacity, s.confirmed, s.held))
   FROM sessions AS s WHERE (s.prestation_id, s.session_date) IN (SELECT prestation_id, session_date FROM lines))
    AS seances,
  (SELECT json_agg(json_build_array(b.child_id, b.prestation_id, b.session_date, b.status))
   FROM lines AS l JOIN bookings AS b ON b.child_id = l.child_id AND b.session_date = l.session_date
     AND (b.prestation_id || '') = l.prestation_id)
    AS bookings
""")
# The bookings are looked up by child and date (uq_bookings_child_slot) and the prestation
# compared as an expression on purpose: on statistics older than the rows (a rush fills the table
# faster than autovacuum analyzes it) PostgreSQL took ix_bookings_slot_status, i.e. every booking
# of each séance (hundreds) filtered by child: 2-3 ms of this statement's 2.5 in the rush bench,
# 0.05-0.1 ms this way (EXPLAIN ANALYZE, bench/results/booking_rush.md).

_date = dt.date.fromisoformat


def _prestation_row(data: dict) -> dict:
    """A `prestations` row from its JSON (times and instants as strings) with the types the
    table's own reading gives."""
    for name in ("starts_at", "ends_at"):
        if data[name] is not None:
            data[name] = dt.time.fromisoformat(data[name])
    for name in ("created_at", "updated_at"):
        if data.get(name) is not None:
            data[name] = dt.datetime.fromisoformat(data[name])
    return data


def cart_facts(session: Session, cart_id: str | None, family_id: str, commune: str | None, caller_sub: str,
               operation: str, key: str | None) -> CartFacts:
    """Everything "Valider" reads about a locked cart before deciding, in one statement
    (PostgreSQL only). `cart_id` None: only the answer is looked for."""
    got = pg.execute(session, _CART_FACTS_PG, {"cart": cart_id, "family": family_id, "commune": commune,
                                               "sub": caller_sub, "operation": operation, "key": key or ""},
                     row_factory=namedtuple_row).fetchone()
    lines = [{"child_id": c, "prestation_id": p, "session_date": _date(d), "action": a, "outcome": o, "reason": r}
             for c, p, d, a, o, r in got.lines or ()]
    closed: dict[str | None, set[dt.date]] = {}
    for prestation_id, day in got.closures or ():
        closed.setdefault(prestation_id, set()).add(_date(day))
    found = {}
    for data in got.prestations or ():
        row = _prestation_row(data)
        days = frozenset(closed.get(None, set()) | closed.get(row["id"], set()))
        found[row["id"]] = (row, codec.prestation_from_row(row, days))
    child_ids = {line["child_id"] for line in lines}
    return CartFacts(
        answer=got.answer if key else None, lines=lines,
        children={c: {"child_id": c, "given_name": g, "family_name": f} for c, g, f in got.children or ()},
        prestations=found,
        calendar=codec.calendar_from_row({"zone": got.calendar[0], "school_weekdays": got.calendar[1]}
                                         if got.calendar else None),
        enrolments=tuple(Enrolment(c, s, _date(first), _date(last), frozenset(days))
                         for c, s, first, last, days in got.enrolments or ()),
        overrides=frozenset((child, p, _date(d)) for p, d in got.overrides or () for child in child_ids),
        resident=commune is not None and any(_plain(city) == commune for city in got.cities or ()),
        seances={(p, _date(d)): (capacity, confirmed, held) for p, d, capacity, confirmed, held in got.seances or ()},
        statuses={(c, p, _date(d)): BookingStatus(s) for c, p, d, s in got.bookings or ()})


# Adding lines: the family's current children and the prestations of its communes among those
# asked, in one statement (PostgreSQL).
LINE_CHECKS_PG = """
SELECT
  (SELECT json_agg(json_build_array(c.child_id, c.given_name, c.family_name)) FROM children AS c
   WHERE c.child_id = ANY(CAST(:children AS varchar[])) AND c.family_id = :family AND c.removed_at IS NULL)
    AS children,
  (SELECT json_agg(p) FROM prestations AS p
   WHERE p.id = ANY(CAST(:prestations AS varchar[]))
     AND EXISTS (SELECT 1 FROM families AS f WHERE f.family_id = :family AND f.commune = p.commune)) AS prestations
"""
_LINE_CHECKS_PG = sa.text(LINE_CHECKS_PG)


def children_and_prestations(session: Session, family_id: str, child_ids: Iterable[str],
                             prestation_ids: Iterable[str]) -> tuple[dict[str, dict], dict[str, dict]]:
    """The family's current children among `child_ids` (child_id -> child_id, given_name,
    family_name) and the prestations rows among `prestation_ids` of the family's communes (id ->
    row), in one statement (PostgreSQL only)."""
    got = session.execute(_LINE_CHECKS_PG, line_checks_params(family_id, child_ids, prestation_ids)).one()
    return line_checks(got.children, got.prestations)


def line_checks_params(family_id: str, child_ids: Iterable[str], prestation_ids: Iterable[str]) -> dict:
    return {"family": family_id, "children": sorted(set(child_ids)), "prestations": sorted(set(prestation_ids))}


def line_checks(kids: list | None, found: list | None) -> tuple[dict[str, dict], dict[str, dict]]:
    """The `children` and `prestations` columns of `LINE_CHECKS_PG` as `children_and_prestations` returns them."""
    return ({c: {"child_id": c, "given_name": g, "family_name": f} for c, g, f in kids or ()},
            {data["id"]: _prestation_row(data) for data in found or ()})
