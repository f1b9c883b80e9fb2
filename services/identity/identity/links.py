"""Single-use e-mailed links (activation, invitation): tokens, hashes, expiry, state.

Pure rules, no I/O. The token is 256 random bits, URL-safe; only its SHA-256 is stored, so a
copy of the database opens no account.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

# hash_token is re-exported: the households modules take link tokens' rules from here.
from servicekit.token_hash import hash_token, new_token_and_hash  # noqa: F401

LinkState = Literal["valid", "expired", "used", "superseded"]

DEAD_LINK_MESSAGES: dict[str, str] = {
    "expired": "Ce lien a expiré. Demandez à votre mairie de vous en envoyer un nouveau.",
    "used": "Ce lien a déjà été utilisé. Connectez-vous avec votre adresse e-mail et votre mot de passe.",
    "superseded": "Ce lien n'est plus valable : un lien plus récent vous a été envoyé. "
                  "Utilisez le dernier e-mail reçu.",
}
INVITATION_DEAD_LINK_MESSAGES: dict[str, str] = {
    **DEAD_LINK_MESSAGES,
    "expired": "Cette invitation a expiré. Demandez à la personne qui vous a invité(e) de vous en envoyer une nouvelle.",
    "superseded": "Cette invitation n'est plus valable : une invitation plus récente vous a été envoyée.",
}
UNKNOWN_LINK_MESSAGE = "Ce lien n'est pas valable. Vérifiez que vous avez copié l'adresse complète."


def new_token() -> tuple[str, str]:
    """A fresh token (256 bits) and the hash to store (servicekit.token_hash)."""
    return new_token_and_hash()


def expiry(now: datetime, ttl_hours: int) -> datetime:
    return now + timedelta(hours=ttl_hours)


def link_state(now: datetime, expires_at: datetime, used_at: datetime | None,
               superseded_at: datetime | None) -> LinkState:
    """Used wins over superseded wins over expired: the parent is told the most useful thing."""
    if used_at is not None:
        return "used"
    if superseded_at is not None:
        return "superseded"
    if now >= expires_at:
        return "expired"
    return "valid"


def link_url(public_url: str, kind: Literal["activation", "invitation"], token: str) -> str:
    return f"{public_url.rstrip('/')}/{kind}/{token}"
