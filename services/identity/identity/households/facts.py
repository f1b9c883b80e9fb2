"""The household facts identity announces (child, guardian, address), in the caller's transaction.

booking, billing and requests keep their own copy of each family's children and guardians from
these events instead of asking identity on every page (contracts.identity).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from contracts.identity import ChildAdded, ChildUpdated, FamilyAddressChanged, GuardianAdded
from servicekit.messaging.outbox import add_event

from identity.households.callers import SOURCE
from identity.models import Child, Guardian, User, utcnow


def _child_facts(child: Child, now: datetime) -> dict:
    return {"child_id": child.id, "family_id": child.family_id, "given_name": child.given_name,
            "family_name": child.family_name, "birth_date": child.birth_date, "school": child.school,
            "class_name": child.class_name, "changed_at": now}


def child_added(session: Session, child: Child, now: datetime | None = None) -> None:
    add_event(session, SOURCE, ChildAdded(**_child_facts(child, now or utcnow())))


def child_updated(session: Session, child: Child, now: datetime | None = None) -> None:
    add_event(session, SOURCE, ChildUpdated(**_child_facts(child, now or utcnow())))


def guardian_added(session: Session, guardian: Guardian, user: User | None, now: datetime | None = None) -> None:
    add_event(session, SOURCE, GuardianAdded(
        guardian_id=guardian.id, family_id=guardian.family_id, user_id=user.sub if user is not None else None,
        given_name=guardian.given_name, family_name=guardian.family_name, changed_at=now or utcnow()))


def address_changed(session: Session, guardian: Guardian, now: datetime | None = None) -> None:
    add_event(session, SOURCE, FamilyAddressChanged(
        family_id=guardian.family_id, guardian_id=guardian.id, street=guardian.street or "",
        postcode=guardian.postcode or "", city=guardian.city or "", changed_at=now or utcnow()))
