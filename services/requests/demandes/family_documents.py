"""The family's documents: uploads (checked, scanned, stored), the list to reuse one ("Ajouter un
fichier existant"), removal, and the file itself for the family and the commune's agents.

An upload goes in three steps so that nothing is kept on any refusal: `upload_context` (who,
which commune and document type: a read), `inspect` (names, content, virus scan: no database,
no disk), then the files are written and `record` inserts their rows in one transaction (the
API deletes the written files if that transaction fails).
"""
from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

import magic
import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit.problems import Problem
from servicekit.tokens import Caller
from servicekit.types import isoformat_utc, utcnow

from demandes import access, catalogue
from demandes.domain import documents as rules
from demandes.domain.documents import DocumentRefused, DocumentType
from demandes.models import documents, request_documents, requests
from demandes.scanner import Clamd, ScannerUnavailable

PARIS = ZoneInfo("Europe/Paris")
MAX_DOCUMENTS_PER_FAMILY = 200
DOCUMENT_NOT_FOUND = "Ce document est introuvable."
SCANNER_DOWN = ("L'analyse antivirus est momentanément indisponible : votre fichier n'a pas été enregistré. "
                "Réessayez dans quelques minutes.")


@dataclass(frozen=True)
class UploadContext:
    family_id: str
    commune: str
    doc_type: DocumentType
    child_id: str | None
    held: int           # documents the family already keeps in this commune


@dataclass(frozen=True)
class Incoming:
    name: str | None
    content: bytes


@dataclass(frozen=True)
class Prepared:
    name: str
    format: str
    content: bytes
    sha256: str


def upload_context(session: Session, caller: Caller, commune: str, doc_type: str,
                   child_id: str | None = None) -> UploadContext:
    family_id = access.parent_family(caller)
    access.parent_commune(session, family_id, commune)
    found = catalogue.types_of(session, commune, [doc_type]).get(doc_type)
    if found is None:
        raise Problem(422, "Ce type de document n'existe pas dans votre commune.")
    if child_id:
        access.own_child(session, family_id, child_id)
    elif found.per_child:
        raise Problem(422, f"Indiquez l'enfant concerné par « {found.label} ».")
    held = session.execute(sa.select(sa.func.count()).select_from(documents).where(
        documents.c.family_id == family_id, documents.c.commune == commune, documents.c.deleted_at.is_(None))).scalar()
    return UploadContext(family_id, commune, found, child_id, held)


def detect_media_type(content: bytes) -> str:
    return magic.from_buffer(content, mime=True)


def inspect(incoming: list[Incoming], ctx: UploadContext, issued_on: date | None, today: date,
            scanner: Clamd | None, hard_cap: int) -> tuple[list[Prepared], date]:
    """The files, checked one by one, then scanned; DocumentRefused on the first refusal.
    `hard_cap` (REQUESTS_MAX_FILE_BYTES) bounds every type's own maximum size."""
    if not incoming:
        raise DocumentRefused("Aucun fichier reçu : choisissez un fichier.")
    if len(incoming) > rules.MAX_FILES_PER_UPLOAD:
        raise DocumentRefused(f"Trop de fichiers : {rules.MAX_FILES_PER_UPLOAD} au plus à la fois.", 413)
    if ctx.held + len(incoming) > MAX_DOCUMENTS_PER_FAMILY:
        raise DocumentRefused(f"Votre espace documents est plein ({MAX_DOCUMENTS_PER_FAMILY} documents) : "
                              "supprimez des documents qui ne servent plus.", 413)
    issued_on = rules.check_issued_on(ctx.doc_type, issued_on, today)
    doc_type = replace(ctx.doc_type, max_bytes=min(ctx.doc_type.max_bytes, hard_cap))
    prepared = []
    for item in incoming:
        name = rules.clean_filename(item.name)
        found = rules.check_content(name, item.content, detect_media_type(item.content), doc_type)
        prepared.append(Prepared(name, found, item.content, hashlib.sha256(item.content).hexdigest()))
    if scanner is not None:
        for item in prepared:
            try:
                verdict = scanner.scan(item.content)
            except ScannerUnavailable:
                raise DocumentRefused(SCANNER_DOWN, 503) from None
            if not verdict.clean:
                raise DocumentRefused(f"« {item.name} » contient un virus ({verdict.signature}) : il a été refusé "
                                      "et n'a pas été enregistré.")
    return prepared, issued_on


def record(session: Session, caller: Caller, ctx: UploadContext, prepared: list[Prepared], keys: list[str],
           issued_on: date) -> list[dict]:
    now = utcnow()
    expires = rules.expires_on(ctx.doc_type.validity, issued_on)
    ids = []
    for item, key in zip(prepared, keys):
        document_id = str(uuid.uuid4())
        session.execute(documents.insert().values(
            id=document_id, family_id=ctx.family_id, commune=ctx.commune, doc_type=ctx.doc_type.code,
            child_id=ctx.child_id, name=item.name, format=item.format, size=len(item.content), sha256=item.sha256,
            storage_key=key, issued_on=issued_on, expires_on=expires, uploaded_by=caller.sub, uploaded_at=now))
        ids.append(document_id)
    rows = session.execute(sa.select(documents).where(documents.c.id.in_(ids))).mappings()
    types = {ctx.doc_type.code: ctx.doc_type}
    by_id = {r["id"]: r for r in rows}
    return [document_view(by_id[i], types, now.date()) for i in ids]


def document_view(row, types: dict[str, DocumentType], today: date) -> dict:
    doc_type = types.get(row["doc_type"])
    return {"id": row["id"], "name": row["name"], "doc_type": row["doc_type"],
            "doc_type_label": doc_type.label if doc_type else row["doc_type"], "format": row["format"],
            "size": row["size"], "child_id": row["child_id"], "issued_on": row["issued_on"].isoformat(),
            "expires_on": row["expires_on"].isoformat() if row["expires_on"] else None,
            "valid": row["expires_on"] is None or row["expires_on"] >= today,
            "uploaded_at": isoformat_utc(row["uploaded_at"]), "content_path": f"/internal/documents/{row['id']}/content"}


def paris_today(now: datetime | None = None) -> date:
    """Validity is counted in days of the commune's calendar (Europe/Paris)."""
    return (now or utcnow()).astimezone(PARIS).date()


def list_family_documents(session: Session, caller: Caller, commune: str, doc_type: str | None = None,
                          valid_only: bool = False) -> dict:
    family_id = access.parent_family(caller)
    access.parent_commune(session, family_id, commune)
    query = sa.select(documents).where(documents.c.family_id == family_id, documents.c.commune == commune,
                                       documents.c.deleted_at.is_(None))
    if doc_type:
        query = query.where(documents.c.doc_type == doc_type)
    today = paris_today()
    if valid_only:
        query = query.where(sa.or_(documents.c.expires_on.is_(None), documents.c.expires_on >= today))
    types = catalogue.types_of(session, commune)
    rows = session.execute(query.order_by(documents.c.uploaded_at.desc())).mappings()
    return {"items": [document_view(r, types, today) for r in rows]}


def agent_list_documents(session: Session, caller: Caller, family_id: str, doc_type: str | None = None,
                         child_id: str | None = None) -> dict:
    """A family's documents in the agent's commune (its dossier), those the family removed
    after sending them included (`removed`)."""
    commune = access.agent_commune(session, caller)
    if not access.family_in_commune(session, family_id, commune):
        raise Problem(404, "Cette famille est introuvable dans votre commune.")
    query = sa.select(documents).where(documents.c.family_id == family_id, documents.c.commune == commune)
    if doc_type:
        query = query.where(documents.c.doc_type == doc_type)
    if child_id:
        query = query.where(documents.c.child_id == child_id)
    today = paris_today()
    types = catalogue.types_of(session, commune)
    rows = session.execute(query.order_by(documents.c.uploaded_at.desc())).mappings()
    return {"items": [{**document_view(r, types, today), "removed": r["deleted_at"] is not None} for r in rows]}


def own_document(session: Session, family_id: str, document_id: str):
    row = session.execute(sa.select(documents).where(documents.c.id == document_id,
                                                     documents.c.family_id == family_id,
                                                     documents.c.deleted_at.is_(None))).mappings().first()
    if row is None:
        raise Problem(404, DOCUMENT_NOT_FOUND)
    return row


def delete_family_document(session: Session, caller: Caller, document_id: str) -> str | None:
    """Take a document out of the family's space. Kept (hidden) while a sent request uses it,
    for the commune's record; otherwise deleted. Returns the storage key to delete, if any."""
    family_id = access.parent_family(caller)
    row = own_document(session, family_id, document_id)
    used_by_sent = session.execute(
        sa.select(request_documents.c.request_id).join(requests, requests.c.id == request_documents.c.request_id)
        .where(request_documents.c.document_id == document_id, requests.c.status != "brouillon")).first()
    session.execute(request_documents.delete().where(request_documents.c.document_id == document_id))
    if used_by_sent:
        session.execute(documents.update().where(documents.c.id == document_id).values(deleted_at=utcnow()))
        return None
    session.execute(documents.delete().where(documents.c.id == document_id))
    return row["storage_key"]


def content_of(session: Session, caller: Caller, document_id: str) -> tuple[str, str, str]:
    """(storage key, media type, name) of a document the caller may read: the family's own
    (not removed), or any document of the agent's commune."""
    if caller.role in access.AGENT_ROLES:
        commune = access.agent_commune(session, caller)
        row = session.execute(sa.select(documents).where(documents.c.id == document_id,
                                                         documents.c.commune == commune)).mappings().first()
        if row is None:
            raise Problem(404, DOCUMENT_NOT_FOUND)
    else:
        row = own_document(session, access.parent_family(caller), document_id)
    return row["storage_key"], rules.FORMATS[row["format"]][0], row["name"]
