"""Ending SSO sessions on the provider side: revoke their tokens and tell relying parties
(OpenID Connect Back-Channel Logout 1.0).

Logout tokens are sent after the transaction that ended the sessions commits, from a small
thread pool, with a short timeout: a slow or dead relying party never holds up the user's
page, and failures are logged (back-channel logout is best effort by design).
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests
import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from identity.models import User
from identity.oidc import tokens
from identity.oidc.models import AuthorizationCode, OAuthClient, SessionLogout, Token

log = logging.getLogger(__name__)

_PENDING = "oidc_backchannel_pending"
_LISTENING = "oidc_backchannel_listening"
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="oidc-backchannel")


@dataclass(frozen=True)
class LogoutMessage:
    client_id: str
    uri: str
    logout_token: str


def _settings():
    if has_app_context() and "OIDC_SETTINGS" in current_app.config:
        return current_app.config["OIDC_SETTINGS"]
    from identity.settings import get_settings

    return get_settings()


def sessions_ended(db_session: Session, sids: list[str]) -> None:
    """Sessions `sids` have ended (logout, reset, expiry): revoke their tokens and queue a
    back-channel logout to every client that received tokens or codes in them. Idempotent:
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
    settings = _settings()
    messages = []
    for client, sid, user_sub in _relying_parties(db_session, fresh):
        messages.append(LogoutMessage(client.client_id, client.backchannel_logout_uri,
                                      tokens.mint_logout_token(db_session, settings, client.client_id, user_sub, sid)))
    db_session.flush()
    if messages:
        _queue_after_commit(db_session, messages, settings.oidc_backchannel_timeout)


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


def _queue_after_commit(db_session: Session, messages: list[LogoutMessage], timeout: float) -> None:
    db_session.info.setdefault(_PENDING, []).extend(messages)
    if db_session.info.get(_LISTENING):
        return
    db_session.info[_LISTENING] = True

    def _after_commit(session):
        for message in session.info.pop(_PENDING, []):
            _pool.submit(deliver, message, timeout)

    def _after_rollback(session):
        session.info.pop(_PENDING, None)

    # Listeners live as long as this (short-lived) session; they only drain what is pending.
    event.listen(db_session, "after_commit", _after_commit)
    event.listen(db_session, "after_rollback", _after_rollback)


def deliver(message: LogoutMessage, timeout: float) -> bool:
    """POST one logout token (form-encoded, as the spec says). True on a 2xx answer."""
    try:
        resp = requests.post(message.uri, data={"logout_token": message.logout_token}, timeout=timeout,
                             allow_redirects=False, headers={"Cache-Control": "no-store"})
    except requests.RequestException as exc:
        log.warning("back-channel logout to %s (%s) failed: %s", message.client_id, message.uri, exc)
        return False
    if not 200 <= resp.status_code < 300:
        log.warning("back-channel logout to %s (%s) answered %s", message.client_id, message.uri, resp.status_code)
        return False
    log.info("back-channel logout delivered to %s", message.client_id)
    return True
