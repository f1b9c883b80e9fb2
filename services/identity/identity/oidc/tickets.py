"""Single-use anti-CSRF tickets for the provider's forms (consent, logout confirmation).

A ticket is bound to the SSO session that displayed the form (and, for consent, to the client
and scopes shown), so a form posted from another site or another session is refused.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from servicekit import token_hash
from identity.oidc.context import now
from identity.oidc.models import FormTicket

TTL = timedelta(minutes=15)


def issue(session: Session, purpose: str, sid: str, client_id: str | None = None, scope: str | None = None) -> str:
    ticket = token_hash.new_token()
    stamp = now()
    session.add(FormTicket(ticket_hash=token_hash.hash_token(ticket), purpose=purpose, sid=sid, client_id=client_id,
                           scope=scope, created_at=stamp, expires_at=stamp + TTL))
    return ticket


def consume(session: Session, ticket: str | None, purpose: str, sid: str, client_id: str | None = None,
            scope: str | None = None) -> bool:
    """True once for a valid ticket matching everything it was issued for."""
    if not ticket:
        return False
    row = session.get(FormTicket, token_hash.hash_token(ticket))
    if (row is None or row.used_at is not None or row.purpose != purpose or row.sid != sid
            or row.expires_at <= now() or row.client_id != client_id or row.scope != scope):
        return False
    row.used_at = now()
    return True
