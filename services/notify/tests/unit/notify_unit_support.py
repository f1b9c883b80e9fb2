"""A small directory for the unit tests: the Martin family of Heillecourt, fed through notify's
own consumers of identity's events (so the tests also go through the directory's handlers)."""
from __future__ import annotations

from datetime import datetime, timezone

from contracts.envelope import Envelope
from contracts.identity import (ActivationIssued, AgentAssigned, AgentRemoved, ChildAdded, FamilyActivated, FamilyRegistered,
                               GuardianAdded, PasswordChanged, TotpEnrolmentRequested)
from servicekit.projections import agents as agents_projection
from servicekit.projections import families as families_projection

from notify import directory
from notify.models import agents, families

PUBLIC_URL = "http://127.0.0.1:8000"
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


def identity(payload, time=T0) -> Envelope:
    return Envelope(type=payload.EVENT_TYPE, source="identity", data=payload.model_dump(mode="json"), time=time)


def feed(session, *payloads) -> None:
    """Hand identity's events to every directory consumer of their type."""
    for payload in payloads:
        envelope = identity(payload)
        for model, handle in directory.HANDLERS.values():
            if model.EVENT_TYPE == payload.EVENT_TYPE:
                handle(session, envelope)
        if isinstance(payload, FamilyRegistered):
            families_projection.on_family_registered(families)(session, envelope)
        if isinstance(payload, FamilyActivated):
            families_projection.on_family_activated(families)(session, envelope)
        if isinstance(payload, AgentAssigned):
            agents_projection.on_agent_assigned(agents)(session, envelope)
        if isinstance(payload, AgentRemoved):
            agents_projection.on_agent_removed(agents)(session, envelope)


def martin_family(session) -> None:
    """Léa (u-lea) activated the family; Paul (u-paul) joined by invitation; one child, Zoé."""
    feed(session,
         FamilyRegistered(family_id="f-martin", commune="heillecourt", family_name="Martin", email="lea@example.org"),
         ActivationIssued(activation_id="a1", family_id="f-martin", commune="heillecourt", commune_name="Heillecourt",
                          family_name="Martin", email="lea@example.org", link=f"{PUBLIC_URL}/activation/x",
                          expires_at=T0, existing_account=False),
         PasswordChanged(user_id="u-lea", email="lea@example.org", given_name="Léa", changed_at=T0, reason="activation"),
         FamilyActivated(family_id="f-martin", commune="heillecourt", user_id="u-lea"),
         GuardianAdded(guardian_id="g-lea", family_id="f-martin", user_id="u-lea", given_name="Léa", changed_at=T0),
         PasswordChanged(user_id="u-paul", email="paul@example.org", given_name="Paul", changed_at=T0,
                         reason="activation"),
         GuardianAdded(guardian_id="g-paul", family_id="f-martin", user_id="u-paul", given_name="Paul", changed_at=T0),
         ChildAdded(child_id="c-zoe", family_id="f-martin", given_name="Zoé", family_name="Martin",
                    birth_date="2019-05-04", changed_at=T0))


def heillecourt_agent(session) -> None:
    feed(session,
         AgentAssigned(user_id="u-anne", commune="heillecourt", role="agent", assigned_at=T0),
         TotpEnrolmentRequested(enrolment_id="e1", user_id="u-anne", email="anne@mairie.example.org",
                                given_name="Anne", link=f"{PUBLIC_URL}/t", expires_at=T0))
