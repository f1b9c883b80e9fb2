"""The commune's catalogue of requests, managed by its agents: document types, categories
(thématiques) with their forms and required documents, reply templates, and the documents
required before a child's enrolment in a service."""
from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit.problems import Problem
from servicekit.tokens import Caller
from servicekit.types import isoformat_utc, utcnow

from demandes import access
from demandes.domain import effects, forms
from demandes.domain.documents import DocumentType, check_document_type
from demandes.domain.forms import FormError, clean_text
from demandes.models import categories, document_types, enrolment_requirements, reply_templates

CATEGORY_NOT_FOUND = "Cette thématique est introuvable."
TEMPLATE_NOT_FOUND = "Ce modèle de réponse est introuvable."


# --- document types ----------------------------------------------------------------------------
def type_view(row) -> dict:
    doc_type = to_document_type(row)
    return {"code": row["code"], "label": row["label"], "formats": list(row["formats"]), "max_bytes": row["max_bytes"],
            "validity": row["validity"], "per_child": row["per_child"], "formats_label": doc_type.formats_label()}


def to_document_type(row) -> DocumentType:
    return DocumentType(code=row["code"], label=row["label"], formats=tuple(row["formats"]),
                        max_bytes=row["max_bytes"], validity=row["validity"], per_child=row["per_child"])


def types_of(session: Session, commune: str, codes: list[str] | None = None) -> dict[str, DocumentType]:
    query = sa.select(document_types).where(document_types.c.commune == commune)
    if codes is not None:
        query = query.where(document_types.c.code.in_(codes))
    return {r["code"]: to_document_type(r) for r in session.execute(query).mappings()}


def list_document_types(session: Session, commune: str) -> dict:
    rows = session.execute(sa.select(document_types).where(document_types.c.commune == commune)
                           .order_by(document_types.c.label)).mappings()
    return {"items": [type_view(r) for r in rows]}


def agent_list_document_types(session: Session, caller: Caller) -> dict:
    return list_document_types(session, access.agent_commune(session, caller))


def put_document_type(session: Session, caller: Caller, code: str, body: dict, hard_cap: int) -> dict:
    commune = access.agent_commune(session, caller)
    values = check_document_type({**body, "code": code}, hard_cap)
    now = utcnow()
    exists = session.execute(sa.select(document_types.c.code).where(
        document_types.c.commune == commune, document_types.c.code == code)).first()
    if exists:
        session.execute(document_types.update().where(document_types.c.commune == commune,
                                                      document_types.c.code == code)
                        .values(**{k: v for k, v in values.items() if k != "code"}, updated_at=now))
    else:
        session.execute(document_types.insert().values(commune=commune, **values, created_at=now, updated_at=now))
    row = session.execute(sa.select(document_types).where(document_types.c.commune == commune,
                                                          document_types.c.code == code)).mappings().one()
    return type_view(row)


# --- categories ---------------------------------------------------------------------------------
def category_view(row, types: dict[str, DocumentType] | None = None) -> dict:
    docs = []
    for item in row["documents"]:
        doc_type = (types or {}).get(item["doc_type"])
        docs.append({"doc_type": item["doc_type"], "required": item["required"],
                     "label": doc_type.label if doc_type else item["doc_type"],
                     "formats": list(doc_type.formats) if doc_type else [],
                     "max_bytes": doc_type.max_bytes if doc_type else None,
                     "validity": doc_type.validity if doc_type else None})
    return {"id": row["id"], "commune": row["commune"], "code": row["code"], "label": row["label"],
            "description": row["description"], "template": row["template"], "fields": row["fields"],
            "documents": docs, "effect": row["effect"], "active": row["active"], "position": row["position"],
            "updated_at": isoformat_utc(row["updated_at"])}


def _check_category(session: Session, commune: str, body: dict) -> dict:
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    try:
        values["label"] = clean_text(body.get("label"), 200)
        if not values["label"]:
            errors["label"] = "Le libellé est obligatoire."
        values["description"] = clean_text(body.get("description"), 2000, multiline=True)
    except ValueError as exc:
        errors["label"] = str(exc)
    try:
        values["template"] = forms.check_template(body.get("template"))
        values["fields"] = forms.check_fields(body.get("fields", []))
        values["effect"] = effects.check_effect(body.get("effect"), values["fields"])
    except FormError as exc:
        errors.update(exc.errors)
    docs = body.get("documents", [])
    known = types_of(session, commune)
    cleaned_docs, seen = [], set()
    for index, item in enumerate(docs if isinstance(docs, list) else [None]):
        code = item.get("doc_type") if isinstance(item, dict) else None
        if code not in known:
            errors[f"documents[{index}]"] = "Type de document inconnu dans cette commune."
        elif code in seen:
            errors[f"documents[{index}]"] = "Ce type de document est déjà demandé."
        else:
            seen.add(code)
            cleaned_docs.append({"doc_type": code, "required": bool(item.get("required", True))})
    values["documents"] = cleaned_docs
    if errors:
        raise FormError(errors, "La thématique contient des erreurs.")
    values["active"] = bool(body.get("active", True))
    values["position"] = int(body.get("position", 0))
    return values


def _category_row(session: Session, commune: str, category_id: str):
    row = session.execute(sa.select(categories).where(categories.c.id == category_id,
                                                      categories.c.commune == commune)).mappings().first()
    if row is None:
        raise Problem(404, CATEGORY_NOT_FOUND)
    return row


def create_category(session: Session, caller: Caller, body: dict) -> dict:
    commune = access.agent_commune(session, caller)
    code = body.get("code")
    if not isinstance(code, str) or not forms._KEY.match(code):
        raise FormError({"code": "Identifiant invalide : lettres minuscules, chiffres et « _ »."})
    values = _check_category(session, commune, body)
    if session.execute(sa.select(categories.c.id).where(categories.c.commune == commune,
                                                        categories.c.code == code)).first():
        raise Problem(409, "Une thématique de cette commune a déjà cet identifiant.")
    category_id = str(uuid.uuid4())
    now = utcnow()
    session.execute(categories.insert().values(id=category_id, commune=commune, code=code, **values,
                                               created_at=now, updated_at=now))
    return category_view(_category_row(session, commune, category_id), types_of(session, commune))


def update_category(session: Session, caller: Caller, category_id: str, body: dict) -> dict:
    commune = access.agent_commune(session, caller)
    _category_row(session, commune, category_id)
    values = _check_category(session, commune, body)
    session.execute(categories.update().where(categories.c.id == category_id).values(**values, updated_at=utcnow()))
    return category_view(_category_row(session, commune, category_id), types_of(session, commune))


def agent_get_category(session: Session, caller: Caller, category_id: str) -> dict:
    commune = access.agent_commune(session, caller)
    return category_view(_category_row(session, commune, category_id), types_of(session, commune))


def agent_list_categories(session: Session, caller: Caller) -> dict:
    commune = access.agent_commune(session, caller)
    return {"items": _list(session, commune, active_only=False)}


def _list(session: Session, commune: str, active_only: bool) -> list[dict]:
    query = sa.select(categories).where(categories.c.commune == commune)
    if active_only:
        query = query.where(categories.c.active.is_(True))
    types = types_of(session, commune)
    return [category_view(r, types) for r in
            session.execute(query.order_by(categories.c.position, categories.c.label)).mappings()]


def parent_list_categories(session: Session, caller: Caller, commune: str | None) -> dict:
    family_id = access.parent_family(caller)
    communes = [access.parent_commune(session, family_id, commune)] if commune else access.family_communes(
        session, family_id)
    return {"items": [c for slug in communes for c in _list(session, slug, active_only=True)],
            "children": access.family_children(session, family_id)}


def parent_list_document_types(session: Session, caller: Caller, commune: str) -> dict:
    family_id = access.parent_family(caller)
    return list_document_types(session, access.parent_commune(session, family_id, commune))


# --- reply templates ------------------------------------------------------------------------------
def _template_values(body: dict) -> dict:
    errors = {}
    try:
        label = clean_text(body.get("label"), 200)
    except ValueError as exc:
        label, errors["label"] = None, str(exc)
    try:
        text = clean_text(body.get("body"), forms.TEXTAREA_MAX, multiline=True)
    except ValueError as exc:
        text, errors["body"] = None, str(exc)
    if not label and "label" not in errors:
        errors["label"] = "Le libellé est obligatoire."
    if not text and "body" not in errors:
        errors["body"] = "Le texte du modèle est obligatoire."
    if errors:
        raise FormError(errors, "Le modèle de réponse contient des erreurs.")
    return {"label": label, "body": text}


def template_view(row) -> dict:
    return {"id": row["id"], "label": row["label"], "body": row["body"], "updated_at": isoformat_utc(row["updated_at"])}


def list_reply_templates(session: Session, caller: Caller) -> dict:
    commune = access.agent_commune(session, caller)
    rows = session.execute(sa.select(reply_templates).where(reply_templates.c.commune == commune)
                           .order_by(reply_templates.c.label)).mappings()
    return {"items": [template_view(r) for r in rows]}


def reply_template(session: Session, commune: str, template_id: str):
    row = session.execute(sa.select(reply_templates).where(reply_templates.c.id == template_id,
                                                           reply_templates.c.commune == commune)).mappings().first()
    if row is None:
        raise Problem(404, TEMPLATE_NOT_FOUND)
    return row


def create_reply_template(session: Session, caller: Caller, body: dict) -> dict:
    commune = access.agent_commune(session, caller)
    template_id, now = str(uuid.uuid4()), utcnow()
    session.execute(reply_templates.insert().values(id=template_id, commune=commune, **_template_values(body),
                                                    created_at=now, updated_at=now))
    return template_view(reply_template(session, commune, template_id))


def update_reply_template(session: Session, caller: Caller, template_id: str, body: dict) -> dict:
    commune = access.agent_commune(session, caller)
    reply_template(session, commune, template_id)
    session.execute(reply_templates.update().where(reply_templates.c.id == template_id)
                    .values(**_template_values(body), updated_at=utcnow()))
    return template_view(reply_template(session, commune, template_id))


def delete_reply_template(session: Session, caller: Caller, template_id: str) -> None:
    commune = access.agent_commune(session, caller)
    reply_template(session, commune, template_id)
    session.execute(reply_templates.delete().where(reply_templates.c.id == template_id))


# --- documents required before an enrolment ------------------------------------------------------
def get_enrolment_requirements(session: Session, caller: Caller, service_id: str) -> dict:
    commune = access.agent_commune(session, caller)
    return _requirements_view(session, commune, service_id)


def _requirements_view(session: Session, commune: str, service_id: str) -> dict:
    codes = required_for_enrolment(session, commune, service_id)
    types = types_of(session, commune, codes)
    return {"service_id": service_id, "documents": [{"doc_type": c, "label": types[c].label if c in types else c}
                                                    for c in codes]}


def required_for_enrolment(session: Session, commune: str, service_id: str) -> list[str]:
    return list(session.execute(sa.select(enrolment_requirements.c.doc_type).where(
        enrolment_requirements.c.commune == commune, enrolment_requirements.c.service_id == service_id)
        .order_by(enrolment_requirements.c.doc_type)).scalars())


def put_enrolment_requirements(session: Session, caller: Caller, service_id: str, body: dict) -> dict:
    commune = access.agent_commune(session, caller)
    codes = body.get("doc_types") or []
    known = types_of(session, commune)
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise FormError({"doc_types": f"Types de document inconnus dans cette commune : {', '.join(unknown)}."})
    session.execute(enrolment_requirements.delete().where(enrolment_requirements.c.commune == commune,
                                                          enrolment_requirements.c.service_id == service_id))
    for code in sorted(set(codes)):
        session.execute(enrolment_requirements.insert().values(commune=commune, service_id=service_id, doc_type=code))
    return _requirements_view(session, commune, service_id)
