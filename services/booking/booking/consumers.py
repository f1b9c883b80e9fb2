"""What booking learns from other services' events (each handler idempotent on its own, besides
the inbox: a repeated or late event never moves a fact backwards).

- identity's household facts keep the `children` and `guardians` projections (a removed child
  keeps its bookings and attendance: the row is marked, never deleted);
- billing's payment outcome settles a cart awaiting payment (a payment for a cart already released
  goes back to billing as cart.paid_after_release.v1); its period lock freezes attendance;
- requests' accepted absence justification marks the booked séances as justified absences.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from contracts import billing, identity, requests
from contracts.envelope import Envelope
from servicekit.db import dialect_insert
from servicekit.types import utcnow

from booking import abandon, attendance, audit, carts, events
from booking.domain.facts import Attendance
from booking.models import attendance as attendance_table
from booking.models import bookings, children, guardians, period_locks, prestations


def _upsert(session: Session, table: sa.Table, key: str, values: dict, changes: dict) -> None:
    """Insert, or update unless the row already shows a newer fact."""
    stmt = dialect_insert(session, table).values(**values)
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
    event = envelope.payload(billing.PaymentSucceeded)
    earlier = abandon.for_an_earlier_validation(session, event.cart_id, event.validated_at)
    if earlier or not carts.payment_outcome(session, event.cart_id, succeeded=True):
        # billing gives the money back
        abandon.paid_after_release(session, event.cart_id, event.payment_id, earlier_validation=earlier)


def on_payment_failed(session: Session, envelope: Envelope) -> None:
    event = envelope.payload(billing.PaymentFailed)
    if not abandon.for_an_earlier_validation(session, event.cart_id, event.validated_at):
        carts.payment_outcome(session, event.cart_id, succeeded=False)


def on_period_locked(session: Session, envelope: Envelope) -> None:
    event = envelope.payload(billing.PeriodLocked)
    stmt = dialect_insert(session, period_locks).values(commune=event.commune, first=event.first, last=event.last,
                                                 locked_at=event.locked_at)
    session.execute(stmt.on_conflict_do_nothing())


def on_absence_justified(session: Session, envelope: Envelope) -> None:
    """An accepted request justifies a child's absence over some days: each booked séance of
    those days not marked present becomes a justified absence (not charged). Invoiced periods
    are left alone (recorded in the audit trail)."""
    event = envelope.payload(requests.AbsenceJustificationAccepted)
    booked = session.execute(
        sa.select(bookings.c.prestation_id, bookings.c.session_date, prestations)
        .join(prestations, prestations.c.id == bookings.c.prestation_id)
        .where(bookings.c.child_id == event.child_id, bookings.c.commune == event.commune,
               bookings.c.session_date.between(event.first_day, event.last_day),
               bookings.c.status.in_(attendance.BOOKED))
        .order_by(bookings.c.session_date, bookings.c.prestation_id)).mappings().all()
    marked = {(r.prestation_id, r.session_date): r.status for r in session.execute(
        sa.select(attendance_table.c.prestation_id, attendance_table.c.session_date, attendance_table.c.status)
        .where(attendance_table.c.child_id == event.child_id,
               attendance_table.c.session_date.between(event.first_day, event.last_day)))}
    justified = Attendance.ABSENT_JUSTIFIED.value
    # the mark is made now: never older than a mark or removal made since the request was accepted
    # (consumers order a séance's marks and removals by time)
    recorded_at = max(event.accepted_at, utcnow())
    for row in booked:
        slot = (row["prestation_id"], row["session_date"])
        if marked.get(slot) in (justified, Attendance.PRESENT.value):
            continue
        if attendance.is_locked(session, event.commune, row["session_date"]):
            audit.record(session, event.commune, audit.SYSTEM, "absence_justification.too_late",
                         request_id=event.request_id, child_id=event.child_id, session_date=row["session_date"])
            continue
        mark = {"prestation_id": slot[0], "session_date": slot[1], "child_id": event.child_id,
                "commune": event.commune, "family_id": event.family_id, "status": justified, "booked": True,
                "recorded_by": f"request:{event.request_id}"[:64], "recorded_at": recorded_at}
        stmt = dialect_insert(session, attendance_table).values(**mark)
        session.execute(stmt.on_conflict_do_update(
            index_elements=[attendance_table.c.prestation_id, attendance_table.c.session_date,
                            attendance_table.c.child_id],
            set_={k: stmt.excluded[k] for k in ("status", "recorded_by", "recorded_at")}))
        events.attendance_recorded(session, mark, row)


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
    ("requests", requests.AbsenceJustificationAccepted.EVENT_TYPE, "absences_justified", on_absence_justified),
)
