"""Consent: implicit for first-party clients, asked once (and revocable) for the others."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit.types import isoformat_utc

from identity import audit
from identity.oidc import scopes, tokens
from identity.oidc.context import now
from identity.oidc.models import Consent, OAuthClient


def has_consent(session: Session, user_id: str, client: OAuthClient, scope: str) -> bool:
    row = session.get(Consent, (user_id, client.client_id))
    return row is not None and row.revoked_at is None and scopes.covers(row.scope, scope)


def record(session: Session, user_id: str, client: OAuthClient, scope: str, kind: str) -> Consent:
    """Add `scope` to what the user agreed to share with `client` (one row per pair)."""
    row = session.get(Consent, (user_id, client.client_id))
    if row is None:
        row = Consent(user_id=user_id, client_id=client.client_id, scope="", kind=kind)
        session.add(row)
    elif row.revoked_at is not None:
        row.scope, row.revoked_at = "", None
    if scopes.covers(row.scope, scope) and row.granted_at is not None:
        return row
    row.scope = scopes.union(row.scope, scope)
    row.kind = kind
    row.granted_at = now()
    audit.record(session, "oidc.consent_granted", actor_user_id=user_id, subject_user_id=user_id,
                 client_id=client.client_id, scope=row.scope, kind=kind)
    session.flush()
    return row


def ensure_implicit(session: Session, user_id: str, client: OAuthClient, scope: str) -> None:
    if not has_consent(session, user_id, client, scope):
        record(session, user_id, client, scope, "implicit")


def revoke(session: Session, user_id: str, client_id: str) -> bool:
    """Withdraw a user's consent to a client and revoke the tokens the client holds for them.
    Returns False when there was no active consent."""
    row = session.get(Consent, (user_id, client_id))
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = now()
    tokens.revoke_for_user_client(session, user_id, client_id, "consent_revoked")
    audit.record(session, "oidc.consent_revoked", actor_user_id=user_id, subject_user_id=user_id, client_id=client_id)
    return True


def list_for_user(session: Session, user_id: str) -> list[Consent]:
    return list(session.scalars(sa.select(Consent).where(Consent.user_id == user_id, Consent.revoked_at.is_(None))))


def connected_apps(session: Session, user_id: str) -> list[dict]:
    """The portals a user agreed to share data with (explicit consents, first-party clients
    excluded: they are the platform itself), for the user to see and withdraw."""
    rows = session.execute(
        sa.select(Consent, OAuthClient.name)
        .join(OAuthClient, OAuthClient.client_id == Consent.client_id)
        .where(Consent.user_id == user_id, Consent.revoked_at.is_(None), OAuthClient.first_party.is_(False))
        .order_by(Consent.granted_at.desc())
    ).all()
    return [{"client_id": c.client_id, "name": name, "scope": c.scope.split(),
             "granted_at": isoformat_utc(c.granted_at)} for c, name in rows]
