"""What billing keeps of other services' facts (idempotent handlers; a late or repeated event never
moves a fact backwards: each part of a day's row keeps the moment of its latest fact).

- identity's children: names on invoice lines, birth dates for the yearly attestation;
- booking's bookings and attendance: one `booked_days` row per child, prestation and date, the
  monthly run's input. Its key (child:prestation:date) is also the key marked as invoiced;
- requests' accepted quotient familial: the family's QF in the commune (the latest fact wins,
  an agent's entry or a request).
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from contracts import booking, identity
from contracts import requests as requests_contract
from contracts.envelope import Envelope
from servicekit.db import dialect_insert

from billing.domain.pricing import Reason
from billing.models import booked_days, children


def day_key(child_id: str, prestation_id: str, day: dt.date) -> str:
    return f"{child_id}:{prestation_id}:{day.isoformat()}"


# --- identity ------------------------------------------------------------------------------------------
def on_child_facts(session: Session, envelope: Envelope) -> None:
    model = identity.ChildAdded if envelope.type == identity.ChildAdded.EVENT_TYPE else identity.ChildUpdated
    event = envelope.payload(model)
    facts = {"family_id": event.family_id, "given_name": event.given_name, "family_name": event.family_name,
             "birth_date": event.birth_date, "changed_at": event.changed_at}
    stmt = dialect_insert(session, children).values(child_id=event.child_id, **facts)
    session.execute(stmt.on_conflict_do_update(index_elements=["child_id"], set_=facts,
                                               where=children.c.changed_at <= event.changed_at))


def on_child_removed(session: Session, envelope: Envelope) -> None:
    event = envelope.payload(identity.ChildRemoved)
    session.execute(children.update().where(children.c.child_id == event.child_id,
                                            children.c.changed_at <= event.changed_at)
                    .values(removed_at=event.changed_at, changed_at=event.changed_at))


# --- booking ---------------------------------------------------------------------------------------------
def _slot(event) -> dict:
    return {"commune": event.commune, "family_id": event.family_id, "child_id": event.child_id,
            "prestation_id": event.prestation_id, "price_ref": event.price_ref, "payment_mode": event.payment_mode,
            "session_date": event.session_date}


def record_booking(session: Session, slot: dict, booking_id: str, status: str, refund: str | None,
                   at: dt.datetime) -> None:
    key = day_key(slot["child_id"], slot["prestation_id"], slot["session_date"])
    facts = {"booking_id": booking_id, "booking_status": status, "refund": refund, "booking_changed_at": at}
    stmt = dialect_insert(session, booked_days).values(day_key=key, **slot, **facts)
    newer = sa.or_(booked_days.c.booking_changed_at.is_(None), booked_days.c.booking_changed_at <= at)
    session.execute(stmt.on_conflict_do_update(index_elements=["day_key"], set_=facts, where=newer))


def on_booking_confirmed(session: Session, envelope: Envelope) -> None:
    event = envelope.payload(booking.BookingConfirmed)
    record_booking(session, _slot(event), event.booking_id, "confirmed", None, event.confirmed_at)


def on_booking_cancelled(session: Session, envelope: Envelope) -> None:
    event = envelope.payload(booking.BookingCancelled)
    record_booking(session, _slot(event), event.booking_id, "cancelled", event.refund, event.cancelled_at)
    if event.refund in ("refund", "credit"):
        from billing import ledger  # a day already invoiced (or paid in a cart) given back: a credit note
        ledger.credit_cancelled_day(session, event)


def record_attendance(session: Session, event, status: str | None, booked: bool | None, at: dt.datetime) -> None:
    """The day's attendance as of `at` (None: not marked), unless a later mark or removal is known."""
    key = day_key(event.child_id, event.prestation_id, event.session_date)
    facts = {"attendance": status, "attendance_booked": booked, "attendance_changed_at": at}
    stmt = dialect_insert(session, booked_days).values(day_key=key, **_slot(event), **facts)
    newer = sa.or_(booked_days.c.attendance_changed_at.is_(None), booked_days.c.attendance_changed_at <= at)
    session.execute(stmt.on_conflict_do_update(index_elements=["day_key"], set_=facts, where=newer))


def on_attendance_recorded(session: Session, envelope: Envelope) -> None:
    event = envelope.payload(booking.AttendanceRecorded)
    record_attendance(session, event, event.status, event.booked, event.recorded_at)


def on_attendance_removed(session: Session, envelope: Envelope) -> None:
    """A mark removed by booking: the day is "not marked" again. The removal's time stays on the row
    (even when it arrives first) so that the mark it removed, delivered late, never comes back."""
    event = envelope.payload(booking.AttendanceRemoved)
    record_attendance(session, event, None, None, event.removed_at)


# --- requests ---------------------------------------------------------------------------------------------
def on_quotient_accepted(session: Session, envelope: Envelope) -> None:
    """An accepted QF request: the family's QF in that commune, unless an agent entered one since."""
    from billing.models import family_accounts

    event = envelope.payload(requests_contract.QuotientUpdateAccepted)
    values = {"qf": event.quotient_familial, "qf_source": "request", "qf_set_by": event.request_id,
              "updated_at": event.accepted_at}
    stmt = dialect_insert(session, family_accounts).values(commune=event.commune, family_id=event.family_id,
                                                       direct_debit=False, **values)
    session.execute(stmt.on_conflict_do_update(index_elements=["commune", "family_id"], set_=values,
                                               where=family_accounts.c.updated_at <= event.accepted_at))


def reason_of(row) -> Reason | None:
    """The domain's reason for a day, from what booking said; None: attendance not recorded yet."""
    attendance, status = row["attendance"], row["booking_status"]
    if attendance == "present":
        return Reason.PRESENT if status == "confirmed" else Reason.PRESENT_WITHOUT_BOOKING
    if status == "cancelled":
        return Reason.CANCELLED_LATE if row["refund"] == "none" else Reason.CANCELLED_IN_TIME
    if attendance == "absent_justified":
        return Reason.ABSENT_JUSTIFIED
    if attendance == "absent_unjustified":
        return Reason.ABSENT_UNJUSTIFIED
    if status == "confirmed":
        return None
    return Reason.NOT_BOOKED


HANDLERS = (  # (source, event type, queue name, handler)
    ("identity", identity.ChildAdded.EVENT_TYPE, "children_added", on_child_facts),
    ("identity", identity.ChildUpdated.EVENT_TYPE, "children_updated", on_child_facts),
    ("identity", identity.ChildRemoved.EVENT_TYPE, "children_removed", on_child_removed),
    ("booking", booking.BookingConfirmed.EVENT_TYPE, "bookings_confirmed", on_booking_confirmed),
    ("booking", booking.BookingCancelled.EVENT_TYPE, "bookings_cancelled", on_booking_cancelled),
    ("booking", booking.AttendanceRecorded.EVENT_TYPE, "attendance_recorded", on_attendance_recorded),
    ("booking", booking.AttendanceRemoved.EVENT_TYPE, "attendance_removed", on_attendance_removed),
    ("requests", requests_contract.QuotientUpdateAccepted.EVENT_TYPE, "quotients_accepted", on_quotient_accepted),
)
