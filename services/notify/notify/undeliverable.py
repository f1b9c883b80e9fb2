"""Addresses a mail server refused for good (5xx), per commune, for its agents to correct.

The sending job records the address when a notification fails permanently, and forgets it
as soon as an e-mail to that address is accepted again (the family fixed their address, the
mailbox came back). Agents see their commune's list (GET /internal/undeliverable-addresses);
an e-mail about no commune (e.g. a password reset) is listed for operators only.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit.db import dialect_insert
from servicekit.tokens import Caller
from servicekit.types import isoformat_utc

from notify.models import undeliverable_addresses as table

NO_COMMUNE = ""


def record_refusal(session: Session, row, error: str, at: datetime) -> None:
    """`row`: the notification refused for good."""
    email = row["recipient"].strip().lower()
    stmt = dialect_insert(session, table).values(
        commune=row["commune"] or NO_COMMUNE, email=email, family_id=row["family_id"], last_error=error,
        last_notification_id=row["id"], refusals=1, first_refused_at=at, last_refused_at=at)
    session.execute(stmt.on_conflict_do_update(index_elements=[table.c.commune, table.c.email], set_={
        "family_id": sa.func.coalesce(stmt.excluded.family_id, table.c.family_id),
        "last_error": stmt.excluded.last_error, "last_notification_id": stmt.excluded.last_notification_id,
        "refusals": table.c.refusals + 1, "last_refused_at": stmt.excluded.last_refused_at}))


def forget(session: Session, recipient: str) -> None:
    """An e-mail to `recipient` was accepted: it is no longer undeliverable, anywhere."""
    session.execute(table.delete().where(table.c.email == recipient.strip().lower()))


def list_for(session: Session, caller: Caller, limit: int = 100, offset: int = 0) -> list[dict]:
    query = sa.select(table)
    if caller.role not in ("operator", "system"):
        query = query.where(table.c.commune == caller.commune)
    rows = session.execute(query.order_by(table.c.last_refused_at.desc(), table.c.email).limit(limit).offset(offset))
    return [{"email": r.email, "commune": r.commune or None, "family_id": r.family_id, "last_error": r.last_error,
             "last_notification_id": r.last_notification_id, "refusals": r.refusals,
             "first_refused_at": isoformat_utc(r.first_refused_at), "last_refused_at": isoformat_utc(r.last_refused_at)}
            for r in rows.mappings()]
