"""Events published by identity on the `identity.events` exchange."""
from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from contracts.envelope import EventPayload


class FamilyRegistered(EventPayload):
    """An agent registered a family for a commune (the family may already exist elsewhere)."""

    EVENT_TYPE = "family.registered.v1"
    family_id: str
    commune: str            # commune slug (tenant id)
    family_name: str
    email: str              # login e-mail of the first responsable


class ActivationIssued(EventPayload):
    """A single-use activation link was made (first issue or re-send): notify e-mails it."""

    EVENT_TYPE = "activation.issued.v1"
    activation_id: str
    family_id: str
    commune: str
    commune_name: str
    family_name: str
    email: str
    link: str               # absolute URL of the gateway's activation page, token included
    expires_at: datetime
    existing_account: bool  # the e-mail already has an account: the parent signs in to confirm
    resend: bool = False


class FamilyActivated(EventPayload):
    """A family completed activation (or confirmed joining a commune)."""

    EVENT_TYPE = "family.activated.v1"
    family_id: str
    commune: str
    user_id: str


class GuardianInvited(EventPayload):
    EVENT_TYPE = "guardian.invited.v1"
    invitation_id: str
    family_id: str
    family_name: str
    email: str
    inviter_name: str
    link: str
    expires_at: datetime


class PasswordResetRequested(EventPayload):
    EVENT_TYPE = "password_reset.requested.v1"
    reset_id: str
    user_id: str
    email: str
    given_name: str | None = None
    link: str
    expires_at: datetime


class PasswordChanged(EventPayload):
    """Tells the user their password changed (security notice)."""

    EVENT_TYPE = "password.changed.v1"
    user_id: str
    email: str
    given_name: str | None = None
    changed_at: datetime
    reason: Literal["reset", "change", "activation"]


class BackchannelLogoutRequested(EventPayload):
    """An SSO session ended and one relying party asked to be told (OIDC Back-Channel Logout).

    Consumed by identity's own worker, which signs a fresh logout token and POSTs it, retrying
    on failure (the outbox makes it survive a restart; retries a short outage of the client)."""

    EVENT_TYPE = "backchannel_logout.requested.v1"
    client_id: str
    sid: str                # the ended SSO session (the `sid` of the client's id_tokens)
    user_sub: str | None = None


class AgentAssigned(EventPayload):
    """A user works for a commune as `agent` or `admin` (new assignment or role change).

    Other services keep a projection of current agents and refuse an agent's call for a
    commune they no longer work for."""

    EVENT_TYPE = "agent.assigned.v1"
    user_id: str            # the user's public sub (what service tokens carry)
    commune: str
    role: Literal["agent", "admin"]
    assigned_at: datetime


class AgentRemoved(EventPayload):
    """A user no longer works for a commune: their next call for it is refused everywhere."""

    EVENT_TYPE = "agent.removed.v1"
    user_id: str
    commune: str
    removed_at: datetime


class TotpEnrolmentRequested(EventPayload):
    """An agent (or operator) must set up their second factor: notify e-mails them a single-use
    link; only whoever controls that mailbox can bind the authenticator app."""

    EVENT_TYPE = "totp_enrolment.requested.v1"
    enrolment_id: str
    user_id: str            # public sub
    email: str
    given_name: str | None = None
    link: str               # absolute URL of the enrolment page, token included
    expires_at: datetime


# --- household facts (booking, billing and requests keep projections of them) ----------------
class ChildAdded(EventPayload):
    """A child joined a family."""

    EVENT_TYPE = "child.added.v1"
    child_id: str
    family_id: str
    given_name: str
    family_name: str
    birth_date: date
    school: str | None = None
    class_name: str | None = None
    changed_at: datetime


class ChildUpdated(EventPayload):
    """A child's identity or schooling changed (the full current facts, not a diff)."""

    EVENT_TYPE = "child.updated.v1"
    child_id: str
    family_id: str
    given_name: str
    family_name: str
    birth_date: date
    school: str | None = None
    class_name: str | None = None
    changed_at: datetime


class ChildRemoved(EventPayload):
    """A child left a family's account; other services keep the child's history."""

    EVENT_TYPE = "child.removed.v1"
    child_id: str
    family_id: str
    changed_at: datetime


class GuardianAdded(EventPayload):
    """A responsable joined a family (first guardian at activation, or an accepted invitation)."""

    EVENT_TYPE = "guardian.added.v1"
    guardian_id: str
    family_id: str
    user_id: str | None = None      # the guardian's public sub, when they have an account
    given_name: str | None = None
    family_name: str | None = None
    changed_at: datetime


class GuardianRemoved(EventPayload):
    EVENT_TYPE = "guardian.removed.v1"
    guardian_id: str
    family_id: str
    changed_at: datetime


class FamilyAddressChanged(EventPayload):
    """A responsable's home address changed (residency decides who books first)."""

    EVENT_TYPE = "family_address.changed.v1"
    family_id: str
    guardian_id: str
    street: str
    postcode: str
    city: str
    changed_at: datetime
