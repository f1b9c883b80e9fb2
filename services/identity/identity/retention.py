"""Deleting what identity no longer needs (worker job `retention`, hourly).

Rows are kept for a retention period *after* they stopped mattering, never while they could
still be used: an authorization code lives 60 s, a token until its refresh expires, an SSO
session at most 12 h. Settings (days): OIDC_RETENTION_DAYS (codes, tokens, form tickets),
SSO_SESSION_RETENTION_DAYS (sessions and their back-channel records),
SIGNIN_LINK_RETENTION_DAYS (password-reset and TOTP enrolment links). The audit journal is
append-only and never purged here.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit import idempotency

from identity.models import idempotency_keys, utcnow
from identity.oidc.models import AuthorizationCode, FormTicket, SessionLogout, Token
from identity.sessions import ABSOLUTE_TIMEOUT
from identity.signin.models import PasswordResetToken, SsoSessionRecord, TotpEnrolment

log = logging.getLogger(__name__)


def purge(session: Session, settings, now: datetime | None = None) -> dict[str, int]:
    """Delete every row past its retention; how many per table."""
    now = now or utcnow()
    oidc = now - timedelta(days=settings.oidc_retention_days)
    sso = now - timedelta(days=settings.sso_session_retention_days)
    links = now - timedelta(days=settings.signin_link_retention_days)
    token_end = sa.func.coalesce(Token.refresh_expires_at, Token.access_expires_at)
    deletions = {
        "oidc_authorization_codes": sa.delete(AuthorizationCode).where(AuthorizationCode.expires_at < oidc),
        "oidc_tokens": sa.delete(Token).where(Token.access_expires_at < oidc, token_end < oidc),
        "oidc_form_tickets": sa.delete(FormTicket).where(FormTicket.expires_at < oidc),
        # An SSO session is over once ended, or at the latest ABSOLUTE_TIMEOUT after it started.
        "sso_sessions": sa.delete(SsoSessionRecord).where(sa.or_(
            SsoSessionRecord.ended_at < sso, SsoSessionRecord.created_at < sso - ABSOLUTE_TIMEOUT)),
        "oidc_session_logouts": sa.delete(SessionLogout).where(SessionLogout.at < sso),
        "password_reset_tokens": sa.delete(PasswordResetToken).where(PasswordResetToken.expires_at < links),
        "totp_enrolments": sa.delete(TotpEnrolment).where(TotpEnrolment.expires_at < links),
    }
    deletions["idempotency_keys"] = idempotency_keys.delete().where(
        idempotency_keys.c.created_at < now - idempotency.RETENTION)
    counts = {}
    for table, statement in deletions.items():
        counts[table] = session.execute(statement.execution_options(synchronize_session=False)).rowcount or 0
    deleted = {t: n for t, n in counts.items() if n}
    if deleted:
        log.info("retention: deleted %s", deleted)
    return counts
