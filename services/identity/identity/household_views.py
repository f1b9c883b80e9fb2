"""Plain-dict views of accounts and households, shaped as openapi.yaml describes them."""
from __future__ import annotations

from datetime import date, datetime

from servicekit.types import isoformat_utc

from identity.links import link_state
from identity.models import Activation, Child, Commune, FamilyCommune, Guardian, Invitation


def iso(moment: datetime | date | None) -> str | None:
    if moment is None:
        return None
    if isinstance(moment, datetime):
        return isoformat_utc(moment)
    return moment.isoformat()


def commune_view(commune: Commune) -> dict:
    return {"slug": commune.slug, "name": commune.name}


def address_view(street: str | None, postcode: str | None, city: str | None) -> dict | None:
    if not (street or postcode or city):
        return None
    return {"street": street or "", "postcode": postcode or "", "city": city or ""}


def link_view(activation: Activation | None, now: datetime) -> dict | None:
    if activation is None:
        return None
    return {
        "id": activation.id,
        "state": link_state(now, activation.expires_at, activation.used_at, activation.superseded_at),
        "existing_account": activation.existing_account,
        "created_at": iso(activation.created_at),
        "expires_at": iso(activation.expires_at),
        "sent_at": iso(activation.sent_at),
        "send_failed_at": iso(activation.send_failed_at),
        "used_at": iso(activation.used_at),
    }


def invitation_view(invitation: Invitation, now: datetime) -> dict:
    return {
        "id": invitation.id,
        "email": invitation.email,
        "state": link_state(now, invitation.expires_at, invitation.used_at, invitation.superseded_at),
        "created_at": iso(invitation.created_at),
        "expires_at": iso(invitation.expires_at),
        "sent_at": iso(invitation.sent_at),
        "send_failed_at": iso(invitation.send_failed_at),
        "used_at": iso(invitation.used_at),
    }


def guardian_view(guardian: Guardian, me_user_id: str | None = None) -> dict:
    user = guardian.user
    return {
        "id": guardian.id,
        "given_name": guardian.given_name,
        "family_name": guardian.family_name,
        "email": guardian.email,
        "login_email": user.email if user else None,
        "phone": guardian.phone,
        "address": address_view(guardian.street, guardian.postcode, guardian.city),
        "is_primary": guardian.is_primary,
        "has_login": bool(user and user.is_active),
        "is_me": bool(me_user_id and guardian.user_id == me_user_id),
    }


def child_view(child: Child) -> dict:
    return {
        "id": child.id,
        "given_name": child.given_name,
        "family_name": child.family_name,
        "birth_date": iso(child.birth_date),
        "school": child.school,
        "class_name": child.class_name,
        "medical_info": child.medical_info,
        "pickup_authorisations": list(child.pickup_authorisations or []),
        "alternate_address": address_view(child.alternate_street, child.alternate_postcode, child.alternate_city),
    }


def agent_family_view(association: FamilyCommune, login_email: str | None, latest: Activation | None,
                      now: datetime) -> dict:
    # While pending, the commune sees only what its own agent typed (the family may already
    # exist in another commune, which this one has no business knowing before the parent confirms).
    family = association.family
    active = association.status == "active"
    return {
        "id": family.id,
        "name": family.name if active else association.registered_name,
        "login_email": login_email,
        "status": association.status,
        "registered_at": iso(association.registered_at),
        "registered_by": association.registered_by,
        "activated_at": iso(association.activated_at),
        "activation": link_view(latest, now),
    }
