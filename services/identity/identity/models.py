"""Identity's tables: communes, user accounts, agents' assignments, the audit journal.

Accounts and households (families, responsables, children, activations, invitations) and the
OpenID Connect provider's tables (clients, codes, tokens, consents, keys, SSO sessions) build
on these; OIDC tables live in `identity/oidc/models.py` on the same `Base`.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime, timezone

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from servicekit.db import declarative_base

Base = declarative_base()


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Commune(Base):
    """A tenant: one municipality (collectivité)."""

    __tablename__ = "communes"
    slug: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class User(Base):
    """A login (one person). The e-mail is the login; parents, agents and operators alike."""

    __tablename__ = "users"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    # Stable public identifier given to relying parties as `sub` (never the primary key).
    sub: Mapped[str] = mapped_column(sa.String(36), unique=True, default=new_id)
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)  # stored lower-cased
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))  # None until activation
    given_name: Mapped[str | None] = mapped_column(sa.String(100))
    family_name: Mapped[str | None] = mapped_column(sa.String(100))
    birth_date: Mapped[date | None] = mapped_column(sa.Date)
    phone: Mapped[str | None] = mapped_column(sa.String(40))
    # parent | operator; agents are parents-or-not with AgentAssignment rows per commune.
    platform_role: Mapped[str] = mapped_column(sa.String(20), default="parent")
    totp_secret: Mapped[str | None] = mapped_column(sa.String(64))
    totp_enabled: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    password_changed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    assignments: Mapped[list["AgentAssignment"]] = relationship(back_populates="user", lazy="selectin")

    @property
    def display_name(self) -> str:
        full = " ".join(p for p in (self.given_name, self.family_name) if p)
        return full or self.email


class AgentAssignment(Base):
    """A user works for a commune, as `agent` or commune `admin`."""

    __tablename__ = "agent_assignments"
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    commune_slug: Mapped[str] = mapped_column(sa.ForeignKey("communes.slug"), primary_key=True)
    role: Mapped[str] = mapped_column(sa.String(10), default="agent")  # agent | admin
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)

    user: Mapped[User] = relationship(back_populates="assignments")


class AuditEntry(Base):
    """Append-only journal of security-relevant facts (sign-ins, failures, changes, consents)."""

    __tablename__ = "audit_journal"
    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                                    autoincrement=True)
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow, index=True)
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    actor_user_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    subject_user_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    commune_slug: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    correlation_id: Mapped[str | None] = mapped_column(sa.String(64))
    details: Mapped[dict] = mapped_column(sa.JSON, default=dict)
