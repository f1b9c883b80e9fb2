"""booking's events (contracts.booking), written to the outbox in the caller's transaction."""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from contracts import booking as contract
from servicekit.messaging.outbox import add_event, event_document, events_written, write_events

SOURCE = "booking"


def _slot_facts(booking: Mapping[str, Any], prestation: Mapping[str, Any]) -> dict:
    return {"booking_id": booking["id"], "family_id": booking["family_id"], "child_id": booking["child_id"],
            "commune": prestation["commune"], "service_id": prestation["service_id"],
            "prestation_id": prestation["id"], "session_date": booking["session_date"],
            "payment_mode": prestation["payment_mode"], "price_ref": prestation["price_ref"]}


def confirmed(booking: Mapping, prestation: Mapping, via: str, now: dt.datetime) -> contract.BookingConfirmed:
    return contract.BookingConfirmed(**_slot_facts(booking, prestation), via=via, confirmed_at=now)


def cancelled(booking: Mapping, prestation: Mapping, refund: str, by: str,
              now: dt.datetime) -> contract.BookingCancelled:
    return contract.BookingCancelled(**_slot_facts(booking, prestation), refund=refund, by=by, cancelled_at=now)


def publish(session: Session, payloads: list) -> None:
    """Several events at once (a cart's lines): one outbox INSERT while the séances are locked."""
    write_events(session, SOURCE, payloads)


def document(payloads: list) -> str | None:
    """Several events as outbox rows for a statement of one's own (`outbox.INSERT_EVENTS_PG` as a
    step of a CTE, PostgreSQL); call `written` in the same transaction. None when there are none."""
    return event_document(SOURCE, payloads)


def written(session: Session) -> None:
    """booking's events were inserted by the caller's own statement: the relay is woken at commit."""
    events_written(session, SOURCE)


def booking_confirmed(session: Session, booking: Mapping, prestation: Mapping, via: str, now: dt.datetime) -> None:
    add_event(session, SOURCE, confirmed(booking, prestation, via, now))


def booking_cancelled(session: Session, booking: Mapping, prestation: Mapping, refund: str, by: str,
                      now: dt.datetime) -> None:
    add_event(session, SOURCE, cancelled(booking, prestation, refund, by, now))


def waiting_list_confirmed(session: Session, booking: Mapping, prestation: Mapping, by: str, now: dt.datetime) -> None:
    add_event(session, SOURCE, contract.WaitingListConfirmed(**_slot_facts(booking, prestation),
                                                             prestation_label=prestation["label"], by=by,
                                                             confirmed_at=now))


def attendance_recorded(session: Session, mark: Mapping, prestation: Mapping) -> None:
    add_event(session, SOURCE, contract.AttendanceRecorded(
        family_id=mark["family_id"], child_id=mark["child_id"], commune=prestation["commune"],
        service_id=prestation["service_id"], prestation_id=prestation["id"], session_date=mark["session_date"],
        status=mark["status"], booked=mark["booked"], payment_mode=prestation["payment_mode"],
        price_ref=prestation["price_ref"], recorded_at=mark["recorded_at"]))


def attendance_removed(session: Session, mark: Mapping, prestation: Mapping, now: dt.datetime) -> None:
    add_event(session, SOURCE, contract.AttendanceRemoved(
        family_id=mark["family_id"], child_id=mark["child_id"], commune=prestation["commune"],
        service_id=prestation["service_id"], prestation_id=prestation["id"], session_date=mark["session_date"],
        removed_status=mark["status"], payment_mode=prestation["payment_mode"], price_ref=prestation["price_ref"],
        removed_at=now))


def validated(cart: Mapping, lines: list[dict]) -> contract.CartValidated:
    return contract.CartValidated(
        cart_id=cart["id"], family_id=cart["family_id"], parent_id=cart["parent_sub"], state=cart["state"],
        validated_at=cart["validated_at"], hold_expires_at=cart["hold_expires_at"],
        lines=lines)  # dicts: validated as CartLineFact by pydantic in one call, not one model each



def abandoned(cart: Mapping, now: dt.datetime) -> contract.CartAbandoned:
    return contract.CartAbandoned(cart_id=cart["id"], family_id=cart["family_id"], validated_at=cart["validated_at"],
                                  abandoned_at=now)


def paid_after_release(cart: Mapping, payment_id: str, now: dt.datetime) -> contract.CartPaidAfterRelease:
    return contract.CartPaidAfterRelease(cart_id=cart["id"], family_id=cart["family_id"], payment_id=payment_id,
                                         cart_state=cart["state"], received_at=now)
