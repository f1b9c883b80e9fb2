"""The audit journal: one call records one fact, in the caller's transaction.

Rows are only ever inserted (never updated or deleted by the application); on PostgreSQL a
trigger created by the migration refuses UPDATE and DELETE as well.
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from servicekit.context import get_correlation_id

from identity.models import AuditEntry


def record(session: Session, action: str, *, actor_user_id: str | None = None,
           subject_user_id: str | None = None, commune_slug: str | None = None,
           ip: str | None = None, **details) -> AuditEntry:
    entry = AuditEntry(action=action, actor_user_id=actor_user_id, subject_user_id=subject_user_id,
                       commune_slug=commune_slug, ip=ip, correlation_id=get_correlation_id(), details=details)
    session.add(entry)
    return entry
