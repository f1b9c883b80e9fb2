"""A request's life: the family drafts, completes and sends it; the commune's agents take it in
hand and accept or refuse it. Every move is kept in the request's history and announced
(`request.status_changed.v1`); an accepted request whose category has an effect also announces
that effect, in the same transaction (so exactly once per request).
"""
from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from contracts import requests as events
from servicekit.messaging.outbox import add_event
from servicekit import csvexport
from servicekit.problems import Problem
from servicekit.tokens import Caller
from servicekit.types import isoformat_utc, utcnow

from demandes import access, catalogue
from demandes.domain import effects, forms, states
from demandes.domain.documents import HeldDocument, missing_documents
from demandes.domain.forms import FormError
from demandes.domain.states import IllegalTransition
from demandes.family_documents import document_view, paris_today
from demandes.models import (categories, documents, families, request_counters, request_documents,
                             request_history, requests)

SOURCE = "requests"
PARIS = ZoneInfo("Europe/Paris")
REQUEST_NOT_FOUND = "Cette demande est introuvable."
MAX_ATTACHMENTS = 10
MAX_BULK = 100


# --- reading ------------------------------------------------------------------------------------
def _summary(row, category_label: str, family_name: str | None = None) -> dict:
    out = {"id": row["id"], "reference": row["reference"], "commune": row["commune"],
           "category_id": row["category_id"], "category_label": category_label, "status": row["status"],
           "status_label": states.LABELS[row["status"]], "created_at": isoformat_utc(row["created_at"]),
           "updated_at": isoformat_utc(row["updated_at"]), "submitted_at": isoformat_utc(row["submitted_at"]),
           "decided_at": isoformat_utc(row["decided_at"])}
    if family_name is not None or "family_name" in row:
        out["family_id"] = row["family_id"]
        out["family_name"] = family_name if family_name is not None else row.get("family_name")
    return out


def _detail(session: Session, row, agent_view: bool) -> dict:
    category = session.execute(sa.select(categories).where(categories.c.id == row["category_id"])).mappings().one()
    types = catalogue.types_of(session, row["commune"])
    history = session.execute(sa.select(request_history).where(request_history.c.request_id == row["id"])
                              .order_by(request_history.c.id)).mappings()
    attached = session.execute(sa.select(documents).join(request_documents,
                                                         request_documents.c.document_id == documents.c.id)
                               .where(request_documents.c.request_id == row["id"])
                               .order_by(request_documents.c.attached_at)).mappings()
    today = paris_today()
    family_name = None
    if agent_view:
        family_name = session.execute(sa.select(families.c.family_name).where(
            families.c.family_id == row["family_id"], families.c.commune == row["commune"])).scalar() or ""
    return {**_summary(row, category["label"], family_name),
            "data": row["data"], "text": row["text"], "decision_message": row["decision_message"],
            "category": catalogue.category_view(category, types),
            "documents": [document_view(d, types, today) for d in attached],
            "history": [{"at": isoformat_utc(h["at"]), "from_status": h["from_status"], "to_status": h["to_status"],
                         "status_label": states.LABELS[h["to_status"]], "by": h["actor_role"], "message": h["message"]}
                        for h in history]}


def _own_request(session: Session, family_id: str, request_id: str, *, lock: bool = False):
    query = sa.select(requests).where(requests.c.id == request_id, requests.c.family_id == family_id)
    row = session.execute(query.with_for_update() if lock else query).mappings().first()
    if row is None:
        raise Problem(404, REQUEST_NOT_FOUND)
    return row


def _commune_request(session: Session, commune: str, request_id: str, *, lock: bool = False):
    query = sa.select(requests).where(requests.c.id == request_id, requests.c.commune == commune,
                                      requests.c.status != states.DRAFT)
    row = session.execute(query.with_for_update() if lock else query).mappings().first()
    if row is None:
        raise Problem(404, REQUEST_NOT_FOUND)
    return row


def list_my_requests(session: Session, caller: Caller, status: str | None = None, page: int = 1,
                     per_page: int = 25) -> dict:
    family_id = access.parent_family(caller)
    where = [requests.c.family_id == family_id]
    if status:
        where.append(requests.c.status == status)
    return _page(session, where, page, per_page, agent_view=False)


def _page(session: Session, where: list, page: int, per_page: int, agent_view: bool) -> dict:
    total = session.execute(sa.select(sa.func.count()).select_from(requests).where(*where)).scalar()
    columns = [requests, categories.c.label.label("category_label")]
    query = sa.select(*columns).join(categories, categories.c.id == requests.c.category_id).where(*where)
    if agent_view:
        query = query.add_columns(families.c.family_name).outerjoin(
            families, sa.and_(families.c.family_id == requests.c.family_id, families.c.commune == requests.c.commune))
        order = (requests.c.submitted_at.asc(), requests.c.id)
    else:
        order = (requests.c.updated_at.desc(), requests.c.id)
    rows = session.execute(query.order_by(*order).limit(per_page).offset((page - 1) * per_page)).mappings()
    items = [_summary(r, r["category_label"], (r["family_name"] or "") if agent_view else None) for r in rows]
    return {"items": items, "total": total, "page": page, "per_page": per_page}


def get_my_request(session: Session, caller: Caller, request_id: str) -> dict:
    return _detail(session, _own_request(session, access.parent_family(caller), request_id), agent_view=False)


def pending_for_family(session: Session, caller: Caller) -> dict:
    """A parent's requests waiting for the commune (sibling portals, through the gateway)."""
    family_id = access.parent_family(caller)
    return _page(session, [requests.c.family_id == family_id, requests.c.status.in_(states.PENDING)], 1, 100,
                 agent_view=False)


# --- the family's drafts -------------------------------------------------------------------------
def _category_for_family(session: Session, family_id: str, category_id: str):
    row = session.execute(sa.select(categories).where(categories.c.id == category_id,
                                                      categories.c.active.is_(True))).mappings().first()
    if row is None or not access.family_in_commune(session, family_id, row["commune"]):
        raise Problem(404, catalogue.CATEGORY_NOT_FOUND)
    return row


def _child_ids(session: Session, family_id: str) -> set[str]:
    return {c["child_id"] for c in access.family_children(session, family_id)}


def create_request(session: Session, caller: Caller, body: dict, link_base: str) -> dict:
    family_id = access.parent_family(caller)
    category = _category_for_family(session, family_id, body.get("category_id"))
    data = forms.check_answers(category["fields"], body.get("data"), _child_ids(session, family_id), complete=False)
    text = forms.check_request_text(body.get("text"))
    request_id, now = str(uuid.uuid4()), utcnow()
    session.execute(requests.insert().values(
        id=request_id, commune=category["commune"], family_id=family_id, category_id=category["id"],
        status=states.DRAFT, data=data, text=text, created_by=caller.sub, created_at=now, updated_at=now))
    _history(session, request_id, caller, None, states.DRAFT, None, now)
    for document_id in body.get("document_ids") or []:
        _attach(session, family_id, category["commune"], request_id, document_id, now)
    if body.get("submit"):
        return submit_request(session, caller, request_id, link_base)
    return get_my_request(session, caller, request_id)


def update_draft(session: Session, caller: Caller, request_id: str, body: dict) -> dict:
    family_id = access.parent_family(caller)
    row = _own_draft(session, family_id, request_id)
    category = session.execute(sa.select(categories).where(categories.c.id == row["category_id"])).mappings().one()
    changes: dict[str, Any] = {"updated_at": utcnow()}
    if "data" in body:
        changes["data"] = forms.check_answers(category["fields"], body["data"], _child_ids(session, family_id),
                                              complete=False)
    if "text" in body:
        changes["text"] = forms.check_request_text(body["text"])
    session.execute(requests.update().where(requests.c.id == request_id).values(**changes))
    if "document_ids" in body:
        session.execute(request_documents.delete().where(request_documents.c.request_id == request_id))
        for document_id in body["document_ids"] or []:
            _attach(session, family_id, row["commune"], request_id, document_id, changes["updated_at"])
    return get_my_request(session, caller, request_id)


def _own_draft(session: Session, family_id: str, request_id: str):
    row = _own_request(session, family_id, request_id, lock=True)
    if row["status"] != states.DRAFT:
        raise Problem(409, "Cette demande a été envoyée : elle ne peut plus être modifiée.")
    return row


def _attach(session: Session, family_id: str, commune: str, request_id: str, document_id: Any,
            now: datetime) -> None:
    if not isinstance(document_id, str):
        raise FormError({"document_ids": "Identifiant de document invalide."})
    doc = session.execute(sa.select(documents.c.commune).where(
        documents.c.id == document_id, documents.c.family_id == family_id,
        documents.c.deleted_at.is_(None))).first()
    if doc is None or doc.commune != commune:
        raise Problem(404, "Ce document est introuvable dans vos documents pour cette commune.")
    count = session.execute(sa.select(sa.func.count()).select_from(request_documents)
                            .where(request_documents.c.request_id == request_id)).scalar()
    already = session.execute(sa.select(request_documents.c.document_id).where(
        request_documents.c.request_id == request_id, request_documents.c.document_id == document_id)).first()
    if already:
        return
    if count >= MAX_ATTACHMENTS:
        raise Problem(413, f"Trop de fichiers : une demande a {MAX_ATTACHMENTS} pièces jointes au plus.")
    session.execute(request_documents.insert().values(request_id=request_id, document_id=document_id,
                                                      attached_at=now))


def detach_document(session: Session, caller: Caller, request_id: str, document_id: str) -> dict:
    family_id = access.parent_family(caller)
    _own_draft(session, family_id, request_id)
    session.execute(request_documents.delete().where(request_documents.c.request_id == request_id,
                                                     request_documents.c.document_id == document_id))
    session.execute(requests.update().where(requests.c.id == request_id).values(updated_at=utcnow()))
    return get_my_request(session, caller, request_id)


def draft_upload_room(session: Session, caller: Caller, request_id: str, files: int) -> str:
    """The commune of one of the parent's drafts (files uploaded onto it go there), once it is
    known to have room for `files` more attachments."""
    row = _own_draft(session, access.parent_family(caller), request_id)
    count = session.execute(sa.select(sa.func.count()).select_from(request_documents)
                            .where(request_documents.c.request_id == request_id)).scalar()
    if count + files > MAX_ATTACHMENTS:
        raise Problem(413, f"Trop de fichiers : une demande a {MAX_ATTACHMENTS} pièces jointes au plus.")
    return row["commune"]


def attach_documents(session: Session, caller: Caller, request_id: str, document_ids: list[str]) -> dict:
    family_id = access.parent_family(caller)
    row = _own_draft(session, family_id, request_id)
    now = utcnow()
    for document_id in document_ids:
        _attach(session, family_id, row["commune"], request_id, document_id, now)
    session.execute(requests.update().where(requests.c.id == request_id).values(updated_at=now))
    return get_my_request(session, caller, request_id)


def attach_document(session: Session, caller: Caller, request_id: str, document_id: str) -> dict:
    return attach_documents(session, caller, request_id, [document_id])


def delete_draft(session: Session, caller: Caller, request_id: str) -> None:
    _own_draft(session, access.parent_family(caller), request_id)
    session.execute(requests.delete().where(requests.c.id == request_id))


def submit_request(session: Session, caller: Caller, request_id: str, link_base: str) -> dict:
    family_id = access.parent_family(caller)
    row = _own_request(session, family_id, request_id, lock=True)
    states.check_move(row["status"], states.SENT, "parent")
    category = session.execute(sa.select(categories).where(categories.c.id == row["category_id"])).mappings().one()
    data = forms.check_answers(category["fields"], row["data"], _child_ids(session, family_id), complete=True)
    effects.check_submission(category["effect"], data)
    if category["template"] and not row["text"]:
        raise FormError({"text": "Complétez le texte de la demande."})
    _check_documents(session, row, category, data)
    now = utcnow()
    reference = _next_reference(session, row["commune"], now)
    session.execute(requests.update().where(requests.c.id == request_id).values(
        status=states.SENT, data=data, reference=reference, submitted_at=now, updated_at=now))
    _history(session, request_id, caller, states.DRAFT, states.SENT, None, now)
    _announce(session, request_id, states.DRAFT, None, "parent", now, link_base)
    return get_my_request(session, caller, request_id)


def _check_documents(session: Session, row, category, data: dict) -> None:
    required_codes = [d["doc_type"] for d in category["documents"] if d["required"]]
    if not required_codes:
        return
    types = catalogue.types_of(session, row["commune"], required_codes)
    held = [HeldDocument(d.id, d.doc_type, d.child_id, d.expires_on) for d in session.execute(
        sa.select(documents.c.id, documents.c.doc_type, documents.c.child_id, documents.c.expires_on)
        .join(request_documents, request_documents.c.document_id == documents.c.id)
        .where(request_documents.c.request_id == row["id"]))]
    missing = missing_documents([types[c] for c in required_codes if c in types], held, paris_today(),
                                data.get("child"))
    if missing:
        raise FormError({f"documents.{m['doc_type']}": m["message"] for m in missing},
                        "Des pièces justificatives manquent : ajoutez-les avant d'envoyer la demande.")


def _next_reference(session: Session, commune: str, now: datetime) -> str:
    year = now.astimezone(PARIS).year
    updated = session.execute(request_counters.update().where(
        request_counters.c.commune == commune, request_counters.c.year == year)
        .values(last=request_counters.c.last + 1).returning(request_counters.c.last)).scalar()
    if updated is None:
        try:
            with session.begin_nested():
                session.execute(request_counters.insert().values(commune=commune, year=year, last=1))
            updated = 1
        except sa.exc.IntegrityError:  # another first request of the year won the insert
            updated = session.execute(request_counters.update().where(
                request_counters.c.commune == commune, request_counters.c.year == year)
                .values(last=request_counters.c.last + 1).returning(request_counters.c.last)).scalar()
    return f"D-{year}-{updated:05d}"  # unique per commune (uq_requests_commune_reference)


def _history(session: Session, request_id: str, caller: Caller, old: str | None, new: str, message: str | None,
             now: datetime) -> None:
    session.execute(request_history.insert().values(request_id=request_id, at=now, actor=caller.sub,
                                                    actor_role=caller.role, from_status=old, to_status=new,
                                                    message=message))


def _announce(session: Session, request_id: str, old: str, message: str | None, role: str, now: datetime,
              link_base: str) -> None:
    row = session.execute(sa.select(requests, categories.c.code.label("category_code"),
                                    categories.c.label.label("category_label"), categories.c.effect)
                          .join(categories, categories.c.id == requests.c.category_id)
                          .where(requests.c.id == request_id)).mappings().one()
    add_event(session, SOURCE, events.RequestStatusChanged(
        request_id=row["id"], reference=row["reference"], family_id=row["family_id"], commune=row["commune"],
        category_code=row["category_code"], category_label=row["category_label"], requested_by=row["created_by"],
        old_status=old, new_status=row["status"], status_label=states.LABELS[row["status"]], message=message,
        changed_by_role=role if role in ("parent", "agent", "admin", "system") else "system", changed_at=now,
        link=f"{link_base.rstrip('/')}/demandes/{row['id']}"))
    if row["status"] == states.ACCEPTED:
        _announce_effect(session, row, now)


def _announce_effect(session: Session, row, now: datetime) -> None:
    facts = effects.effect_facts(row["effect"], row["data"])
    if facts is None:
        return
    common = {"request_id": row["id"], "family_id": row["family_id"], "commune": row["commune"], "accepted_at": now}
    if row["effect"] == effects.ADDRESS_CHANGE:
        payload = events.AddressChangeAccepted(**common, guardian_sub=row["created_by"], **facts)
    elif row["effect"] == effects.ALTERNATE_ADDRESS:
        payload = events.AddressChangeAccepted(**common, **facts)
    elif row["effect"] == effects.QUOTIENT_UPDATE:
        today = now.astimezone(PARIS).date()
        payload = events.QuotientUpdateAccepted(**common, **facts, valid_from=today, valid_until=date(today.year, 12, 31))
    else:
        payload = events.AbsenceJustificationAccepted(**common, **facts)
    add_event(session, SOURCE, payload)


# --- the commune's agents ------------------------------------------------------------------------
def _queue_filters(commune: str, status=None, category_id=None, family_id=None, submitted_from=None,
                   submitted_to=None, reference=None) -> list:
    where = [requests.c.commune == commune, requests.c.status != states.DRAFT]
    if status:
        where.append(requests.c.status == status)
    if category_id:
        where.append(requests.c.category_id == category_id)
    if family_id:
        where.append(requests.c.family_id == family_id)
    if submitted_from:
        where.append(requests.c.submitted_at >= _paris_midnight(submitted_from))
    if submitted_to:
        where.append(requests.c.submitted_at < _paris_midnight(submitted_to + timedelta(days=1)))
    if reference:
        where.append(requests.c.reference == reference.strip().upper())
    return where


def _paris_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), PARIS)


def agent_queue(session: Session, caller: Caller, page: int = 1, per_page: int = 25, **filters) -> dict:
    commune = access.agent_commune(session, caller)
    return _page(session, _queue_filters(commune, **filters), page, per_page, agent_view=True)


def agent_get_request(session: Session, caller: Caller, request_id: str) -> dict:
    commune = access.agent_commune(session, caller)
    return _detail(session, _commune_request(session, commune, request_id), agent_view=True)


def decide(session: Session, caller: Caller, request_id: str, body: dict, link_base: str) -> dict:
    commune = access.agent_commune(session, caller)
    _decide_one(session, caller, commune, request_id, body, link_base)
    return agent_get_request(session, caller, request_id)


def _decide_one(session: Session, caller: Caller, commune: str, request_id: str, body: dict, link_base: str) -> None:
    row = _commune_request(session, commune, request_id, lock=True)
    target = body.get("status")
    message = body.get("message")
    if not message and body.get("reply_template_id"):
        message = catalogue.reply_template(session, commune, body["reply_template_id"])["body"]
    message = states.check_move(row["status"], target, "agent", message)
    now = utcnow()
    changes = {"status": target, "updated_at": now, "handled_by": caller.sub}
    if target in states.FINAL:
        changes.update(decided_at=now, decision_message=message)
    session.execute(requests.update().where(requests.c.id == request_id).values(**changes))
    _history(session, request_id, caller, row["status"], target, message, now)
    _announce(session, request_id, row["status"], message, caller.role, now, link_base)


def bulk_decide(session: Session, caller: Caller, body: dict, link_base: str) -> dict:
    """The same move for several requests; each succeeds or fails on its own."""
    commune = access.agent_commune(session, caller)
    ids = body.get("request_ids") or []
    if len(ids) > MAX_BULK:
        raise Problem(422, f"{MAX_BULK} demandes au plus à la fois.")
    results = []
    for request_id in dict.fromkeys(ids):
        try:
            with session.begin_nested():
                _decide_one(session, caller, commune, request_id, body, link_base)
            results.append({"id": request_id, "ok": True, "status": body.get("status")})
        except (Problem, IllegalTransition) as exc:
            results.append({"id": request_id, "ok": False,
                            "error": exc.detail if isinstance(exc, Problem) else str(exc)})
    return {"results": results, "done": sum(r["ok"] for r in results)}


CSV_COLUMNS = ("reference", "famille", "thematique", "statut", "envoyee_le", "decidee_le", "message")


def export_csv(session: Session, caller: Caller, **filters) -> str:
    commune = access.agent_commune(session, caller)
    query = (sa.select(requests, categories.c.label.label("category_label"), families.c.family_name)
             .join(categories, categories.c.id == requests.c.category_id)
             .outerjoin(families, sa.and_(families.c.family_id == requests.c.family_id,
                                          families.c.commune == requests.c.commune))
             .where(*_queue_filters(commune, **filters)).order_by(requests.c.submitted_at, requests.c.id))
    return csvexport.csv_text(CSV_COLUMNS, (
        [r["reference"], r["family_name"], r["category_label"], states.LABELS[r["status"]],
         _paris(r["submitted_at"]), _paris(r["decided_at"]), r["decision_message"]]
        for r in session.execute(query).mappings()))


def _paris(moment: datetime | None) -> str:
    return moment.astimezone(PARIS).strftime("%d/%m/%Y %H:%M") if moment else ""


def pending_summary(session: Session, commune: str) -> dict:
    """What waits in a commune: for the agents' dashboard and the daily e-mail."""
    rows = session.execute(
        sa.select(requests.c.status, categories.c.code, categories.c.label, sa.func.count(),
                  sa.func.min(requests.c.submitted_at))
        .join(categories, categories.c.id == requests.c.category_id)
        .where(requests.c.commune == commune, requests.c.status.in_(states.PENDING))
        .group_by(requests.c.status, categories.c.code, categories.c.label)).all()
    by_category: dict[str, dict] = {}
    counts = {states.SENT: 0, states.IN_PROGRESS: 0}
    oldest = None
    for status, code, label, count, first in rows:
        counts[status] += count
        entry = by_category.setdefault(code, {"code": code, "label": label, "count": 0})
        entry["count"] += count
        oldest = first if oldest is None or (first is not None and first < oldest) else oldest
    return {"commune": commune, "pending": counts[states.SENT] + counts[states.IN_PROGRESS],
            "sent": counts[states.SENT], "in_progress": counts[states.IN_PROGRESS],
            "oldest_submitted_at": oldest, "by_category": sorted(by_category.values(), key=lambda c: c["label"])}


def agent_summary(session: Session, caller: Caller) -> dict:
    summary = pending_summary(session, access.agent_commune(session, caller))
    return {**summary, "oldest_submitted_at": isoformat_utc(summary["oldest_submitted_at"])}
