"""Activation by link: the family's first guardian completes their profile and password
(or, with an existing account, confirms joining the commune)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from contracts.identity import FamilyActivated, PasswordChanged
from servicekit.messaging.outbox import add_event
from servicekit.tokens import Caller

from identity import audit, passwords, profile_rules
from identity.errors import Conflict, DeadLink, InvalidInput, NotAllowed, NotFound
from identity.household_views import commune_view, iso
from identity.households import facts
from identity.households.callers import SOURCE, guardian_of, password_refusal, user_by_sub
from identity.links import DEAD_LINK_MESSAGES, UNKNOWN_LINK_MESSAGE, hash_token, link_state
from identity.models import Activation, FamilyCommune, User, utcnow


def _live_activation(session: Session, token: str, now: datetime) -> Activation:
    activation = session.scalars(
        sa.select(Activation).where(Activation.token_hash == hash_token(token)).with_for_update()
    ).first()
    if activation is None:
        raise NotFound(UNKNOWN_LINK_MESSAGE)
    state = link_state(now, activation.expires_at, activation.used_at, activation.superseded_at)
    if state != "valid":
        raise DeadLink(DEAD_LINK_MESSAGES[state], state)
    return activation


def _activation_step(activation: Activation, user: User) -> str:
    if user.is_active:
        return "confirm"
    return "password" if activation.profile else "profile"


def get_activation(session: Session, token: str, now: datetime | None = None) -> dict:
    now = now or utcnow()
    activation = _live_activation(session, token, now)
    user = session.get(User, activation.user_id)
    association = session.get(FamilyCommune, (activation.family_id, activation.commune_slug))
    return {
        "state": "valid",
        "step": _activation_step(activation, user),
        "commune": commune_view(association.commune),
        "family_name": association.registered_name,
        "email": activation.email,
        "existing_account": user.is_active,
        "expires_at": iso(activation.expires_at),
        "profile": activation.profile,
    }


def submit_activation_profile(session: Session, token: str, data: dict[str, Any],
                              now: datetime | None = None) -> dict:
    """Step 1/2: kept on the link until the password is set (an abandoned activation changes nothing)."""
    now = now or utcnow()
    activation = _live_activation(session, token, now)
    if session.get(User, activation.user_id).is_active:
        raise Conflict("Un compte existe déjà pour cette adresse e-mail : connectez-vous pour confirmer.")
    activation.profile = profile_rules.check_profile(data, activation.email, now.date())
    activation.profile_submitted_at = now
    session.flush()
    return get_activation(session, token, now)


def submit_activation_password(session: Session, token: str, password: str | None,
                               now: datetime | None = None) -> dict:
    """Step 2/2: the account, the family's profile and the commune association become active."""
    now = now or utcnow()
    activation = _live_activation(session, token, now)
    user = session.get(User, activation.user_id)
    if user.is_active:
        raise Conflict("Un compte existe déjà pour cette adresse e-mail : connectez-vous pour confirmer.")
    if not activation.profile:
        raise Conflict("Complétez d'abord vos informations (étape 1 sur 2).")
    if not password:
        raise InvalidInput({"password": profile_rules.REQUIRED})
    refusal = password_refusal(password, user.email)
    if refusal:
        raise InvalidInput({"password": refusal})
    profile = activation.profile
    user.given_name, user.family_name = profile["given_name"], profile["family_name"]
    user.birth_date = date.fromisoformat(profile["birth_date"])
    user.phone = profile["phone"]
    user.password_hash = passwords.hash_password(password)
    user.password_changed_at = now
    user.is_active = True
    guardian = guardian_of(session, user)
    guardian.given_name, guardian.family_name = profile["given_name"], profile["family_name"]
    guardian.email, guardian.phone = guardian.email or user.email, profile["phone"]
    guardian.street, guardian.postcode, guardian.city = profile["street"], profile["postcode"], profile["city"]
    facts.address_changed(session, guardian, now)
    add_event(session, SOURCE, PasswordChanged(user_id=user.sub, email=user.email, given_name=user.given_name,
                                               changed_at=now, reason="activation"))
    return _join_commune(session, activation, user, now, action="account.activated")


def confirm_activation(session: Session, caller: Caller, token: str, now: datetime | None = None) -> dict:
    """An existing account joins the commune; the caller must be the signed-in owner of the e-mail."""
    now = now or utcnow()
    activation = _live_activation(session, token, now)
    user = user_by_sub(session, caller.sub)
    if user is None or user.email != activation.email.lower():
        raise NotAllowed("Ce lien a été envoyé à une autre adresse e-mail : connectez-vous avec le compte "
                         f"de l'adresse {activation.email}.")
    if not user.is_active:
        raise Conflict("Terminez d'abord l'activation de votre compte.")
    guardian = guardian_of(session, user)
    if guardian is None or guardian.family_id != activation.family_id:
        raise Conflict("Votre compte n'est plus rattaché à la famille enregistrée par la commune : "
                       "contactez votre mairie.")
    return _join_commune(session, activation, user, now, action="commune.joined")


def _join_commune(session: Session, activation: Activation, user: User, now: datetime, action: str) -> dict:
    association = session.get(FamilyCommune, (activation.family_id, activation.commune_slug))
    association.status, association.activated_at = "active", now
    activation.used_at = now
    add_event(session, SOURCE, FamilyActivated(family_id=activation.family_id, commune=activation.commune_slug,
                                               user_id=user.sub))
    audit.record(session, action, actor_user_id=user.id, subject_user_id=user.id,
                 commune_slug=activation.commune_slug, family_id=activation.family_id)
    return {"sub": user.sub, "email": user.email, "family_id": activation.family_id,
            "commune": commune_view(association.commune)}
