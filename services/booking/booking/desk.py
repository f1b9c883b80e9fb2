"""The agent's desk: cancellation requests, waiting lists, deadline overrides, CSV exports
(servicekit.csvexport: `;`, UTF-8 with a BOM, formulas neutralised).

Every decision lands in the audit trail; each changes bookings, places and events in one
transaction (the séance's occupancy row locked first).
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit import csvexport
from servicekit.problems import Problem
from servicekit.tokens import Caller
from servicekit.types import isoformat_utc, utcnow

from booking import access, audit, events, places, store
from booking.catalogue import _paged, _prestation, _range
from booking.domain import cancellations, waiting_list
from booking.domain.catalogue import RefundDecision
from booking.domain.facts import BookingStatus
from booking.models import attendance, bookings, children, deadline_overrides, families, prestations

REFUNDS = {d.code: d for d in RefundDecision}


def booking_view(row: Mapping) -> dict:
    return {"id": row["id"], "family_id": row["family_id"], "child_id": row["child_id"],
            "child_name": " ".join(filter(None, (row.get("given_name"), row.get("family_name")))) or None,
            "service_id": row["service_id"], "prestation_id": row["prestation_id"],
            "prestation_label": row.get("prestation_label"), "session_date": row["session_date"].isoformat(),
            "status": row["status"], "waiting_since": isoformat_utc(row["waiting_since"]),
            "updated_at": isoformat_utc(row["updated_at"])}


def _with_names():
    return (sa.select(bookings, children.c.given_name, children.c.family_name,
                      prestations.c.label.label("prestation_label"), prestations.c.price_ref)
            .join(prestations, prestations.c.id == bookings.c.prestation_id)
            .outerjoin(children, children.c.child_id == bookings.c.child_id))


def _booking_for_update(session: Session, commune: str, booking_id: str) -> tuple[dict, places.PrestationMap, dict]:
    row = session.execute(sa.select(bookings).where(bookings.c.id == booking_id, bookings.c.commune == commune)
                          ).mappings().first()
    if row is None:
        raise Problem(404, "Cette réservation est introuvable.")
    found = store.prestations_by_id(session, [row["prestation_id"]])
    slot = (row["prestation_id"], row["session_date"])
    locked = places.lock(session, [slot], found)
    # Read again under the séance's lock: a concurrent decision may have changed it.
    row = dict(session.execute(sa.select(bookings).where(bookings.c.id == booking_id)).mappings().one())
    return row, found, locked


# --- cancellation requests ----------------------------------------------------------------------------------------
def list_by_status(session: Session, caller: Caller, statuses: tuple[str, ...], page: int, per_page: int,
                   prestation_id: str | None = None, session_date: str | None = None) -> dict:
    commune = access.agent_commune(session, caller)
    query = _with_names().where(bookings.c.commune == commune, bookings.c.status.in_(statuses))
    if prestation_id:
        query = query.where(bookings.c.prestation_id == prestation_id)
    if session_date:
        query = query.where(bookings.c.session_date == dt.date.fromisoformat(session_date))
    return _paged(session, query, page, per_page,
                  (bookings.c.session_date, bookings.c.waiting_since, bookings.c.updated_at, bookings.c.id),
                  booking_view)


def list_bookings(session: Session, caller: Caller, first: str, last: str, child_id: str | None = None,
                  prestation_id: str | None = None, status: str | None = None, page: int = 1,
                  per_page: int = 50) -> dict:
    """The commune's bookings of a date range (at most a year), by date."""
    commune = access.agent_commune(session, caller)
    first, last = _range(first, last)
    query = _with_names().where(bookings.c.commune == commune, bookings.c.session_date.between(first, last))
    if child_id:
        query = query.where(bookings.c.child_id == child_id)
    if prestation_id:
        query = query.where(bookings.c.prestation_id == prestation_id)
    if status:
        query = query.where(bookings.c.status == status)
    return _paged(session, query, page, per_page,
                  (bookings.c.session_date, prestations.c.label, children.c.family_name, children.c.given_name,
                   bookings.c.id), booking_view)


def list_cancellation_requests(session: Session, caller: Caller, page: int = 1, per_page: int = 50) -> dict:
    return list_by_status(session, caller, (BookingStatus.CANCELLATION_REQUESTED.value,), page, per_page)


def decide_cancellation(session: Session, caller: Caller, booking_id: str, body: Mapping[str, Any],
                        now: dt.datetime | None = None) -> dict:
    """Accept (place freed, refund per the prestation's rule or the agent's choice) or refuse
    (the booking stands; the message is kept in the audit trail for the parent)."""
    now = now or utcnow()
    commune = access.agent_commune(session, caller)
    row, found, locked = _booking_for_update(session, commune, booking_id)
    prestation_row, prestation = found[row["prestation_id"]]
    slot = (row["prestation_id"], row["session_date"])
    status = BookingStatus(row["status"])
    message = (body.get("message") or "").strip()
    try:
        if body["decision"] == "accept":
            new_status, occupancy_after = cancellations.accept_cancellation(status, locked[slot])
            refund = cancellations.refund_for(prestation, REFUNDS.get(body.get("refund") or ""))
            occupancy = {slot: occupancy_after}
            session.execute(bookings.update().where(bookings.c.id == booking_id)
                            .values(status=new_status.value, updated_at=now))
            events.booking_cancelled(session, row, prestation_row, refund.code, "agent", now)
            places.promote(session, [slot], occupancy, found, now)
            places.save(session, locked, occupancy)
            audit.record(session, commune, caller, "cancellation.accepted", booking_id=booking_id,
                         child_id=row["child_id"], session_date=row["session_date"], refund=refund.code,
                         message=message)
        else:
            if not message:
                raise Problem(422, "Expliquez le refus à la famille.", errors={"message": "Ce champ est obligatoire."})
            new_status = cancellations.refuse_cancellation(status)
            session.execute(bookings.update().where(bookings.c.id == booking_id)
                            .values(status=new_status.value, updated_at=now))
            audit.record(session, commune, caller, "cancellation.refused", booking_id=booking_id,
                         child_id=row["child_id"], session_date=row["session_date"], message=message)
    except cancellations.NotAwaitingDecision as exc:
        raise Problem(409, str(exc)) from None
    return booking_view({**row, "status": new_status.value, "updated_at": now,
                         "prestation_label": prestation_row["label"]})


# --- waiting lists ---------------------------------------------------------------------------------------------
def list_waiting(session: Session, caller: Caller, prestation_id: str | None = None, session_date: str | None = None,
                 page: int = 1, per_page: int = 50) -> dict:
    """Children waiting, and those promoted whose place an agent must confirm (pending_agent)."""
    return list_by_status(session, caller, (BookingStatus.WAITING.value, BookingStatus.PENDING_AGENT.value),
                          page, per_page, prestation_id, session_date)


def decide_waiting(session: Session, caller: Caller, booking_id: str, body: Mapping[str, Any],
                   now: dt.datetime | None = None) -> dict:
    """Confirm a promoted child (the parent is told), or decline: the place goes to the next one."""
    now = now or utcnow()
    commune = access.agent_commune(session, caller)
    row, found, locked = _booking_for_update(session, commune, booking_id)
    prestation_row, prestation = found[row["prestation_id"]]
    slot = (row["prestation_id"], row["session_date"])
    if row["status"] != BookingStatus.PENDING_AGENT.value:
        raise Problem(409, "Aucune place n'attend de confirmation pour cet enfant à cette date.")
    if body["decision"] == "confirm":
        occupancy = {slot: waiting_list.agent_confirms(locked[slot])}
        new_status = BookingStatus.CONFIRMED
        session.execute(bookings.update().where(bookings.c.id == booking_id)
                        .values(status=new_status.value, updated_at=now))
        events.waiting_list_confirmed(session, row, prestation_row, "agent", now)
        events.booking_confirmed(session, row, prestation_row, "waiting_list", now)
    else:
        new_status = BookingStatus.CANCELLED
        session.execute(bookings.update().where(bookings.c.id == booking_id)
                        .values(status=new_status.value, updated_at=now))
        occupancy = {slot: locked[slot].release_held()}
        places.promote(session, [slot], occupancy, found, now)
    places.save(session, locked, occupancy)
    action = "waiting_list.confirmed" if body["decision"] == "confirm" else "waiting_list.declined"
    audit.record(session, commune, caller, action, booking_id=booking_id,
                 child_id=row["child_id"], session_date=row["session_date"])
    return booking_view({**row, "status": new_status.value, "updated_at": now,
                         "prestation_label": prestation_row["label"]})


# --- deadline overrides -----------------------------------------------------------------------------------------
def override_view(row: Mapping) -> dict:
    return {"id": row["id"], "family_id": row["family_id"], "prestation_id": row["prestation_id"],
            "session_date": row["session_date"].isoformat(), "reason": row["reason"], "created_by": row["created_by"],
            "created_by_name": row.get("created_by_name"), "family_name": row.get("family_name"),
            "prestation_label": row.get("prestation_label"), "created_at": isoformat_utc(row["created_at"])}


def create_override(session: Session, caller: Caller, body: Mapping[str, Any]) -> dict:
    """Let one family book or cancel one séance after its deadline, for a stated reason."""
    commune = access.agent_commune(session, caller)
    if not access.family_in_commune(session, body["family_id"], commune):
        raise Problem(404, "Cette famille est introuvable ou ne relève pas de votre commune.")
    prestation = _prestation(session, commune, body["prestation_id"])
    reason = body["reason"].strip()
    if not reason:
        raise Problem(422, "Indiquez le motif de la dérogation.", errors={"reason": "Ce champ est obligatoire."})
    day = dt.date.fromisoformat(body["session_date"])
    exists = session.execute(sa.select(deadline_overrides.c.id).where(
        deadline_overrides.c.family_id == body["family_id"],
        deadline_overrides.c.prestation_id == body["prestation_id"],
        deadline_overrides.c.session_date == day)).first()
    if exists:
        raise Problem(409, "Une dérogation existe déjà pour cette famille à cette date.")
    row = {"id": str(uuid.uuid4()), "commune": commune, "family_id": body["family_id"],
           "prestation_id": body["prestation_id"], "session_date": day, "reason": reason, "created_by": caller.sub,
           "created_by_name": caller.name, "created_at": utcnow()}
    session.execute(deadline_overrides.insert().values(**row))
    audit.record(session, commune, caller, "deadline.overridden", family_id=row["family_id"],
                 prestation_id=row["prestation_id"], session_date=day, reason=reason)
    family_name = audit.family_names(session, commune, [row["family_id"]]).get(row["family_id"])
    return override_view({**row, "prestation_label": prestation["label"], "family_name": family_name})


def list_overrides(session: Session, caller: Caller, page: int = 1, per_page: int = 50) -> dict:
    """Newest first, with the family's name and the prestation's label (agents read names)."""
    commune = access.agent_commune(session, caller)
    query = (sa.select(deadline_overrides, families.c.family_name, prestations.c.label.label("prestation_label"))
             .join(prestations, prestations.c.id == deadline_overrides.c.prestation_id)
             .outerjoin(families, sa.and_(families.c.family_id == deadline_overrides.c.family_id,
                                          families.c.commune == deadline_overrides.c.commune))
             .where(deadline_overrides.c.commune == commune))
    return _paged(session, query, page, per_page, (deadline_overrides.c.created_at.desc(), deadline_overrides.c.id),
                  override_view)


# --- CSV exports ------------------------------------------------------------------------------------------------
def export_bookings(session: Session, caller: Caller, first: str, last: str) -> str:
    commune = access.agent_commune(session, caller)
    first, last = _range(first, last)
    rows = session.execute(_with_names().where(bookings.c.commune == commune,
                                               bookings.c.session_date.between(first, last))
                           .order_by(bookings.c.session_date, prestations.c.label, children.c.family_name,
                                     children.c.given_name, bookings.c.id)).mappings()
    return csvexport.csv_text(
        ["date", "prestation", "enfant_id", "nom", "prenom", "famille_id", "statut", "prix_ref"],
        ([r["session_date"].isoformat(), r["prestation_label"], r["child_id"], r["family_name"], r["given_name"],
          r["family_id"], r["status"], r["price_ref"]] for r in rows))


def export_attendance(session: Session, caller: Caller, first: str, last: str) -> str:
    commune = access.agent_commune(session, caller)
    first, last = _range(first, last)
    rows = session.execute(
        sa.select(attendance, children.c.given_name, children.c.family_name, prestations.c.label,
                  prestations.c.price_ref)
        .join(prestations, prestations.c.id == attendance.c.prestation_id)
        .outerjoin(children, children.c.child_id == attendance.c.child_id)
        .where(attendance.c.commune == commune, attendance.c.session_date.between(first, last))
        .order_by(attendance.c.session_date, prestations.c.label, children.c.family_name, children.c.given_name,
                  attendance.c.child_id)).mappings()
    return csvexport.csv_text(
        ["date", "prestation", "enfant_id", "nom", "prenom", "famille_id", "pointage", "reserve", "prix_ref"],
        ([r["session_date"].isoformat(), r["label"], r["child_id"], r["family_name"], r["given_name"],
          r["family_id"], r["status"], "oui" if r["booked"] else "non", r["price_ref"]] for r in rows))
