"""Agents' catalogue: the commune's calendar, services, prestations, séances and closures.

Every function acts for the agent's commune only; another commune's rows are "not found".
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit.problems import Problem
from servicekit.tokens import Caller
from servicekit.types import isoformat_utc, utcnow

from booking import access, audit, codec, places, store
from booking.domain.catalogue import prestation_problems
from booking.domain.closures import CommuneCalendar
from booking.domain.openings import closure_reason, days_between, opening_dates
from booking.models import attendance, bookings, closures, commune_calendars, prestations, services, sessions

MAX_RANGE_DAYS = 366
NOT_FOUND_SERVICE = "Ce service est introuvable."
NOT_FOUND_PRESTATION = "Cette prestation est introuvable."


def _range(first: str | dt.date, last: str | dt.date, max_days: int = MAX_RANGE_DAYS) -> tuple[dt.date, dt.date]:
    first = first if isinstance(first, dt.date) else dt.date.fromisoformat(first)
    last = last if isinstance(last, dt.date) else dt.date.fromisoformat(last)
    if last < first:
        raise Problem(422, "La fin de la période précède son début.")
    if (last - first).days >= max_days:
        raise Problem(422, f"Choisissez une période d'au plus {max_days} jours.")
    return first, last


def _paged(session: Session, query, page: int, per_page: int, order_by, view) -> dict:
    total = session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    rows = session.execute(query.order_by(*order_by).offset((page - 1) * per_page).limit(per_page)).mappings()
    return {"items": [view(r) for r in rows], "page": page, "per_page": per_page, "total": total}


# --- the commune's calendar -------------------------------------------------------------------------------------
def calendar_view(commune: str, calendar: CommuneCalendar) -> dict:
    return {"commune": commune, "zone": calendar.zone, "school_weekdays": sorted(calendar.school_weekdays)}


def get_calendar(session: Session, caller: Caller) -> dict:
    commune = access.agent_commune(session, caller)
    return calendar_view(commune, store.calendar(session, commune))


def put_calendar(session: Session, caller: Caller, body: Mapping[str, Any]) -> dict:
    commune = access.agent_commune(session, caller)
    calendar = CommuneCalendar(body["zone"], frozenset(body["school_weekdays"]))
    now = utcnow()
    values = {"zone": calendar.zone, "school_weekdays": sorted(calendar.school_weekdays), "updated_at": now}
    updated = session.execute(commune_calendars.update().where(commune_calendars.c.commune == commune).values(**values))
    if updated.rowcount == 0:
        session.execute(commune_calendars.insert().values(commune=commune, created_at=now, **values))
    audit.record(session, commune, caller, "calendar.updated", zone=calendar.zone,
                 school_weekdays=values["school_weekdays"])
    return calendar_view(commune, calendar)


# --- services -------------------------------------------------------------------------------------------------
def service_view(row: Mapping) -> dict:
    return {"id": row["id"], "code": row["code"], "label": row["label"], "commune": row["commune"]}


def _service(session: Session, commune: str, service_id: str) -> dict:
    row = session.execute(sa.select(services).where(services.c.id == service_id, services.c.commune == commune)
                          ).mappings().first()
    if row is None:
        raise Problem(404, NOT_FOUND_SERVICE)
    return dict(row)


def _unique_code(session: Session, table, commune: str, code: str, what: str) -> None:
    if session.execute(sa.select(table.c.id).where(table.c.commune == commune, table.c.code == code)).first():
        raise Problem(409, f"Le code « {code} » est déjà utilisé par {what} de votre commune.")


def list_services(session: Session, caller: Caller, page: int = 1, per_page: int = 50) -> dict:
    commune = access.agent_commune(session, caller)
    return _paged(session, sa.select(services).where(services.c.commune == commune), page, per_page,
                  (services.c.label, services.c.id), service_view)


def create_service(session: Session, caller: Caller, body: Mapping[str, Any]) -> dict:
    commune = access.agent_commune(session, caller)
    label = body["label"].strip()
    if not label:
        raise Problem(422, "Le libellé est obligatoire.", errors={"label": "Ce champ est obligatoire."})
    _unique_code(session, services, commune, body["code"], "un autre service")
    row = {"id": str(uuid.uuid4()), "commune": commune, "code": body["code"], "label": label}
    session.execute(services.insert().values(**row))
    audit.record(session, commune, caller, "service.created", service_id=row["id"], label=label)
    return service_view(row)


def update_service(session: Session, caller: Caller, service_id: str, body: Mapping[str, Any]) -> dict:
    commune = access.agent_commune(session, caller)
    row = _service(session, commune, service_id)
    label = body["label"].strip()
    if not label:
        raise Problem(422, "Le libellé est obligatoire.", errors={"label": "Ce champ est obligatoire."})
    session.execute(services.update().where(services.c.id == service_id).values(label=label, updated_at=utcnow()))
    audit.record(session, commune, caller, "service.updated", service_id=service_id, label=label)
    return service_view({**row, "label": label})


def _refuse_if_booked(session: Session, condition, what: str) -> None:
    if session.execute(sa.select(bookings.c.id).where(condition).limit(1)).first():
        raise Problem(409, f"{what} a des réservations : elle ne peut pas être supprimée.")


def _refuse_if_marked(session: Session, prestation_ids, what: str) -> None:
    """Attendance is the invoice's evidence (present without booking too): deleting the
    prestation would cascade it away, even in an invoiced period."""
    if session.execute(sa.select(attendance.c.child_id).where(attendance.c.prestation_id.in_(prestation_ids))
                       .limit(1)).first():
        raise Problem(409, f"{what} a des pointages : elle ne peut pas être supprimée.")


def delete_service(session: Session, caller: Caller, service_id: str) -> None:
    commune = access.agent_commune(session, caller)
    _service(session, commune, service_id)
    _refuse_if_booked(session, bookings.c.service_id == service_id, "Une prestation de ce service")
    _refuse_if_marked(session, sa.select(prestations.c.id).where(prestations.c.service_id == service_id),
                      "Une prestation de ce service")
    session.execute(services.delete().where(services.c.id == service_id))
    audit.record(session, commune, caller, "service.deleted", service_id=service_id)


# --- prestations ----------------------------------------------------------------------------------------------
def _prestation(session: Session, commune: str, prestation_id: str) -> dict:
    row = session.execute(sa.select(prestations).where(prestations.c.id == prestation_id,
                                                       prestations.c.commune == commune)).mappings().first()
    if row is None:
        raise Problem(404, NOT_FOUND_PRESTATION)
    return dict(row)


def _checked(prestation_id: str, service_id: str, body: Mapping[str, Any]):
    try:
        prestation = codec.prestation_from_input(prestation_id, service_id, body)
    except ValueError as exc:
        raise Problem(422, str(exc)) from None
    problems = prestation_problems(prestation)
    if problems:
        raise Problem(422, " ; ".join(problems), problems=problems)
    return prestation


def list_prestations(session: Session, caller: Caller, service_id: str | None = None, page: int = 1,
                     per_page: int = 50) -> dict:
    commune = access.agent_commune(session, caller)
    query = sa.select(prestations).where(prestations.c.commune == commune)
    if service_id is not None:
        query = query.where(prestations.c.service_id == service_id)
    return _paged(session, query, page, per_page, (prestations.c.label, prestations.c.id), codec.prestation_view)


def get_prestation(session: Session, caller: Caller, prestation_id: str) -> dict:
    commune = access.agent_commune(session, caller)
    return codec.prestation_view(_prestation(session, commune, prestation_id))


def create_prestation(session: Session, caller: Caller, body: Mapping[str, Any]) -> dict:
    commune = access.agent_commune(session, caller)
    _service(session, commune, body["service_id"])
    prestation = _checked(str(uuid.uuid4()), body["service_id"], body)
    _unique_code(session, prestations, commune, body["code"], "une autre prestation")
    row = {"id": prestation.id, "commune": commune, "code": body["code"], **codec.prestation_values(prestation)}
    session.execute(prestations.insert().values(**row))
    audit.record(session, commune, caller, "prestation.created", prestation_id=prestation.id,
                 label=prestation.label)
    return codec.prestation_view(row)


def update_prestation(session: Session, caller: Caller, prestation_id: str, body: Mapping[str, Any]) -> dict:
    """Replace the prestation's settings (its service and code stay)."""
    commune = access.agent_commune(session, caller)
    row = _prestation(session, commune, prestation_id)
    prestation = _checked(prestation_id, row["service_id"], body)
    values = codec.prestation_values(prestation)
    session.execute(prestations.update().where(prestations.c.id == prestation_id).values(**values, updated_at=utcnow()))
    audit.record(session, commune, caller, "prestation.updated", prestation_id=prestation_id,
                 label=prestation.label)
    return codec.prestation_view({**row, **values})


def delete_prestation(session: Session, caller: Caller, prestation_id: str) -> None:
    commune = access.agent_commune(session, caller)
    _prestation(session, commune, prestation_id)
    _refuse_if_booked(session, bookings.c.prestation_id == prestation_id, "Cette prestation")
    _refuse_if_marked(session, [prestation_id], "Cette prestation")
    session.execute(prestations.delete().where(prestations.c.id == prestation_id))
    audit.record(session, commune, caller, "prestation.deleted", prestation_id=prestation_id)


# --- séances ------------------------------------------------------------------------------------------------------
def generate_sessions(session: Session, caller: Caller, prestation_id: str, body: Mapping[str, Any]) -> dict:
    """Create the séances (opening dates) of a period from the prestation's weekly pattern, minus
    public holidays, school holidays and closures. Idempotent."""
    commune = access.agent_commune(session, caller)
    _prestation(session, commune, prestation_id)
    first, last = _range(body["first"], body["last"])
    row, prestation = store.prestations_by_id(session, [prestation_id])[prestation_id]
    try:
        days = opening_dates(prestation.schedule, store.calendar(session, commune), first, last)
    except ValueError as exc:
        raise Problem(422, str(exc)) from None
    if days:
        places.lock(session, [(prestation_id, day) for day in days], {prestation_id: (row, prestation)})
        session.execute(sessions.update().where(sessions.c.prestation_id == prestation_id,
                                                sessions.c.session_date.in_(days)).values(generated=True))
    audit.record(session, commune, caller, "sessions.generated", prestation_id=prestation_id, first=first,
                 last=last, count=len(days))
    return {"prestation_id": prestation_id, "first": first.isoformat(), "last": last.isoformat(),
            "generated": len(days)}


def list_sessions(session: Session, caller: Caller, prestation_id: str, first: str, last: str) -> dict:
    """Every date of the range: open or why closed, capacity and places taken."""
    commune = access.agent_commune(session, caller)
    _prestation(session, commune, prestation_id)
    first, last = _range(first, last, 93)
    _, prestation = store.prestations_by_id(session, [prestation_id])[prestation_id]
    calendar = store.calendar(session, commune)
    rows = {r["session_date"]: r for r in session.execute(sa.select(sessions).where(
        sessions.c.prestation_id == prestation_id, sessions.c.session_date.between(first, last))).mappings()}
    items = []
    for day in days_between(first, last):
        try:
            reason = closure_reason(prestation.schedule, calendar, day)
        except ValueError as exc:
            raise Problem(422, str(exc)) from None
        row = rows.get(day)
        capacity = row["capacity"] if row is not None and row["capacity"] is not None else prestation.capacity
        items.append({"session_date": day.isoformat(), "open": reason is None,
                      "closure": reason.code if reason else None, "closure_label": reason.label if reason else None,
                      "generated": bool(row and row["generated"]), "capacity": capacity,
                      "date_capacity": row["capacity"] if row is not None else None,
                      "confirmed": row["confirmed"] if row is not None else 0,
                      "held": row["held"] if row is not None else 0})
    return {"prestation_id": prestation_id, "items": items}


def set_session_capacity(session: Session, caller: Caller, prestation_id: str, session_date: str,
                         body: Mapping[str, Any]) -> dict:
    """A capacity for one date (None: the prestation's). Places already taken are kept."""
    commune = access.agent_commune(session, caller)
    _prestation(session, commune, prestation_id)
    day = dt.date.fromisoformat(session_date)
    found = store.prestations_by_id(session, [prestation_id])
    places.lock(session, [(prestation_id, day)], found)
    session.execute(sessions.update().where(sessions.c.prestation_id == prestation_id, sessions.c.session_date == day)
                    .values(capacity=body.get("capacity")))
    audit.record(session, commune, caller, "session.capacity_set", prestation_id=prestation_id,
                 session_date=day, capacity=body.get("capacity"))
    return list_sessions(session, caller, prestation_id, day.isoformat(), day.isoformat())["items"][0]


# --- closures -------------------------------------------------------------------------------------------------
def closure_view(row: Mapping) -> dict:
    return {"id": row["id"], "prestation_id": row["prestation_id"], "closed_on": row["closed_on"].isoformat(),
            "label": row["label"], "created_at": isoformat_utc(row["created_at"])}


def list_closures(session: Session, caller: Caller, first: str | None = None, last: str | None = None,
                  page: int = 1, per_page: int = 50) -> dict:
    commune = access.agent_commune(session, caller)
    query = sa.select(closures).where(closures.c.commune == commune)
    if first:
        query = query.where(closures.c.closed_on >= dt.date.fromisoformat(first))
    if last:
        query = query.where(closures.c.closed_on <= dt.date.fromisoformat(last))
    return _paged(session, query, page, per_page, (closures.c.closed_on, closures.c.id), closure_view)


def create_closure(session: Session, caller: Caller, body: Mapping[str, Any]) -> dict:
    """An ad-hoc closure (strike, training day) of one prestation, or of every one (no prestation).
    Bookings of that date stay: the agent tells the families and cancels them if needed."""
    commune = access.agent_commune(session, caller)
    if body.get("prestation_id"):
        _prestation(session, commune, body["prestation_id"])
    label = body["label"].strip()
    if not label:
        raise Problem(422, "Le motif est obligatoire.", errors={"label": "Ce champ est obligatoire."})
    row = {"id": str(uuid.uuid4()), "commune": commune, "prestation_id": body.get("prestation_id"),
           "closed_on": dt.date.fromisoformat(body["closed_on"]), "label": label, "created_by": caller.sub,
           "created_at": utcnow()}
    session.execute(closures.insert().values(**row))
    audit.record(session, commune, caller, "closure.created", closure_id=row["id"],
                 prestation_id=row["prestation_id"], closed_on=row["closed_on"], label=label)
    return closure_view(row)


def delete_closure(session: Session, caller: Caller, closure_id: str) -> None:
    commune = access.agent_commune(session, caller)
    deleted = session.execute(closures.delete().where(closures.c.id == closure_id, closures.c.commune == commune))
    if deleted.rowcount == 0:
        raise Problem(404, "Cette fermeture est introuvable.")
    audit.record(session, commune, caller, "closure.deleted", closure_id=closure_id)
