"""`python -m booking seed-demo`: Heillecourt's 2026-2027 catalogue (booking.domain.demo_catalogue)
in the database, its séances generated, and the demo family's children enrolled. Idempotent:
what exists is left as it is.

`--with-history` (what `make run` does, unless EF_DEMO_HISTORY=0): the demo family's past too
(`contracts.demo`: Léa's canteen days and Hugo's evening care from the rentrée to the end of last
month), booked by an agent (the real checkout, with the demo's stable booking ids) and marked by
the staff (the real attendance use case), so their events reach billing through the outbox like
real ones; billing's `seed-demo --with-history` already knows the same facts and invoices them.

The demo family and children are identity's demo seed (fixed ids, also announced by identity's
events, which arrive later and find the same rows): booking's seed writes them explicitly so a
fresh `make run` can enrol and book at once, whatever the order the workers start in.
"""
from __future__ import annotations

import datetime as dt
import sys
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit.types import utcnow

from contracts import demo as history

from booking import attendance, audit, carts, codec, places, store
from booking.db import get_db
from booking.domain import demo_catalogue as demo
from booking.domain.cart import Cart, CartLine
from booking.domain.enrolment import Enrolment
from booking.domain.openings import opening_dates
from booking.domain.period import fixed_days_plan
from booking.models import (attendance as marks, bookings, children, commune_calendars, enrolments, families,
                            prestations, services, sessions)
from booking.settings import get_settings

NAMESPACE = uuid.UUID("5b0c6f58-3a4e-4d2b-9a51-3f7d0e2c1b10")
SEEDER = "seed-demo"

# identity's demo family (identity.seed: DEMO_FAMILY_ID, DEMO_CHILDREN)
DEMO_FAMILY = {"family_id": "00000000-0000-4000-8000-00000000f001", "family_name": "Martin"}
DEMO_CHILDREN = (
    {"child_id": "00000000-0000-4000-8000-00000000c001", "given_name": "Léa", "family_name": "Martin",
     "birth_date": dt.date(2017, 3, 2), "school": "École Jules Ferry", "class_name": "CE2"},
    {"child_id": "00000000-0000-4000-8000-00000000c002", "given_name": "Hugo", "family_name": "Martin",
     "birth_date": dt.date(2020, 9, 14), "school": "École maternelle Les Tilleuls", "class_name": "Moyenne section"},
)
LEA, HUGO = (c["child_id"] for c in DEMO_CHILDREN)
# (child, service code, fixed weekdays): Léa eats at the canteen every school day.
DEMO_ENROLMENTS = (
    (LEA, "cantine", demo.SCHOOL_DAYS), (LEA, "periscolaire", frozenset()), (LEA, "alsh-mercredi", frozenset()),
    (LEA, "alsh-vacances", frozenset()), (HUGO, "cantine", frozenset()), (HUGO, "periscolaire", frozenset()),
    (HUGO, "alsh-mercredi", frozenset()), (HUGO, "alsh-vacances", frozenset()),
)


def stable_id(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, ":".join(parts)))


def _absent(session: Session, table: sa.Table, **key) -> bool:
    return session.execute(sa.select(sa.literal(1)).select_from(table).where(
        *(table.c[name] == value for name, value in key.items()))).first() is None


def seed_catalogue(session: Session, commune: str = demo.COMMUNE_SLUG) -> dict[str, str]:
    """The catalogue; returns service code -> id."""
    now = utcnow()
    if _absent(session, commune_calendars, commune=commune):
        session.execute(commune_calendars.insert().values(
            commune=commune, zone=demo.CALENDAR.zone, school_weekdays=sorted(demo.CALENDAR.school_weekdays),
            created_at=now, updated_at=now))
    service_ids = {}
    for service in demo.SERVICES:
        service_ids[service.id] = stable_id(commune, "service", service.id)
        if _absent(session, services, id=service_ids[service.id]):
            session.execute(services.insert().values(id=service_ids[service.id], commune=commune, code=service.id,
                                                     label=service.label, created_at=now, updated_at=now))
    for prestation in demo.PRESTATIONS:
        prestation_id = stable_id(commune, "prestation", prestation.id)
        if not _absent(session, prestations, id=prestation_id):
            continue
        values = codec.prestation_values(prestation)
        values["service_id"] = service_ids[prestation.service_id]
        session.execute(prestations.insert().values(id=prestation_id, commune=commune, code=prestation.id,
                                                    created_at=now, updated_at=now, **values))
        found = store.prestations_by_id(session, [prestation_id])
        days = opening_dates(found[prestation_id][1].schedule, demo.CALENDAR)
        places.lock(session, [(prestation_id, day) for day in days], found)
        session.execute(sessions.update().where(sessions.c.prestation_id == prestation_id).values(generated=True))
    return service_ids


def seed_family(session: Session, service_ids: dict[str, str], commune: str = demo.COMMUNE_SLUG,
                now: dt.datetime | None = None) -> int:
    """The demo family, its children, their enrolments and Léa's canteen days. Returns how many
    enrolments were made."""
    now = now or utcnow()
    if _absent(session, families, family_id=DEMO_FAMILY["family_id"], commune=commune):
        session.execute(families.insert().values(**DEMO_FAMILY, commune=commune, status="active", updated_at=now))
    for child in DEMO_CHILDREN:
        if _absent(session, children, child_id=child["child_id"]):
            session.execute(children.insert().values(**child, family_id=DEMO_FAMILY["family_id"],
                                                     changed_at=dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)))
    made = 0
    for child_id, code, fixed in DEMO_ENROLMENTS:
        service_id = service_ids[code]
        if not _absent(session, enrolments, child_id=child_id, service_id=service_id):
            continue
        first, last = demo.HOLIDAY_SEASON if code == "alsh-vacances" else demo.SCHOOL_YEAR
        session.execute(enrolments.insert().values(
            id=stable_id(commune, "enrolment", child_id, code), commune=commune, family_id=DEMO_FAMILY["family_id"],
            child_id=child_id, service_id=service_id, first=first, last=last, fixed_weekdays=sorted(fixed),
            created_by=SEEDER, created_at=now, updated_at=now))
        made += 1
        if fixed:
            _book_fixed_days(session, commune, Enrolment(child_id, service_id, first, last, fixed), now)
    return made


def _book_fixed_days(session: Session, commune: str, enrolment: Enrolment, now: dt.datetime) -> None:
    ids = list(session.execute(sa.select(prestations.c.id).where(prestations.c.service_id == enrolment.service_id)
                               ).scalars())
    found = store.prestations_by_id(session, ids)
    lines = [line for pid in sorted(ids)
             for line in fixed_days_plan(enrolment, found[pid][1], demo.CALENDAR, {}, now).lines]
    if lines:
        carts.run_checkout(session, Cart(str(uuid.uuid4()), SEEDER, lines=tuple(lines)), DEMO_FAMILY["family_id"],
                           commune, now, by="agent")
        audit.record(session, commune, SEEDER, "enrolment.fixed_days_booked", child_id=enrolment.child_id,
                     service_id=enrolment.service_id, lines=len(lines))


def seed_history(session: Session, today: dt.date | None = None) -> tuple[int, int]:
    """The demo family's past (`contracts.demo.past_days`): each day booked as an agent books fixed
    days (`carts.run_checkout`, at `BOOKED_AT`, with the demo's stable booking id) then marked by
    the staff (`attendance.mark`, the evening of the day). Days already booked or marked, and
    periods billing has locked, are left alone. Returns (days booked, days marked)."""
    today = today or utcnow().astimezone(demo.PARIS).date()
    past = history.past_days(today)
    if not past:
        return 0, 0
    booked = {tuple(r) for r in session.execute(  # by the history, or (a demo re-seeded months later) fixed days
        sa.select(bookings.c.child_id, bookings.c.prestation_id, bookings.c.session_date).where(
            bookings.c.family_id == DEMO_FAMILY["family_id"], bookings.c.session_date <= past[-1].day))}
    lines = tuple(CartLine(d.child_id, d.prestation_id, d.day) for d in past
                  if (d.child_id, d.prestation_id, d.day) not in booked)
    if lines:
        by_key = {(d.child_id, d.prestation_id, d.day): d.booking_id for d in past}
        result, _rows, _found = carts.run_checkout(
            session, Cart(stable_id(demo.COMMUNE_SLUG, "history-cart"), SEEDER, lines=lines),
            DEMO_FAMILY["family_id"], demo.COMMUNE_SLUG, history.BOOKED_AT, by="agent", new_id=by_key.__getitem__)
        refused = [o for o in result.cart.outcomes if o.status.code != "confirmed"]
        if refused:
            raise RuntimeError(f"seed-demo: {len(refused)} past day(s) not booked: {refused[:3]}")
        audit.record(session, demo.COMMUNE_SLUG, SEEDER, "demo.history_booked", lines=len(lines))
    marked = {(r.child_id, r.prestation_id, r.session_date) for r in session.execute(
        sa.select(marks.c.child_id, marks.c.prestation_id, marks.c.session_date).where(
            marks.c.family_id == DEMO_FAMILY["family_id"], marks.c.session_date <= past[-1].day))}
    todo: dict[tuple[str, dt.date], list[history.PastDay]] = {}
    for d in past:
        if (d.child_id, d.prestation_id, d.day) not in marked and not attendance.is_locked(
                session, demo.COMMUNE_SLUG, d.day):
            todo.setdefault((d.prestation_id, d.day), []).append(d)
    found = store.prestations_by_id(session, [code_id for code_id, _ in todo])
    for (prestation_id, day), days in todo.items():
        attendance.mark(session, demo.COMMUNE_SLUG, SEEDER, found[prestation_id][0], day,
                        [{"child_id": d.child_id, "status": d.status} for d in days], now=days[0].marked_at)
    return len(lines), sum(len(days) for days in todo.values())


def seed_demo(session: Session, with_history: bool = False, today: dt.date | None = None) -> int:
    service_ids = seed_catalogue(session)
    made = seed_family(session, service_ids)
    if with_history:
        seed_history(session, today)
    return made


# --- command line -------------------------------------------------------------------------------------------------
def _run(args) -> int:
    if get_settings().is_production:
        print("seed-demo refuses to run when EF_ENV=production", file=sys.stderr)
        return 2
    with get_db().transaction() as session:
        made = seed_demo(session)
    print(f"seed-demo: Heillecourt's catalogue (4 services, 6 prestations, 2026-2027); "
          f"demo children Léa and Hugo Martin enrolled ({made} new enrolment(s))")
    if args.with_history:
        with get_db().transaction() as session:
            booked, marked = seed_history(session)
        print(f"seed-demo: the demo family's past school days ({booked} booked, {marked} marked now)")
    return 0


def _arguments(parser) -> None:
    parser.add_argument("--with-history", action="store_true",
                        help="also the demo family's past days, booked and marked (contracts.demo)")


COMMANDS = {"seed-demo": ("Heillecourt's demo catalogue and the demo family's enrolments", _arguments, _run)}
