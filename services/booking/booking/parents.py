"""What parents see: the services their children can book, a child's month calendar, and the
child's iCalendar feed (secret, revocable URL)."""
from __future__ import annotations

import calendar as month_days
import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit import token_hash
from servicekit.problems import Problem
from servicekit.tokens import Caller
from servicekit.types import isoformat_utc, utcnow

from booking import access, codec, store
from booking.domain.calendar_view import day_views
from booking.domain.capacity import Occupancy
from booking.domain.facts import Attendance, BookingStatus
from booking.domain.ical import FeedEntry, booking_feed
from booking.enrolments import child_view
from booking.models import (attendance, bookings, children, enrolments, ical_feeds, prestations, services, sessions)

FEED_PAST_DAYS = 62
FEED_FUTURE_DAYS = 400


def _iso(value) -> str | None:
    if value is None:
        return None
    return isoformat_utc(value) if isinstance(value, dt.datetime) else value.isoformat()


def list_children(session: Session, caller: Caller) -> dict:
    family_id = access.parent_family(caller)
    rows = session.execute(sa.select(children).where(children.c.family_id == family_id, children.c.removed_at.is_(None))
                           .order_by(children.c.birth_date, children.c.given_name)).mappings()
    return {"items": [child_view(r) for r in rows]}


def list_services(session: Session, caller: Caller, page: int = 1, per_page: int = 50) -> dict:
    """The services of the family's communes, their prestations and each child's enrolments."""
    family_id = access.parent_family(caller)
    communes = access.family_communes(session, family_id)
    query = sa.select(services).where(services.c.commune.in_(communes))
    total = session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    rows = session.execute(query.order_by(services.c.commune, services.c.label, services.c.id)
                           .offset((page - 1) * per_page).limit(per_page)).mappings().all()
    ids = [r["id"] for r in rows]
    by_service: dict[str, list] = {}
    for p in session.execute(sa.select(prestations).where(prestations.c.service_id.in_(ids))
                             .order_by(prestations.c.label)).mappings():
        by_service.setdefault(p["service_id"], []).append(codec.prestation_view(p))
    kids = [r["child_id"] for r in session.execute(sa.select(children.c.child_id).where(
        children.c.family_id == family_id, children.c.removed_at.is_(None))).mappings()]
    enrolled: dict[str, list] = {}
    for e in session.execute(sa.select(enrolments).where(enrolments.c.child_id.in_(kids),
                                                         enrolments.c.service_id.in_(ids))).mappings():
        enrolled.setdefault(e["service_id"], []).append({
            "child_id": e["child_id"], "first": e["first"].isoformat(), "last": e["last"].isoformat(),
            "fixed_weekdays": sorted(e["fixed_weekdays"])})
    items = [{"id": r["id"], "code": r["code"], "label": r["label"], "commune": r["commune"],
              "prestations": by_service.get(r["id"], []), "enrolments": enrolled.get(r["id"], [])} for r in rows]
    return {"items": items, "page": page, "per_page": per_page, "total": total}


def _month(month: str) -> tuple[dt.date, dt.date]:
    try:
        year, number = (int(part) for part in month.split("-"))
        first = dt.date(year, number, 1)
    except ValueError:
        raise Problem(400, "Mois invalide (format AAAA-MM).") from None
    return first, first.replace(day=month_days.monthrange(year, number)[1])


def month_calendar(session: Session, caller: Caller, child_id: str, service_id: str, month: str,
                   now: dt.datetime | None = None) -> dict:
    """Each date of the month for each prestation of the service: its state in words, whether it
    can be booked or cancelled now, the deadline that applies and the price reference."""
    now = now or utcnow()
    family_id = access.parent_family(caller)
    child = access.own_child(session, family_id, child_id)
    service = session.execute(sa.select(services).where(
        services.c.id == service_id, services.c.commune.in_(access.family_communes(session, family_id)))
    ).mappings().first()
    if service is None:
        raise Problem(404, "Ce service est introuvable.")
    first, last = _month(month)
    ids = list(session.execute(sa.select(prestations.c.id).where(prestations.c.service_id == service_id)).scalars())
    found = store.prestations_by_id(session, ids)
    calendar = store.calendar(session, service["commune"])
    child_enrolments = store.enrolments_of(session, [child_id], [service_id])
    resident = store.is_resident(session, family_id, service["commune"])
    statuses: dict[str, dict] = {}
    for r in session.execute(sa.select(bookings.c.prestation_id, bookings.c.session_date, bookings.c.status).where(
            bookings.c.child_id == child_id, bookings.c.prestation_id.in_(ids),
            bookings.c.session_date.between(first, last))):
        statuses.setdefault(r.prestation_id, {})[r.session_date] = BookingStatus(r.status)
    marks: dict[str, dict] = {}
    for r in session.execute(sa.select(attendance.c.prestation_id, attendance.c.session_date, attendance.c.status)
                             .where(attendance.c.child_id == child_id, attendance.c.prestation_id.in_(ids),
                                    attendance.c.session_date.between(first, last))):
        marks.setdefault(r.prestation_id, {})[r.session_date] = Attendance(r.status)
    counts: dict[str, dict] = {}
    for r in session.execute(sa.select(sessions).where(sessions.c.prestation_id.in_(ids),
                                                       sessions.c.session_date.between(first, last))).mappings():
        capacity = r["capacity"] if r["capacity"] is not None else found[r["prestation_id"]][1].capacity
        counts.setdefault(r["prestation_id"], {})[r["session_date"]] = Occupancy(capacity, r["confirmed"], r["held"])
    out = []
    for prestation_id in sorted(found, key=lambda pid: found[pid][0]["label"]):
        row, prestation = found[prestation_id]
        try:
            days = day_views(prestation, calendar, child_id, child_enrolments, first, last,
                             statuses.get(prestation_id, {}), marks.get(prestation_id, {}),
                             counts.get(prestation_id, {}), now, resident)
        except ValueError as exc:
            raise Problem(422, str(exc)) from None
        out.append({**codec.prestation_view(row), "days": [{
            "date": d.day.isoformat(), "state": d.state.code, "state_label": d.state.label, "label": d.label,
            "closure": d.closure.code if d.closure else None, "can_book": d.can_book, "can_cancel": d.can_cancel,
            "booking_deadline": _iso(d.booking_deadline), "cancellation_deadline": _iso(d.cancellation_deadline),
            "places_left": d.places_left, "price_ref": d.price_ref, "booking_opens_at": _iso(d.booking_opens_at),
        } for d in days]})
    return {"child": child_view(child), "service": {"id": service["id"], "label": service["label"],
                                                   "commune": service["commune"]},
            "month": first.strftime("%Y-%m"), "prestations": out}


# --- iCalendar feed -----------------------------------------------------------------------------------------------
def _live_feed(session: Session, child_id: str):
    return session.execute(sa.select(ical_feeds).where(ical_feeds.c.child_id == child_id,
                                                       ical_feeds.c.revoked_at.is_(None))).mappings().first()


def get_feed(session: Session, caller: Caller, child_id: str) -> dict:
    family_id = access.parent_family(caller)
    access.own_child(session, family_id, child_id)
    feed = _live_feed(session, child_id)
    return {"active": feed is not None, "created_at": isoformat_utc(feed["created_at"]) if feed else None,
            "token": None}


def create_feed(session: Session, caller: Caller, child_id: str) -> dict:
    """A new secret feed URL for the child; any previous one stops working. The token is shown
    once (only its hash is kept): the gateway builds the public URL from it."""
    family_id = access.parent_family(caller)
    access.own_child(session, family_id, child_id)
    now = utcnow()
    session.execute(ical_feeds.update().where(ical_feeds.c.child_id == child_id, ical_feeds.c.revoked_at.is_(None))
                    .values(revoked_at=now))
    token, digest = token_hash.new_token_and_hash()
    session.execute(ical_feeds.insert().values(id=str(uuid.uuid4()), child_id=child_id, family_id=family_id,
                                               token_hash=digest, created_at=now))
    return {"active": True, "created_at": isoformat_utc(now), "token": token}


def revoke_feed(session: Session, caller: Caller, child_id: str) -> None:
    family_id = access.parent_family(caller)
    access.own_child(session, family_id, child_id)
    session.execute(ical_feeds.update().where(ical_feeds.c.child_id == child_id, ical_feeds.c.revoked_at.is_(None))
                    .values(revoked_at=utcnow()))


def feed_body(session: Session, token: str, now: dt.datetime | None = None) -> bytes:
    """The feed behind a secret token (404 when unknown or revoked: the same answer)."""
    now = now or utcnow()
    feed = session.execute(sa.select(ical_feeds).where(ical_feeds.c.token_hash == token_hash.hash_token(token),
                                                       ical_feeds.c.revoked_at.is_(None))).mappings().first()
    child = session.execute(sa.select(children).where(children.c.child_id == feed["child_id"])).mappings().first() \
        if feed else None
    if feed is None or child is None or child["family_id"] != feed["family_id"]:
        raise Problem(404, "Ce calendrier n'existe pas ou a été révoqué.")
    today = now.date()
    rows = session.execute(
        sa.select(bookings.c.id, bookings.c.session_date, bookings.c.status, bookings.c.updated_at,
                  prestations.c.label, prestations.c.starts_at, prestations.c.ends_at,
                  services.c.label.label("service_label"))
        .join(prestations, prestations.c.id == bookings.c.prestation_id)
        .join(services, services.c.id == prestations.c.service_id)
        .where(bookings.c.child_id == child["child_id"],
               bookings.c.session_date.between(today - dt.timedelta(days=FEED_PAST_DAYS),
                                               today + dt.timedelta(days=FEED_FUTURE_DAYS)))).mappings()
    entries = [FeedEntry(r["id"], r["session_date"], r["label"], r["service_label"], BookingStatus(r["status"]),
                         r["starts_at"], r["ends_at"], r["updated_at"]) for r in rows]
    return booking_feed(child["given_name"], entries, now)
