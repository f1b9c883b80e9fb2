"""Tables of the sign-in side: SSO sessions, login throttling, password-reset tokens, TOTP use
and enrolment links.

They live on identity's `Base` (imported by `identity.models`, so Alembic sees them).
Secrets (session cookie values, reset tokens) are stored only as SHA-256 hashes: a copy of
the database does not let anyone sign in.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from servicekit.types import UTCDateTime

from identity.models import Base, new_id, utcnow


class SsoSessionRecord(Base):
    """One browser's single-sign-on session at the provider (cookie `ef_sso`)."""

    __tablename__ = "sso_sessions"
    # Public session id: given to the OIDC side (id_token `sid`, back-channel logout).
    sid: Mapped[str] = mapped_column(sa.String(43), primary_key=True)
    # SHA-256 of the cookie value; the cookie value itself is never stored.
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Last time the user proved who they are (password, TOTP): OIDC `auth_time`.
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    amr: Mapped[list] = mapped_column(sa.JSON, default=list)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # logout | idle | absolute | replaced | password_reset | ended_by_user ...
    end_reason: Mapped[str | None] = mapped_column(sa.String(32))
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(300))


class LoginThrottle(Base):
    """Consecutive failed sign-ins for one key (an account or an IP address).

    Shared by every web worker through the database, so all of them agree on back-off.
    """

    __tablename__ = "login_throttle"
    # "account:<sha256 of the lower-cased e-mail>" or "ip:<address>"
    key: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    failures: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PasswordResetToken(Base):
    """A single-use password-reset link (valid one hour)."""

    __tablename__ = "password_reset_tokens"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(sa.String(64))


class TotpUse(Base):
    """The last accepted TOTP time step per user: a code is accepted only once (no replay)."""

    __tablename__ = "totp_uses"
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    last_step: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class TotpEnrolment(Base):
    """A single-use link e-mailed to an agent to set up their second factor (valid 24 hours).

    The secret is chosen when the link is made and shown only on the link's page: only whoever
    reads the agent's mailbox can bind an authenticator app, not whoever learnt the password."""

    __tablename__ = "totp_enrolments"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    secret: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Used (enrolled) or superseded by a newer link: either way, dead.
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(sa.String(64))
