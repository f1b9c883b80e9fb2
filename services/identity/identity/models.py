"""Identity's tables: communes, user accounts, agents' assignments, the audit journal.

Accounts and households (families, their communes, responsables, children, activation links,
invitations) are below them. The OpenID Connect provider's tables (clients, codes, tokens,
consents, keys, SSO sessions) live in `identity/oidc/models.py` on the same `Base`.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime, timezone

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from servicekit import idempotency
from servicekit.db import declarative_base
from servicekit.types import UTCDateTime

Base = declarative_base()

# Answers of creating POSTs per Idempotency-Key (servicekit.idempotency; kept 24 h).
idempotency_keys = idempotency.define_table(Base.metadata)


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Commune(Base):
    """A tenant: one municipality (collectivité)."""

    __tablename__ = "communes"
    slug: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


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
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(back_populates="assignments")


class AuditEntry(Base):
    """Append-only journal of security-relevant facts (sign-ins, failures, changes, consents)."""

    __tablename__ = "audit_journal"
    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                                    autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    actor_user_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    subject_user_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    commune_slug: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    correlation_id: Mapped[str | None] = mapped_column(sa.String(64))
    details: Mapped[dict] = mapped_column(sa.JSON, default=dict)


# --- accounts and households ---------------------------------------------------------------
class Family(Base):
    """A household: one or more legal guardians (each with their own login) and children."""

    __tablename__ = "families"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    guardians: Mapped[list["Guardian"]] = relationship(back_populates="family", order_by="Guardian.created_at")
    children: Mapped[list["Child"]] = relationship(back_populates="family", order_by="Child.birth_date")
    communes: Mapped[list["FamilyCommune"]] = relationship(back_populates="family")


class FamilyCommune(Base):
    """A family's association with a commune, made by that commune's agent.

    `pending` until the parent activates (or, with an existing account, confirms). An agent of
    a commune only ever sees families associated with it.
    """

    __tablename__ = "family_communes"
    family_id: Mapped[str] = mapped_column(sa.ForeignKey("families.id", ondelete="CASCADE"), primary_key=True)
    commune_slug: Mapped[str] = mapped_column(sa.ForeignKey("communes.slug"), primary_key=True, index=True)
    status: Mapped[str] = mapped_column(sa.String(10), default="pending")  # pending | active
    # The family name as this commune's agent typed it (shown to them while pending, so a
    # commune learns nothing of a family registered elsewhere before the parent confirms).
    registered_name: Mapped[str] = mapped_column(sa.String(200))
    registered_by: Mapped[str | None] = mapped_column(sa.String(36))  # the agent's sub
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    family: Mapped[Family] = relationship(back_populates="communes")
    commune: Mapped[Commune] = relationship(lazy="joined")


class Guardian(Base):
    """A responsable légal. `user_id` is their login, empty until they have one."""

    __tablename__ = "guardians"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    family_id: Mapped[str] = mapped_column(sa.ForeignKey("families.id", ondelete="CASCADE"), index=True)
    # A login belongs to at most one family.
    user_id: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id"), unique=True)
    given_name: Mapped[str | None] = mapped_column(sa.String(100))
    family_name: Mapped[str | None] = mapped_column(sa.String(100))
    email: Mapped[str | None] = mapped_column(sa.String(320))  # contact e-mail
    phone: Mapped[str | None] = mapped_column(sa.String(40))
    street: Mapped[str | None] = mapped_column(sa.String(200))
    postcode: Mapped[str | None] = mapped_column(sa.String(5))
    city: Mapped[str | None] = mapped_column(sa.String(100))
    is_primary: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    family: Mapped[Family] = relationship(back_populates="guardians")
    user: Mapped[User | None] = relationship(lazy="joined")


class Child(Base):
    __tablename__ = "children"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    family_id: Mapped[str] = mapped_column(sa.ForeignKey("families.id", ondelete="CASCADE"), index=True)
    given_name: Mapped[str] = mapped_column(sa.String(100))
    family_name: Mapped[str] = mapped_column(sa.String(100))
    birth_date: Mapped[date] = mapped_column(sa.Date)
    school: Mapped[str | None] = mapped_column(sa.String(200))
    class_name: Mapped[str | None] = mapped_column(sa.String(100))
    medical_info: Mapped[str | None] = mapped_column(sa.Text)
    # [{"name", "phone", "relation"}]: adults allowed to pick the child up.
    pickup_authorisations: Mapped[list] = mapped_column(sa.JSON, default=list)
    # Where the child also lives (shared custody); changed only through an accepted request.
    alternate_street: Mapped[str | None] = mapped_column(sa.String(200))
    alternate_postcode: Mapped[str | None] = mapped_column(sa.String(5))
    alternate_city: Mapped[str | None] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    family: Mapped[Family] = relationship(back_populates="children")


class Activation(Base):
    """A single-use activation link for one family in one commune.

    Only the SHA-256 of the token is kept. A re-send supersedes the previous link.
    """

    __tablename__ = "activations"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    family_id: Mapped[str] = mapped_column(sa.ForeignKey("families.id", ondelete="CASCADE"), index=True)
    commune_slug: Mapped[str] = mapped_column(sa.ForeignKey("communes.slug"), index=True)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id"))  # the account it activates
    email: Mapped[str] = mapped_column(sa.String(320))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(sa.String(36))  # the agent's sub
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Id of the ActivationIssued event: notify's notification.sent names it (sets sent_at).
    source_event_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # notify gave up sending it (notification.failed): the agent checks the address and re-sends.
    send_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    send_error: Mapped[str | None] = mapped_column(sa.Text)
    existing_account: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    # Step 1/2 kept until step 2/2 applies it (so an abandoned activation changes nothing).
    profile: Mapped[dict | None] = mapped_column(sa.JSON)
    profile_submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Invitation(Base):
    """A legal guardian invites another adult onto the same family (same link scheme)."""

    __tablename__ = "invitations"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    family_id: Mapped[str] = mapped_column(sa.ForeignKey("families.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(sa.String(320))
    invited_by: Mapped[str] = mapped_column(sa.ForeignKey("users.id"))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_user_id: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id"))
    source_event_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    send_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    send_error: Mapped[str | None] = mapped_column(sa.Text)


# Tables of the sign-in side (SSO sessions, throttling, reset links, TOTP use) live in their
# own module on this Base; imported here so that Alembic and the agreement test see them.
from identity.signin import models as _signin_models  # noqa: E402,F401

# Tables of the OpenID Connect provider (clients, codes, tokens, consents, keys) live in
# identity/oidc/models.py on this Base; imported here so that Alembic sees them.
from identity.oidc import models as _oidc_models  # noqa: E402,F401
