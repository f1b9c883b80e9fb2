"""Notify's internal HTTP API (operations named in openapi.yaml): support tools for e-mails."""
from __future__ import annotations

import sqlalchemy as sa

from servicekit.tokens import Caller
from servicekit.types import isoformat_utc
from servicekit.web import Problem, current_caller

from notify.db import get_db
from notify.models import FAILED, QUEUED, notifications

JSON = {"Content-Type": "application/json"}
# Who may look at e-mails: agents and commune admins (their commune only), operators (all).
_COMMUNE_ROLES = ("agent", "admin")
_PLATFORM_ROLES = ("operator",)
_LISTED = ("id", "template", "recipient", "subject", "source_event_id", "source_event_type", "commune",
           "status", "attempts", "last_error", "message_id", "created_at", "next_attempt_at", "sent_at")


def _scope(caller: Caller):
    """The SQL condition limiting what `caller` sees, or a 403."""
    if caller.role in _PLATFORM_ROLES:
        return sa.true()
    if caller.role in _COMMUNE_ROLES and caller.commune:
        return notifications.c.commune == caller.commune
    raise Problem(403, "Vous n’avez pas accès au suivi des e-mails.")


def _out(row) -> dict:
    return {k: (isoformat_utc(row[k]) if k.endswith("_at") else row[k]) for k in _LISTED}


def list_notifications(recipient: str | None = None, status: str | None = None, limit: int = 50):
    condition = _scope(current_caller())
    query = sa.select(notifications).where(condition)
    if recipient:
        query = query.where(sa.func.lower(notifications.c.recipient) == recipient.strip().lower())
    if status:
        query = query.where(notifications.c.status == status)
    query = query.order_by(notifications.c.created_at.desc(), notifications.c.id).limit(limit)
    with get_db().read() as session:
        rows = session.execute(query).mappings().all()
    return {"items": [_out(r) for r in rows]}, 200, JSON


def retry_notification(notification_id: str):
    condition = _scope(current_caller())
    with get_db().transaction() as session:
        row = session.execute(
            sa.select(notifications).where(notifications.c.id == notification_id, condition).with_for_update()
        ).mappings().first()
        if row is None:
            raise Problem(404, "Cet e-mail est introuvable.")
        if row["status"] != FAILED:
            raise Problem(409, "Seul un e-mail en échec peut être renvoyé : celui-ci est "
                               + ("déjà envoyé." if row["status"] != QUEUED else "déjà en file d’envoi."))
        # A fresh series of attempts; the last error stays visible until the next attempt.
        session.execute(notifications.update().where(notifications.c.id == notification_id)
                        .values(status=QUEUED, attempts=0, next_attempt_at=None))
        row = session.execute(sa.select(notifications).where(notifications.c.id == notification_id)).mappings().one()
    return _out(row), 200, JSON
