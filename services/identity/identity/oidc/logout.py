"""Ending SSO sessions on the provider side: revoke their tokens and tell relying parties
(OpenID Connect Back-Channel Logout 1.0).

Reliable delivery: ending a session writes one `backchannel_logout.requested.v1` event per
relying party into the outbox, in the same transaction. identity's worker consumes them
(`deliver_requested`): it signs a fresh logout token (they live two minutes) and POSTs it with
a short timeout. A failure (client down, 5xx, timeout) raises, so the servicekit consumer
retries with back-off and finally parks the message in the dead-letter queue, where an
operator sees it (`python -m identity dlq list`) and replays it. A restart of identity between
the commit and the POST loses nothing. The user's page never waits for a relying party.
"""
from __future__ import annotations

import logging

import requests
import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy.orm import Session

from contracts.envelope import Envelope
from contracts.identity import BackchannelLogoutRequested
from servicekit.messaging.outbox import add_event

from identity.models import User
from identity.oidc import tokens
from identity.oidc.models import AuthorizationCode, OAuthClient, SessionLogout, Token

log = logging.getLogger(__name__)

SOURCE = "identity"


class BackchannelDeliveryFailed(Exception):
    """The relying party did not acknowledge the logout token: the consumer retries."""


def _settings():
    if has_app_context() and "OIDC_SETTINGS" in current_app.config:
        return current_app.config["OIDC_SETTINGS"]
    from identity.settings import get_settings

    return get_settings()


def sessions_ended(db_session: Session, sids: list[str]) -> None:
    """Sessions `sids` have ended (logout, reset, expiry): revoke their tokens and request a
    back-channel logout for every client that received tokens or codes in them. Idempotent:
    a session is announced once."""
    sids = [s for s in dict.fromkeys(sids) if s]
    if not sids:
        return
    already = set(db_session.scalars(sa.select(SessionLogout.sid).where(SessionLogout.sid.in_(sids))).all())
    fresh = [s for s in sids if s not in already]
    if not fresh:
        return
    for sid in fresh:
        db_session.add(SessionLogout(sid=sid))
    tokens.revoke_for_sessions(db_session, fresh, "session_ended")
    for client, sid, user_sub in _relying_parties(db_session, fresh):
        add_event(db_session, SOURCE, BackchannelLogoutRequested(client_id=client.client_id, sid=sid,
                                                                 user_sub=user_sub))
    db_session.flush()


def _relying_parties(db_session: Session, sids: list[str]):
    """(client, sid, user sub) for clients with a back-channel URI that took part in `sids`."""
    seen = set()
    for model in (Token, AuthorizationCode):
        rows = db_session.execute(
            sa.select(OAuthClient, model.sid, User.sub)
            .join(OAuthClient, OAuthClient.client_id == model.client_id)
            .join(User, User.id == model.user_id)
            .where(model.sid.in_(sids), OAuthClient.backchannel_logout_uri.is_not(None))
        ).all()
        for client, sid, sub in rows:
            if (client.client_id, sid) not in seen:
                seen.add((client.client_id, sid))
                yield client, sid, sub


def deliver_requested(db_session: Session, envelope: Envelope) -> None:
    """Consumer of `backchannel_logout.requested.v1` (identity's worker): sign and POST the
    logout token; raise BackchannelDeliveryFailed so that the message is retried."""
    request = envelope.payload(BackchannelLogoutRequested)
    client = db_session.get(OAuthClient, request.client_id)
    if client is None or not client.backchannel_logout_uri:
        log.info("back-channel logout for %s dropped: client gone or no longer registered for it",
                 request.client_id)
        return
    logout_token = tokens.mint_logout_token(db_session, _settings(), client.client_id, request.user_sub, request.sid)
    outcome = post_logout_token(client.client_id, client.backchannel_logout_uri, logout_token,
                                _settings().oidc_backchannel_timeout)
    if outcome is not None:
        raise BackchannelDeliveryFailed(outcome)


def post_logout_token(client_id: str, uri: str, logout_token: str, timeout: float) -> str | None:
    """POST one logout token (form-encoded, as the spec says). None on a 2xx answer, else why not."""
    try:
        resp = requests.post(uri, data={"logout_token": logout_token}, timeout=timeout,
                             allow_redirects=False, headers={"Cache-Control": "no-store"})
    except requests.RequestException as exc:
        log.warning("back-channel logout to %s (%s) failed: %s", client_id, uri, exc)
        return f"{type(exc).__name__}: {exc}"
    if not 200 <= resp.status_code < 300:
        log.warning("back-channel logout to %s (%s) answered %s", client_id, uri, resp.status_code)
        return f"HTTP {resp.status_code}"
    log.info("back-channel logout delivered to %s", client_id)
    return None
