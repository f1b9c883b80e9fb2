"""Single-sign-on sessions of the provider (cookie `ef_sso`, used by the OIDC endpoints).

A session lives at most 12 hours from sign-in (absolute) and dies after 30 minutes without
use (idle). The cookie carries a random secret; the database keeps only its SHA-256 hash and a
separate public `sid` (the OIDC side gives `sid` to relying parties, never the cookie value).

Call these inside a write transaction (`db.transaction()`): `current` updates `last_seen_at`
and ends expired sessions.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app, has_app_context, has_request_context, request as flask_request
from sqlalchemy.orm import Session

from identity import audit
from identity.models import User
from identity.signin import clock
from identity.signin.models import SsoSessionRecord
from servicekit.token_hash import hash_token, new_token

log = logging.getLogger(__name__)

LOGIN_URL = "/oidc/login"
COOKIE_NAME = "ef_sso"
COOKIE_PATH = "/oidc"
IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)


@dataclass
class SsoSession:
    sid: str
    user_id: str
    auth_time: datetime
    amr: list[str] = field(default_factory=list)


def expiry_reason(created_at: datetime, last_seen_at: datetime, now: datetime) -> str | None:
    """Why a session is no longer valid at `now` ("absolute", "idle") or None if it is."""
    if now - created_at >= ABSOLUTE_TIMEOUT:
        return "absolute"
    if now - last_seen_at >= IDLE_TIMEOUT:
        return "idle"
    return None


def current(db_session: Session, request) -> SsoSession | None:
    """The valid SSO session of this browser, or None. Touches `last_seen_at`."""
    token = request.cookies.get(COOKIE_NAME)
    if not token:
        return None
    row = db_session.scalar(
        sa.select(SsoSessionRecord).where(SsoSessionRecord.token_hash == hash_token(token),
                                          SsoSessionRecord.ended_at.is_(None)))
    if row is None:
        return None
    now = clock.now()
    reason = expiry_reason(row.created_at, row.last_seen_at, now)
    if reason is None:
        user = db_session.get(User, row.user_id)
        if user is None or not user.is_active:
            reason = "account_inactive"
    if reason is not None:
        _end_row(row, now, reason)
        audit.record(db_session, "signin.session_expired", actor_user_id=row.user_id,
                     subject_user_id=row.user_id, ip=_client_ip(), sid=row.sid, reason=reason)
        return None
    row.last_seen_at = now
    return _public(row)


def start(db_session: Session, response, user: User, amr: list[str]) -> SsoSession:
    """Open a new SSO session for `user` and set its cookie on `response`."""
    now = clock.now()
    token = new_token()
    row = SsoSessionRecord(sid=new_token()[:32], token_hash=hash_token(token), user_id=user.id,
                           created_at=now, auth_time=now, last_seen_at=now, amr=list(amr),
                           ip=_client_ip(), user_agent=_user_agent())
    db_session.add(row)
    db_session.flush()
    _set_cookie(response, token)
    return _public(row)


def reauthenticate(db_session: Session, response, sid: str, amr: list[str]) -> SsoSession:
    """The same user proved who they are again (prompt=login, max_age): keep the `sid` that
    relying parties know, refresh `auth_time` and `amr`, and rotate the cookie secret."""
    row = db_session.get(SsoSessionRecord, sid)
    if row is None or row.ended_at is not None:
        raise LookupError(f"no open SSO session {sid}")
    now = clock.now()
    token = new_token()
    row.token_hash = hash_token(token)
    row.auth_time = now
    row.last_seen_at = now
    row.amr = list(amr)
    _set_cookie(response, token)
    return _public(row)


def establish(db_session: Session, request, response, user: User, amr: list[str]) -> SsoSession:
    """After a successful sign-in: re-authenticate this browser's session if it belongs to
    the same user, otherwise end it and start a new one."""
    existing = current(db_session, request)
    if existing is not None and existing.user_id == user.id:
        return reauthenticate(db_session, response, existing.sid, amr)
    if existing is not None:
        _end_row(db_session.get(SsoSessionRecord, existing.sid), clock.now(), "replaced")
    return start(db_session, response, user, amr)


def end(db_session: Session, response, sid: str) -> None:
    """End one session (logout) and clear the cookie (when a response is given)."""
    row = db_session.get(SsoSessionRecord, sid)
    if row is not None and row.ended_at is None:
        _end_row(row, clock.now(), "logout")
        audit.record(db_session, "signin.logout", actor_user_id=row.user_id, subject_user_id=row.user_id,
                     ip=_client_ip(), sid=sid)
    if response is not None:
        response.delete_cookie(COOKIE_NAME, path=COOKIE_PATH, secure=_cookie_secure(), httponly=True,
                               samesite="Lax")


def end_all_for_user(db_session: Session, user_id: str, except_sid: str | None = None,
                     reason: str = "ended_all") -> list[str]:
    """End every open session of a user (but `except_sid`); tell the OIDC side so that tokens
    are revoked and relying parties get back-channel logout. Returns the ended sids."""
    query = sa.select(SsoSessionRecord).where(SsoSessionRecord.user_id == user_id,
                                              SsoSessionRecord.ended_at.is_(None))
    if except_sid is not None:
        query = query.where(SsoSessionRecord.sid != except_sid)
    now = clock.now()
    sids = []
    for row in db_session.scalars(query):
        _end_row(row, now, reason)
        sids.append(row.sid)
    if sids:
        _notify_oidc(db_session, sids)
    return sids


# --- helpers ---------------------------------------------------------------------------------
def _public(row: SsoSessionRecord) -> SsoSession:
    return SsoSession(sid=row.sid, user_id=row.user_id, auth_time=row.auth_time, amr=list(row.amr))


def _end_row(row: SsoSessionRecord, now: datetime, reason: str) -> None:
    row.ended_at = now
    row.end_reason = reason


def _notify_oidc(db_session: Session, sids: list[str]) -> None:
    try:
        from identity.oidc.logout import sessions_ended
    except ImportError as exc:
        # The OIDC provider is built separately; without it there are no tokens to revoke.
        if getattr(exc, "name", None) not in (None, "identity.oidc", "identity.oidc.logout"):
            raise
        log.warning("identity.oidc.logout.sessions_ended unavailable; %d session(s) ended locally", len(sids))
        return
    sessions_ended(db_session, sids)


def _cookie_secure() -> bool:
    settings = current_app.config.get("SERVICE_SETTINGS") if has_app_context() else None
    if settings is None:
        from identity.settings import get_settings

        settings = get_settings()
    return settings.ef_env not in ("development", "test")


def _set_cookie(response, token: str) -> None:
    # A browser-session cookie (no Max-Age): closing the browser on a shared computer ends it;
    # the server enforces the idle and absolute limits either way.
    response.set_cookie(COOKIE_NAME, token, path=COOKIE_PATH, secure=_cookie_secure(), httponly=True,
                        samesite="Lax")


def _client_ip() -> str | None:
    return flask_request.remote_addr if has_request_context() else None


def _user_agent() -> str | None:
    if not has_request_context():
        return None
    agent = flask_request.headers.get("User-Agent")
    return agent[:300] if agent else None
