"""Notify's internal HTTP API (operations named in openapi.yaml): the e-mails sent, the
addresses refused, and each user's choice of e-mails.

Operations are async (ADR 0006): the sync use cases run through `Database.run_read/run_write`
in a worker thread, so the event loop never waits on the database.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit import web
from servicekit.tokens import Caller
from servicekit.types import isoformat_utc
from servicekit.web import Problem, current_caller

from notify import preferences, undeliverable
from notify.models import FAILED, QUEUED, notifications

JSON = {"Content-Type": "application/json"}
# Who may look at e-mails: agents and commune admins (their commune only), operators (all).
_COMMUNE_ROLES = ("agent", "admin")
_PLATFORM_ROLES = ("operator",)
_LISTED = ("id", "template", "recipient", "subject", "source_event_id", "source_event_type", "commune",
           "family_id", "status", "attempts", "last_error", "message_id", "created_at", "next_attempt_at", "sent_at")


def _db():
    return web.state()["db"]


def _scope(caller: Caller):
    """The SQL condition limiting what `caller` sees, or a 403."""
    if caller.role in _PLATFORM_ROLES:
        return sa.true()
    if caller.role in _COMMUNE_ROLES and caller.commune:
        return notifications.c.commune == caller.commune
    raise Problem(403, "Vous n’avez pas accès au suivi des e-mails.")


def _out(row) -> dict:
    return {k: (isoformat_utc(row[k]) if k.endswith("_at") else row[k]) for k in _LISTED}


# --- sent e-mails ------------------------------------------------------------------------------
def _list(session: Session, condition, recipient, status, limit) -> list[dict]:
    query = sa.select(notifications).where(condition)
    if recipient:
        query = query.where(sa.func.lower(notifications.c.recipient) == recipient.strip().lower())
    if status:
        query = query.where(notifications.c.status == status)
    query = query.order_by(notifications.c.created_at.desc(), notifications.c.id).limit(limit)
    return [_out(r) for r in session.execute(query).mappings().all()]


async def list_notifications(recipient: str | None = None, status: str | None = None, limit: int = 50):
    condition = _scope(current_caller())
    return {"items": await _db().run_read(_list, condition, recipient, status, limit)}, 200, JSON


def _retry(session: Session, condition, notification_id: str) -> dict:
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
    return _out(session.execute(sa.select(notifications).where(notifications.c.id == notification_id)).mappings().one())


async def retry_notification(notification_id: str):
    condition = _scope(current_caller())
    return await _db().run_write(_retry, condition, notification_id), 200, JSON


# --- undeliverable addresses ----------------------------------------------------------------------
async def list_undeliverable_addresses(limit: int = 100, offset: int = 0):
    caller = current_caller()
    if not (caller.role in _PLATFORM_ROLES or (caller.role in _COMMUNE_ROLES and caller.commune)):
        raise Problem(403, "Vous n’avez pas accès aux adresses e-mail en échec.")
    items = await _db().run_read(undeliverable.list_for, caller, limit=limit, offset=offset)
    return {"items": items}, 200, JSON


# --- the caller's own choice of e-mails -------------------------------------------------------------
async def get_my_preferences():
    try:
        return await _db().run_read(preferences.read_preferences, current_caller()), 200, JSON
    except preferences.PreferenceError as exc:
        raise Problem(exc.status, exc.detail) from None


async def put_my_preferences(body: dict):
    try:
        return await _db().run_write(preferences.write_preferences, current_caller(), body), 200, JSON
    except preferences.PreferenceError as exc:
        raise Problem(exc.status, exc.detail) from None
