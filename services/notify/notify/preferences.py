"""Which e-mails a user may turn off, and their choices (GET/PUT /internal/me/preferences).

Messages about the account's security and about money are always sent; the others can be
turned off by the person who receives them. Only choices that differ from the default (on)
are stored, per user (the `sub` of the service token).
"""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit.db import dialect_insert
from servicekit.tokens import Caller
from servicekit.types import utcnow

from notify.models import preferences

PARENT, AGENT = "parent", "agent"


@dataclass(frozen=True)
class Topic:
    label: str          # French, shown in the account page
    audience: str       # who receives it: PARENT or AGENT
    optional: bool      # False: always sent (security, money)


TOPICS: dict[str, Topic] = {
    "activation": Topic("Lien d’activation de votre compte", PARENT, False),
    "guardian_invitation": Topic("Invitation d’un second responsable", PARENT, False),
    "password_reset": Topic("Réinitialisation du mot de passe", PARENT, False),
    "password_changed": Topic("Avis de changement de mot de passe", PARENT, False),
    "payment_received": Topic("Paiement reçu", PARENT, False),
    "payment_failed": Topic("Paiement refusé ou abandonné", PARENT, False),
    "invoice_published": Topic("Nouvelle facture", PARENT, False),
    "credit_issued": Topic("Avoir émis", PARENT, False),
    "cart_validated": Topic("Récapitulatif du panier validé", PARENT, True),
    "waiting_list_confirmed": Topic("Place obtenue sur liste d’attente", PARENT, True),
    "cancellation_processed": Topic("Annulation traitée par la mairie", PARENT, True),
    "request_status_changed": Topic("Suivi de vos demandes", PARENT, True),
    "booking_reminder": Topic("Rappel avant la date limite de réservation", PARENT, True),
    "totp_enrolment": Topic("Mise en place de la double authentification", AGENT, False),
    "pending_requests_summary": Topic("Résumé quotidien des demandes en attente", AGENT, True),
}
OPTIONAL = frozenset(name for name, topic in TOPICS.items() if topic.optional)


class PreferenceError(Exception):
    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


def _audience(caller: Caller) -> str:
    if caller.role == "parent":
        return PARENT
    if caller.role in ("agent", "admin"):
        return AGENT
    raise PreferenceError(403, "Seuls les parents et les agents ont des préférences d’e-mails.")


def _stored(session: Session, user_id: str) -> dict[str, bool]:
    rows = session.execute(sa.select(preferences.c.kind, preferences.c.enabled).where(preferences.c.user_id == user_id))
    return {r.kind: r.enabled for r in rows}


def read_preferences(session: Session, caller: Caller) -> dict:
    audience = _audience(caller)
    stored = _stored(session, caller.sub)
    return {"items": [
        {"kind": name, "label": topic.label, "optional": topic.optional,
         "enabled": stored.get(name, True) if topic.optional else True}
        for name, topic in TOPICS.items() if topic.audience == audience]}


def write_preferences(session: Session, caller: Caller, body: dict) -> dict:
    """Apply `{"items": [{"kind", "enabled"}]}` (only the kinds named change); the new state."""
    audience = _audience(caller)
    changes: dict[str, bool] = {}
    for item in body.get("items", []):
        kind, enabled = item["kind"], item["enabled"]
        topic = TOPICS.get(kind)
        if topic is None or topic.audience != audience:
            raise PreferenceError(422, f"Type d’e-mail inconnu : « {kind} ».")
        if not topic.optional and not enabled:
            raise PreferenceError(422, f"L’e-mail « {topic.label} » est toujours envoyé : il ne peut pas être désactivé.")
        if topic.optional:
            changes[kind] = enabled
    now = utcnow()
    for kind, enabled in changes.items():
        stmt = dialect_insert(session, preferences).values(user_id=caller.sub, kind=kind, enabled=enabled,
                                                           updated_at=now)
        session.execute(stmt.on_conflict_do_update(index_elements=[preferences.c.user_id, preferences.c.kind],
                                                   set_={"enabled": enabled, "updated_at": now}))
    return read_preferences(session, caller)


def turned_off(session: Session, kind: str, user_ids) -> set[str]:
    """Which of `user_ids` turned `kind` off (always none for a message that cannot be)."""
    ids = [u for u in set(user_ids) if u]
    if kind not in OPTIONAL or not ids:
        return set()
    return set(session.execute(sa.select(preferences.c.user_id).where(
        preferences.c.kind == kind, preferences.c.enabled.is_(False), preferences.c.user_id.in_(ids))).scalars())
