"""Loading the domain's facts from booking's tables (inside the caller's transaction)."""
from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit.queries import one_of

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
