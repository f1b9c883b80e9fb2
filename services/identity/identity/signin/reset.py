"""Password reset by e-mail: single-use links valid one hour, stored hashed."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from contracts.identity import PasswordChanged, PasswordResetRequested
from identity import audit, sessions, throttle
from identity.models import User
from identity.signin import clock
from identity.signin.models import PasswordResetToken
from servicekit.token_hash import hash_token, new_token
from servicekit.messaging.outbox import add_event

TOKEN_TTL = timedelta(hours=1)
# At most this many links per account and hour: the form cannot be used to flood a mailbox.
MAX_REQUESTS_PER_HOUR = 3


def request_reset(db_session: Session, email: str, ip: str | None, public_url: str) -> str | None:
    """Issue a link if `email` belongs to an active account with a password. The caller shows
    the same answer whatever happens. Returns the token (tests) or None."""
    now = clock.now()
    user = db_session.scalar(sa.select(User).where(User.email == email))
    if user is None or not user.is_active or not user.password_hash:
        audit.record(db_session, "password.reset_requested", ip=ip, outcome="no_account")
        return None
    recent = db_session.scalar(
        sa.select(sa.func.count()).select_from(PasswordResetToken)
        .where(PasswordResetToken.user_id == user.id, PasswordResetToken.created_at > now - timedelta(hours=1)))
    if recent >= MAX_REQUESTS_PER_HOUR:
        audit.record(db_session, "password.reset_requested", actor_user_id=user.id, subject_user_id=user.id,
                     ip=ip, outcome="rate_limited")
        return None
    token = new_token()
    row = PasswordResetToken(user_id=user.id, token_hash=hash_token(token), created_at=now,
                             expires_at=now + TOKEN_TTL, ip=ip)
    db_session.add(row)
    db_session.flush()
    add_event(db_session, "identity", PasswordResetRequested(
        reset_id=row.id, user_id=user.id, email=user.email, given_name=user.given_name,
        link=f"{public_url.rstrip('/')}/oidc/reset/{token}", expires_at=row.expires_at))
    audit.record(db_session, "password.reset_requested", actor_user_id=user.id, subject_user_id=user.id,
                 ip=ip, outcome="sent", reset_id=row.id)
    return token


def find_valid(db_session: Session, token: str, lock: bool = False) -> PasswordResetToken | None:
    """The unused, unexpired reset row for `token`, or None."""
    query = sa.select(PasswordResetToken).where(PasswordResetToken.token_hash == hash_token(token))
    if lock:
        query = query.with_for_update()
    row = db_session.scalar(query)
    if row is None or row.used_at is not None or row.expires_at <= clock.now():
        return None
    return row


def complete_reset(db_session: Session, row: PasswordResetToken, new_hash: str, ip: str | None) -> User:
    """Set the new password (already checked and hashed), use up every pending link of the
    account, end all its SSO sessions and tell the user."""
    now = clock.now()
    user = db_session.get(User, row.user_id)
    db_session.execute(
        sa.update(PasswordResetToken)
        .where(PasswordResetToken.user_id == user.id, PasswordResetToken.used_at.is_(None))
        .values(used_at=now))
    user.password_hash = new_hash
    user.password_changed_at = now
    ended = sessions.end_all_for_user(db_session, user.id, reason="password_reset")
    throttle.record_success(db_session, user.email)
    add_event(db_session, "identity", PasswordChanged(
        user_id=user.id, email=user.email, given_name=user.given_name, changed_at=now, reason="reset"))
    audit.record(db_session, "password.reset_completed", actor_user_id=user.id, subject_user_id=user.id,
                 ip=ip, reset_id=row.id, sessions_ended=len(ended))
    return user

