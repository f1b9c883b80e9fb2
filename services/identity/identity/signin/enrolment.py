"""Setting up an agent's second factor through a single-use link e-mailed to them.

Knowing the password is not enough to bind an authenticator app: after a correct password,
an agent without TOTP gets an e-mail (`TotpEnrolmentRequested`, sent by notify) with a link
valid 24 hours. The secret is chosen with the link and shown only on its page; confirming a
code there enables TOTP, and the agent then signs in with password and code. A new link
supersedes the previous one; at most 3 links per account and hour.
"""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from contracts.identity import TotpEnrolmentRequested
from servicekit.messaging.outbox import add_event
from servicekit.token_hash import hash_token, new_token_and_hash

from identity import audit
from identity.models import User
from identity.signin import clock, totp
from identity.signin.models import TotpEnrolment

LINK_TTL = timedelta(hours=24)
MAX_LINKS_PER_HOUR = 3
PATH = "/oidc/login/totp/enrol/"


def request_link(db_session: Session, user: User, ip: str | None, public_url: str) -> str | None:
    """E-mail a new enrolment link to `user` (unless 3 were sent this hour). Returns the token
    (tests) or None when rate-limited; the page says the same either way."""
    now = clock.now()
    recent = db_session.scalar(
        sa.select(sa.func.count()).select_from(TotpEnrolment)
        .where(TotpEnrolment.user_id == user.id, TotpEnrolment.created_at > now - timedelta(hours=1)))
    if recent >= MAX_LINKS_PER_HOUR:
        audit.record(db_session, "totp.enrolment_requested", actor_user_id=user.id, subject_user_id=user.id, ip=ip,
                     outcome="rate_limited")
        return None
    db_session.execute(sa.update(TotpEnrolment)
                       .where(TotpEnrolment.user_id == user.id, TotpEnrolment.used_at.is_(None))
                       .values(used_at=now))
    token, token_hash = new_token_and_hash()
    row = TotpEnrolment(user_id=user.id, token_hash=token_hash, secret=totp.new_secret(), created_at=now,
                        expires_at=now + LINK_TTL, ip=ip)
    db_session.add(row)
    db_session.flush()
    add_event(db_session, "identity", TotpEnrolmentRequested(
        enrolment_id=row.id, user_id=user.sub, email=user.email, given_name=user.given_name,
        link=f"{public_url.rstrip('/')}{PATH}{token}", expires_at=row.expires_at))
    audit.record(db_session, "totp.enrolment_requested", actor_user_id=user.id, subject_user_id=user.id, ip=ip,
                 outcome="sent", enrolment_id=row.id)
    return token


def find_valid(db_session: Session, token: str, lock: bool = False) -> TotpEnrolment | None:
    """The unused, unexpired enrolment for `token` whose user still needs one, or None."""
    query = sa.select(TotpEnrolment).where(TotpEnrolment.token_hash == hash_token(token))
    if lock:
        query = query.with_for_update()
    row = db_session.scalar(query)
    if row is None or row.used_at is not None or row.expires_at <= clock.now():
        return None
    user = db_session.get(User, row.user_id)
    if user is None or not user.is_active or user.totp_enabled:
        return None
    return row


def confirm(db_session: Session, row: TotpEnrolment, code: str, ip: str | None) -> bool:
    """Enable TOTP with the link's secret if `code` is right (each code counts once)."""
    user = db_session.get(User, row.user_id)
    if totp.matching_step(row.secret, code) is None:
        return False
    previous, user.totp_secret = user.totp_secret, row.secret
    if not totp.verify(db_session, user, code):  # already used (replay): refused
        user.totp_secret = previous
        return False
    user.totp_enabled = True
    row.used_at = clock.now()
    audit.record(db_session, "totp.enrolled", actor_user_id=user.id, subject_user_id=user.id, ip=ip,
                 enrolment_id=row.id)
    return True
