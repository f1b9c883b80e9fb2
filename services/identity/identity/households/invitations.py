"""A guardian invites a second adult onto the family (single-use link, same scheme as activation)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from contracts.identity import GuardianInvited, PasswordChanged
from servicekit.messaging.outbox import add_event
from servicekit.tokens import Caller

from identity import audit, passwords, profile_rules
from identity.errors import Conflict, DeadLink, InvalidInput, NotAllowed, NotFound
from identity.household_views import invitation_view, iso
from identity.households import facts
from identity.households.callers import (SOURCE, guardian_of, password_refusal, signed_in_guardian, user_by_email,
                                         user_by_sub)
from identity.links import INVITATION_DEAD_LINK_MESSAGES, UNKNOWN_LINK_MESSAGE, expiry, hash_token, link_state, link_url, new_token
from identity.models import Family, Guardian, Invitation, User, utcnow


def invite_guardian(session: Session, settings, caller: Caller, data: dict[str, Any],
                    now: datetime | None = None) -> dict:
    now = now or utcnow()
    user, guardian = signed_in_guardian(session, caller)
    email = profile_rules.check_invitation_email(data)
    already = session.scalars(
        sa.select(Guardian).join(User, User.id == Guardian.user_id)
        .where(Guardian.family_id == guardian.family_id, User.email == email)
    ).first()
    if already is not None:
        raise Conflict("Cette personne est déjà responsable de votre famille.")
    session.execute(
        sa.update(Invitation)
        .where(Invitation.family_id == guardian.family_id, Invitation.email == email,
               Invitation.used_at.is_(None), Invitation.superseded_at.is_(None))
        .values(superseded_at=now)
    )
    token, token_hash = new_token()
    invitation = Invitation(family_id=guardian.family_id, email=email, invited_by=user.id, token_hash=token_hash,
                            expires_at=expiry(now, settings.activation_ttl_hours), created_at=now)
    session.add(invitation)
    session.flush()
    envelope = add_event(session, SOURCE, GuardianInvited(
        invitation_id=invitation.id, family_id=guardian.family_id, family_name=guardian.family.name, email=email,
        inviter_name=user.display_name, link=link_url(settings.public_url, "invitation", token),
        expires_at=invitation.expires_at))
    invitation.source_event_id = envelope.id
    audit.record(session, "guardian.invited", actor_user_id=user.id, family_id=guardian.family_id,
                 invitation_id=invitation.id)
    return invitation_view(invitation, now)


def _live_invitation(session: Session, token: str, now: datetime) -> Invitation:
    invitation = session.scalars(
        sa.select(Invitation).where(Invitation.token_hash == hash_token(token)).with_for_update()
    ).first()
    if invitation is None:
        raise NotFound(UNKNOWN_LINK_MESSAGE)
    state = link_state(now, invitation.expires_at, invitation.used_at, invitation.superseded_at)
    if state != "valid":
        raise DeadLink(INVITATION_DEAD_LINK_MESSAGES[state], state)
    return invitation


def get_invitation(session: Session, token: str, now: datetime | None = None) -> dict:
    now = now or utcnow()
    invitation = _live_invitation(session, token, now)
    existing = user_by_email(session, invitation.email)
    has_account = bool(existing and existing.is_active)
    inviter = session.get(User, invitation.invited_by)
    return {
        "state": "valid",
        "step": "confirm" if has_account else "accept",
        "family_name": session.get(Family, invitation.family_id).name,
        "email": invitation.email,
        "inviter_name": inviter.display_name,
        "existing_account": has_account,
        "expires_at": iso(invitation.expires_at),
    }


def accept_invitation(session: Session, token: str, data: dict[str, Any], now: datetime | None = None) -> dict:
    """The invited adult creates their own login, linked as a guardian of the same family."""
    now = now or utcnow()
    invitation = _live_invitation(session, token, now)
    user = user_by_email(session, invitation.email)
    if user is not None and user.is_active:
        raise Conflict("Un compte existe déjà pour cette adresse e-mail : connectez-vous pour accepter l'invitation.")
    if user is not None and guardian_of(session, user) is not None:
        raise Conflict("Cette adresse e-mail est déjà rattachée à une autre famille : contactez votre mairie.")
    profile = profile_rules.check_invitation_profile(data, now.date())
    refusal = password_refusal(data["password"], invitation.email)
    if refusal:
        raise InvalidInput({"password": refusal})
    if user is None:
        user = User(email=invitation.email)
        session.add(user)
    user.given_name, user.family_name, user.phone = profile["given_name"], profile["family_name"], profile["phone"]
    user.birth_date = profile["birth_date"]
    user.password_hash = passwords.hash_password(data["password"])
    user.password_changed_at = now
    user.is_active = True
    session.flush()
    add_event(session, SOURCE, PasswordChanged(user_id=user.sub, email=user.email, given_name=user.given_name,
                                               changed_at=now, reason="activation"))
    return _join_family(session, invitation, user, now)


def confirm_invitation(session: Session, caller: Caller, token: str, now: datetime | None = None) -> dict:
    """An existing account (the signed-in owner of the invited e-mail) joins the family."""
    now = now or utcnow()
    invitation = _live_invitation(session, token, now)
    user = user_by_sub(session, caller.sub)
    if user is None or user.email != invitation.email:
        raise NotAllowed("Cette invitation a été envoyée à une autre adresse e-mail : connectez-vous avec le "
                         f"compte de l'adresse {invitation.email}.")
    if not user.is_active:
        raise Conflict("Terminez d'abord l'activation de votre compte.")
    current = guardian_of(session, user)
    if current is not None:
        if current.family_id == invitation.family_id:
            raise Conflict("Vous êtes déjà responsable de cette famille.")
        raise Conflict("Votre compte est déjà rattaché à une autre famille : contactez votre mairie.")
    return _join_family(session, invitation, user, now)


def _join_family(session: Session, invitation: Invitation, user: User, now: datetime) -> dict:
    guardian = Guardian(family_id=invitation.family_id, user_id=user.id, given_name=user.given_name,
                        family_name=user.family_name, email=user.email, phone=user.phone, is_primary=False)
    session.add(guardian)
    session.flush()
    facts.guardian_added(session, guardian, user, now)
    invitation.used_at, invitation.accepted_user_id = now, user.id
    audit.record(session, "guardian.joined", actor_user_id=user.id, subject_user_id=user.id,
                 family_id=invitation.family_id, invitation_id=invitation.id)
    session.flush()
    return {"sub": user.sub, "email": user.email, "family_id": invitation.family_id}
