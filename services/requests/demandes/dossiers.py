"""Is a family's dossier complete for a child's enrolment in a service? The commune lists the
document types it requires per (booking) service; a type is satisfied by a valid document of
the family in that commune (about that child, for per-child types)."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit.problems import Problem
from servicekit.tokens import Caller

from demandes import access, catalogue
from demandes.domain.documents import HeldDocument, missing_documents
from demandes.family_documents import paris_today
from demandes.models import documents


def dossier_status(session: Session, caller: Caller, service_id: str, child_id: str,
                   family_id: str | None = None, commune: str | None = None) -> dict:
    if caller.role == "parent":
        own = access.parent_family(caller)
        if family_id not in (None, own) or not commune:
            raise Problem(404, "Ce dossier est introuvable.")
        family_id = access.parent_family(caller)
        access.parent_commune(session, family_id, commune)
    elif caller.role in access.AGENT_ROLES:
        commune = access.agent_commune(session, caller)
    elif caller.role != "system":
        raise Problem(403, "Cette opération est réservée aux familles, aux agents et aux services de la plateforme.")
    if not family_id or not commune:
        raise Problem(404, "Ce dossier est introuvable.")
    # A platform process (booking before an enrolment) may ask about a family this service's
    # projection has not learned yet: it holds no document here, so the answer is still right
    # (complete when the commune requires nothing). People only see their own tenancy.
    if caller.role != "system" and not access.family_in_commune(session, family_id, commune):
        raise Problem(404, "Ce dossier est introuvable.")
    codes = catalogue.required_for_enrolment(session, commune, service_id)
    types = catalogue.types_of(session, commune, codes)
    held = [HeldDocument(r.id, r.doc_type, r.child_id, r.expires_on) for r in session.execute(
        sa.select(documents.c.id, documents.c.doc_type, documents.c.child_id, documents.c.expires_on)
        .where(documents.c.family_id == family_id, documents.c.commune == commune,
               documents.c.deleted_at.is_(None), documents.c.doc_type.in_(codes)))]
    missing = missing_documents([types[c] for c in codes if c in types], held, paris_today(), child_id)
    return {"family_id": family_id, "child_id": child_id, "service_id": service_id, "commune": commune,
            "complete": not missing, "required": [{"doc_type": c, "label": types[c].label} for c in codes if c in types],
            "missing": missing}
