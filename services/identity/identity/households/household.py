"""The family space: the signed-in guardian's household, contact data, children; the claims
given to relying parties; address changes (only through an accepted request)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit.tokens import Caller

from identity import audit, profile_rules
from identity.errors import NotAllowed, NotFound
from identity.household_views import child_view, commune_view, guardian_view, invitation_view
from identity.households import facts
from identity.households.callers import guardian_of, signed_in_guardian
from identity.models import Child, Commune, FamilyCommune, Guardian, Invitation, User, utcnow


def family_claims(db_session: Session, user: User) -> dict:
    """For id_tokens and userinfo: the user's family and its active communes."""
    guardian = guardian_of(db_session, user)
    if guardian is None:
        return {"family_id": None, "communes": []}
    rows = db_session.execute(
        sa.select(Commune.slug, Commune.name).join(FamilyCommune, FamilyCommune.commune_slug == Commune.slug)
        .where(FamilyCommune.family_id == guardian.family_id, FamilyCommune.status == "active")
        .order_by(Commune.name)
    ).all()
    return {"family_id": guardian.family_id, "communes": [{"slug": s, "name": n} for s, n in rows]}


def get_household(session: Session, caller: Caller, now: datetime | None = None) -> dict:
    now = now or utcnow()
    user, guardian = signed_in_guardian(session, caller)
    family = guardian.family
    invitations = session.scalars(
        sa.select(Invitation).where(Invitation.family_id == family.id).order_by(Invitation.created_at.desc())
    ).all()
    return {
        "family": {"id": family.id, "name": family.name, "login_email": user.email},
        "communes": [{**commune_view(a.commune), "status": a.status}
                     for a in sorted(family.communes, key=lambda a: a.commune.name)],
        "guardians": [guardian_view(g, user.id) for g in family.guardians],
        "children": [child_view(c) for c in family.children],
        "invitations": [invitation_view(i, now) for i in invitations],
    }


def update_family(session: Session, caller: Caller, data: dict[str, Any]) -> dict:
    user, guardian = signed_in_guardian(session, caller)
    name = profile_rules.check_family_name(data)
    guardian.family.name = name
    audit.record(session, "family.updated", actor_user_id=user.id, subject_user_id=user.id,
                 family_id=guardian.family_id, fields=["name"])
    session.flush()
    return get_household(session, caller)


def update_guardian(session: Session, caller: Caller, guardian_id: str, data: dict[str, Any]) -> dict:
    """A guardian's own contact data; the home address changes only through an accepted request."""
    user, me = signed_in_guardian(session, caller)
    target = session.get(Guardian, guardian_id)
    if target is None or target.family_id != me.family_id:
        raise NotFound("Ce responsable n'existe pas dans votre famille.")
    if target.id != me.id:
        raise NotAllowed("Vous ne pouvez modifier que vos propres coordonnées.")
    changes = profile_rules.check_contact(data)
    for field, value in changes.items():
        setattr(target, field, value)
    audit.record(session, "guardian.updated", actor_user_id=user.id, subject_user_id=user.id,
                 family_id=me.family_id, fields=sorted(changes))
    session.flush()
    return guardian_view(target, user.id)


def add_child(session: Session, caller: Caller, data: dict[str, Any], now: datetime | None = None) -> dict:
    now = now or utcnow()
    user, guardian = signed_in_guardian(session, caller)
    fields = profile_rules.check_child(data, now.date(), creating=True)
    child = Child(family_id=guardian.family_id, **fields)
    session.add(child)
    session.flush()
    facts.child_added(session, child, now)
    audit.record(session, "child.added", actor_user_id=user.id, family_id=guardian.family_id, child_id=child.id)
    return child_view(child)


def update_child(session: Session, caller: Caller, child_id: str, data: dict[str, Any],
                 now: datetime | None = None) -> dict:
    now = now or utcnow()
    user, guardian = signed_in_guardian(session, caller)
    child = session.get(Child, child_id)
    if child is None or child.family_id != guardian.family_id:
        raise NotFound("Cet enfant n'existe pas dans votre famille.")
    fields = profile_rules.check_child(data, now.date(), creating=False)
    for field, value in fields.items():
        setattr(child, field, value)
    audit.record(session, "child.updated", actor_user_id=user.id, family_id=guardian.family_id, child_id=child.id,
                 fields=sorted(fields))
    session.flush()
    facts.child_updated(session, child, now)
    return child_view(child)


def apply_address_change(session: Session, family_id: str, *, guardian_id: str | None = None,
                         child_id: str | None = None, address: dict[str, Any]) -> None:
    """Set a responsable's home address or a child's alternate address: the only way they
    change, called when a request (demande) asking for it is accepted."""
    if (guardian_id is None) == (child_id is None):
        raise ValueError("name exactly one of guardian_id and child_id")
    clean = profile_rules.check_address(address)
    if guardian_id is not None:
        guardian = session.get(Guardian, guardian_id)
        if guardian is None or guardian.family_id != family_id:
            raise NotFound("Ce responsable n'existe pas dans cette famille.")
        guardian.street, guardian.postcode, guardian.city = clean["street"], clean["postcode"], clean["city"]
        facts.address_changed(session, guardian)
    else:
        child = session.get(Child, child_id)
        if child is None or child.family_id != family_id:
            raise NotFound("Cet enfant n'existe pas dans cette famille.")
        child.alternate_street, child.alternate_postcode, child.alternate_city = (
            clean["street"], clean["postcode"], clean["city"])
    audit.record(session, "address.changed", family_id=family_id, guardian_id=guardian_id, child_id=child_id)
