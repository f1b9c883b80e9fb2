"""What booking learns from other services' events (each handler idempotent on its own, besides
the inbox: a repeated or late event never moves a fact backwards).

- identity's household facts keep the `children` and `guardians` projections (a removed child
  keeps its bookings and attendance: the row is marked, never deleted);
- billing's payment outcome settles a cart awaiting payment; its period lock freezes attendance.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from contracts import billing, identity
from contracts.envelope import Envelope

from booking import carts
from booking.models import children, guardians, period_locks


def _insert(session: Session):
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def _upsert(session: Session, table: sa.Table, key: str, values: dict, changes: dict) -> None:
    """Insert, or update unless the row already shows a newer fact."""
    stmt = _insert(session)(table).values(**values)
    session.execute(stmt.on_conflict_do_update(index_elements=[table.c[key]], set_=changes,
                                               where=table.c.changed_at <= values["changed_at"]))


def on_child_facts(session: Session, envelope: Envelope) -> None:
    model = identity.ChildAdded if envelope.type == identity.ChildAdded.EVENT_TYPE else identity.ChildUpdated
    event = envelope.payload(model)
    facts = {"family_id": event.family_id, "given_name": event.given_name, "family_name": event.family_name,
             "birth_date": event.birth_date, "school": event.school, "class_name": event.class_name,
             "changed_at": event.changed_at}
    _upsert(session, children, "child_id", {"child_id": event.child_id, **facts}, facts)


def on_child_removed(session: Session, envelope: Envelope) -> None:
    event = envelope.payload(identity.ChildRemoved)
    session.execute(children.update().where(children.c.child_id == event.child_id,
                                            children.c.changed_at <= event.changed_at)
                    .values(removed_at=event.changed_at, changed_at=event.changed_at))


def on_guardian_added(session: Session, envelope: Envelope) -> None:
    event = envelope.payload(identity.GuardianAdded)
    facts = {"family_id": event.family_id, "user_id": event.user_id, "given_name": event.given_name,
             "family_name": event.family_name, "changed_at": event.changed_at}
    _upsert(session, guardians, "guardian_id", {"guardian_id": event.guardian_id, **facts}, facts)


def on_guardian_removed(session: Session, envelope: Envelope) -> None:
    event = envelope.payload(identity.GuardianRemoved)
    session.execute(guardians.update().where(guardians.c.guardian_id == event.guardian_id,
                                             guardians.c.changed_at <= event.changed_at)
                    .values(removed_at=event.changed_at, changed_at=event.changed_at))


def on_address_changed(session: Session, envelope: Envelope) -> None:
    event = envelope.payload(identity.FamilyAddressChanged)
    facts = {"family_id": event.family_id, "postcode": event.postcode, "city": event.city,
             "changed_at": event.changed_at}
    _upsert(session, guardians, "guardian_id", {"guardian_id": event.guardian_id, **facts}, facts)


def on_payment_succeeded(session: Session, envelope: Envelope) -> None:
    carts.payment_outcome(session, envelope.payload(billing.PaymentSucceeded).cart_id, succeeded=True)


def on_payment_failed(session: Session, envelope: Envelope) -> None:
    carts.payment_outcome(session, envelope.payload(billing.PaymentFailed).cart_id, succeeded=False)


def on_period_locked(session: Session, envelope: Envelope) -> None:
    event = envelope.payload(billing.PeriodLocked)
    stmt = _insert(session)(period_locks).values(commune=event.commune, first=event.first, last=event.last,
                                                 locked_at=event.locked_at)
    session.execute(stmt.on_conflict_do_nothing())


HANDLERS = (  # (source, event type, queue name, handler)
    ("identity", identity.ChildAdded.EVENT_TYPE, "children_added", on_child_facts),
    ("identity", identity.ChildUpdated.EVENT_TYPE, "children_updated", on_child_facts),
    ("identity", identity.ChildRemoved.EVENT_TYPE, "children_removed", on_child_removed),
    ("identity", identity.GuardianAdded.EVENT_TYPE, "guardians_added", on_guardian_added),
    ("identity", identity.GuardianRemoved.EVENT_TYPE, "guardians_removed", on_guardian_removed),
    ("identity", identity.FamilyAddressChanged.EVENT_TYPE, "family_addresses", on_address_changed),
    ("billing", billing.PaymentSucceeded.EVENT_TYPE, "payments_succeeded", on_payment_succeeded),
    ("billing", billing.PaymentFailed.EVENT_TYPE, "payments_failed", on_payment_failed),
    ("billing", billing.PeriodLocked.EVENT_TYPE, "periods_locked", on_period_locked),
)
