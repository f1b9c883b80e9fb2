"""Agents enrol children in services (inscriptions), optionally with fixed weekdays that book
the whole period in one action; they find the children of their commune's families."""
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

from booking import access, audit, carts, dossiers, idempotency, store
from booking.catalogue import _paged, _range, _service
from booking.domain.cart import Cart, LineStatus
from booking.domain.enrolment import Enrolment
from booking.domain.period import fixed_days_plan
from booking.models import children, enrolments, families, prestations


def child_view(row: Mapping) -> dict:
    return {"child_id": row["child_id"], "family_id": row["family_id"], "given_name": row["given_name"],
            "family_name": row["family_name"],
            "birth_date": row["birth_date"].isoformat() if row["birth_date"] else None,
            "school": row["school"], "class_name": row["class_name"], "removed": row["removed_at"] is not None}


def list_children(session: Session, caller: Caller, q: str | None = None, page: int = 1, per_page: int = 50) -> dict:
    """Children of the commune's families (including those who left a family: their history stays)."""
    commune = access.agent_commune(session, caller)
    query = (sa.select(children).join(families, families.c.family_id == children.c.family_id)
             .where(families.c.commune == commune))
    if q:
        like = f"%{q.strip().lower()}%"
        query = query.where(sa.or_(sa.func.lower(children.c.given_name).like(like),
                                   sa.func.lower(children.c.family_name).like(like)))
    return _paged(session, query, page, per_page, (children.c.family_name, children.c.given_name,
                                                  children.c.child_id), child_view)


def get_child(session: Session, caller: Caller, child_id: str) -> dict:
    """One child of the commune's families (also one who left a family), or 404."""
    commune = access.agent_commune(session, caller)
    return child_view(access.commune_child(session, commune, child_id, include_removed=True))


def enrolment_view(row: Mapping) -> dict:
    return {"id": row["id"], "child_id": row["child_id"], "family_id": row["family_id"],
            "service_id": row["service_id"], "first": row["first"].isoformat(), "last": row["last"].isoformat(),
            "fixed_weekdays": sorted(row["fixed_weekdays"]), "created_at": isoformat_utc(row["created_at"])}


def list_enrolments(session: Session, caller: Caller, child_id: str | None = None, service_id: str | None = None,
                    page: int = 1, per_page: int = 50) -> dict:
    commune = access.agent_commune(session, caller)
    query = sa.select(enrolments).where(enrolments.c.commune == commune)
    if child_id:
        query = query.where(enrolments.c.child_id == child_id)
    if service_id:
        query = query.where(enrolments.c.service_id == service_id)
    return _paged(session, query, page, per_page, (enrolments.c.first, enrolments.c.id), enrolment_view)


ENROL = "enrolment.create"  # the Idempotency-Key's operation


def enrolment_target(session: Session, caller: Caller, body: Mapping[str, Any],
                     idempotency_key: str | None = None) -> dict:
    """Whose dossier an enrolment needs (the child's family, the agent's commune), before asking
    requests about it; 403/404 as `enrol` would answer. `answer`: the first answer when this
    Idempotency-Key already made the enrolment (a retry needs no new check)."""
    commune = access.agent_commune(session, caller)
    child = access.commune_child(session, commune, body["child_id"])
    _service(session, commune, body["service_id"])
    return {"commune": commune, "family_id": child["family_id"], "child_id": child["child_id"],
            "service_id": body["service_id"],
            "answer": idempotency.answered(session, caller.sub, ENROL, idempotency_key)}


def enrol(session: Session, caller: Caller, body: Mapping[str, Any], now: dt.datetime | None = None, *,
          dossier: dossiers.Dossier) -> dict:
    """Enrol a child in a service for a period; with fixed weekdays, book them over the whole
    period at once (agents' bookings are confirmed and invoiced at the end of the month).
    `dossier` is requests' answer about this child and service (booking.dossiers): an incomplete
    one refuses the enrolment, naming the documents."""
    now = now or utcnow()
    commune = access.agent_commune(session, caller)
    child = access.commune_child(session, commune, body["child_id"])
    service = _service(session, commune, body["service_id"])
    first, last = _range(body["first"], body["last"])
    try:
        enrolment = Enrolment(child["child_id"], body["service_id"], first, last,
                              frozenset(body.get("fixed_weekdays") or ()))
    except ValueError as exc:
        raise Problem(422, str(exc)) from None
    if (dossier.family_id, dossier.child_id, dossier.service_id, dossier.commune) != (
            child["family_id"], child["child_id"], enrolment.service_id, commune):
        raise Problem(409, "L'enfant a changé de famille pendant la vérification de son dossier. Réessayez.")
    if not dossier.complete:
        raise dossiers.refusal(dossier, child["given_name"], service["label"])
    overlapping = session.execute(sa.select(enrolments.c.id).where(
        enrolments.c.child_id == enrolment.child_id, enrolments.c.service_id == enrolment.service_id,
        enrolments.c.first <= last, enrolments.c.last >= first)).first()
    if overlapping:
        raise Problem(409, "Cet enfant est déjà inscrit à ce service sur une partie de cette période.")
    row = {"id": str(uuid.uuid4()), "commune": commune, "family_id": child["family_id"], "child_id": child["child_id"],
           "service_id": enrolment.service_id, "first": first, "last": last,
           "fixed_weekdays": sorted(enrolment.fixed_weekdays), "created_by": caller.sub, "created_at": now,
           "updated_at": now}
    session.execute(enrolments.insert().values(**row))
    audit.record(session, commune, caller, "enrolment.created", enrolment_id=row["id"], child_id=row["child_id"],
                 service_id=row["service_id"], first=first, last=last, fixed_weekdays=row["fixed_weekdays"])
    booked = _book_fixed_days(session, caller, commune, child["family_id"], enrolment,
                              body.get("prestation_ids"), now) if enrolment.fixed_weekdays else []
    return {**enrolment_view(row), "bookings": booked}


def _book_fixed_days(session: Session, caller: Caller, commune: str, family_id: str, enrolment: Enrolment,
                     prestation_ids: list[str] | None, now: dt.datetime) -> list[dict]:
    query = sa.select(prestations.c.id).where(prestations.c.service_id == enrolment.service_id)
    if prestation_ids:
        query = query.where(prestations.c.id.in_(prestation_ids))
    ids = list(session.execute(query.order_by(prestations.c.id)).scalars())
    if prestation_ids and len(ids) != len(set(prestation_ids)):
        raise Problem(422, "Une des prestations choisies n'appartient pas à ce service.")
    found = store.prestations_by_id(session, ids, commune)
    calendar = store.calendar(session, commune)
    lines = []
    for prestation_id in ids:
        _, prestation = found[prestation_id]
        try:
            plan = fixed_days_plan(enrolment, prestation, calendar, {}, now)
        except ValueError as exc:
            raise Problem(422, str(exc)) from None
        lines.extend(plan.lines)
    if not lines:
        return []
    result, _, _ = carts.run_checkout(session, Cart(str(uuid.uuid4()), caller.sub, lines=tuple(lines)),
                                      family_id, commune, now, by="agent")
    summary: dict[tuple[str, str], int] = {}
    for outcome in result.cart.outcomes:
        key = (outcome.line.prestation_id, outcome.status.code if outcome.status is not LineStatus.REFUSED
               else f"refused:{outcome.reason.code}")
        summary[key] = summary.get(key, 0) + 1
    audit.record(session, commune, caller, "enrolment.fixed_days_booked", child_id=enrolment.child_id,
                 service_id=enrolment.service_id, outcomes={f"{p} {s}": n for (p, s), n in summary.items()})
    return [{"prestation_id": p, "outcome": s, "count": n} for (p, s), n in sorted(summary.items())]


def delete_enrolment(session: Session, caller: Caller, enrolment_id: str) -> None:
    """End an enrolment entered by mistake. Existing bookings stay (cancel them through the
    cancellation desk if needed)."""
    commune = access.agent_commune(session, caller)
    deleted = session.execute(enrolments.delete().where(enrolments.c.id == enrolment_id,
                                                        enrolments.c.commune == commune))
    if deleted.rowcount == 0:
        raise Problem(404, "Cette inscription est introuvable.")
    audit.record(session, commune, caller, "enrolment.deleted", enrolment_id=enrolment_id)
