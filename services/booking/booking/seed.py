"""`python -m booking seed-demo`: Heillecourt's 2026-2027 catalogue (booking.domain.demo_catalogue)
in the database, its séances generated, and the demo family's children enrolled. Idempotent:
what exists is left as it is.

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

from booking import audit, carts, codec, places, store
from booking.db import get_db
from booking.domain import demo_catalogue as demo
from booking.domain.cart import Cart
from booking.domain.enrolment import Enrolment
from booking.domain.openings import opening_dates
from booking.domain.period import fixed_days_plan
from booking.models import children, commune_calendars, enrolments, families, prestations, services, sessions
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


def seed_demo(session: Session) -> int:
    service_ids = seed_catalogue(session)
    return seed_family(session, service_ids)


# --- command line -------------------------------------------------------------------------------------------------
def _run(_args) -> int:
    if get_settings().is_production:
        print("seed-demo refuses to run when EF_ENV=production", file=sys.stderr)
        return 2
    with get_db().transaction() as session:
        made = seed_demo(session)
    print(f"seed-demo: Heillecourt's catalogue (4 services, 6 prestations, 2026-2027); "
          f"demo children Léa and Hugo Martin enrolled ({made} new enrolment(s))")
    return 0


COMMANDS = {"seed-demo": ("Heillecourt's demo catalogue and the demo family's enrolments", lambda parser: None, _run)}
