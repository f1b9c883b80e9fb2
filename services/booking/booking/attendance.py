"""Attendance (pointage): the day's list of a séance for the staff, and what they record.

Each child is marked present, absent (justified or not), or present without booking. A period
billing has invoiced (period.locked.v1) can no longer change.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit.db import dialect_insert
from servicekit.problems import Problem
from servicekit.tokens import Caller
from servicekit.types import isoformat_utc, utcnow

from booking import access, audit, events
from booking.catalogue import _prestation
from booking.domain.deadlines import PARIS
from booking.domain.facts import Attendance, BookingStatus
from booking.models import attendance, bookings, children, period_locks

BOOKED = (BookingStatus.CONFIRMED.value, BookingStatus.CANCELLATION_REQUESTED.value)
LABELS = {Attendance.PRESENT.value: "Présent", Attendance.ABSENT_JUSTIFIED.value: "Absent (justifié)",
          Attendance.ABSENT_UNJUSTIFIED.value: "Absent (non justifié)"}


LOCKED_REASON = "période facturée"
LOCKED = "Cette période est facturée : le pointage ne peut plus être modifié."


def locked_period(session: Session, commune: str, day: dt.date) -> dict | None:
    """The invoiced period holding `day` (billing's period.locked.v1), or None."""
    row = session.execute(sa.select(period_locks.c.first, period_locks.c.last).where(
        period_locks.c.commune == commune, period_locks.c.first <= day, period_locks.c.last >= day)
        .order_by(period_locks.c.first)).first()
    return None if row is None else {"first": row.first.isoformat(), "last": row.last.isoformat(),
                                     "reason": LOCKED_REASON}


def is_locked(session: Session, commune: str, day: dt.date) -> bool:
    return locked_period(session, commune, day) is not None


def day_list(session: Session, caller: Caller, prestation_id: str, session_date: str, page: int = 1,
             per_page: int = 200) -> dict:
    """The children expected at a séance (booked) and those marked without booking, by name."""
    commune = access.agent_commune(session, caller)
    prestation = _prestation(session, commune, prestation_id)
    day = dt.date.fromisoformat(session_date)
    booked = {r["child_id"]: r for r in session.execute(sa.select(bookings.c.child_id, bookings.c.status).where(
        bookings.c.prestation_id == prestation_id, bookings.c.session_date == day,
        bookings.c.status.in_(BOOKED))).mappings()}
    marks = {r["child_id"]: r for r in session.execute(sa.select(attendance).where(
        attendance.c.prestation_id == prestation_id, attendance.c.session_date == day)).mappings()}
    ids = set(booked) | set(marks)
    names = {r["child_id"]: r for r in session.execute(
        sa.select(children).where(children.c.child_id.in_(ids))).mappings()} if ids else {}
    rows = []
    for child_id in ids:
        child, mark = names.get(child_id), marks.get(child_id)
        rows.append({
            "child_id": child_id, "given_name": child["given_name"] if child else None,
            "family_name": child["family_name"] if child else None,
            "class_name": child["class_name"] if child else None, "booked": child_id in booked,
            "cancellation_requested": (booked.get(child_id, {}).get("status")
                                       == BookingStatus.CANCELLATION_REQUESTED.value),
            "status": mark["status"] if mark else None, "status_label": LABELS.get(mark["status"]) if mark else None,
            "recorded_at": isoformat_utc(mark["recorded_at"]) if mark else None})
    rows.sort(key=lambda r: ((r["family_name"] or "").lower(), (r["given_name"] or "").lower(), r["child_id"]))
    start = (page - 1) * per_page
    period = locked_period(session, commune, day)
    return {"prestation_id": prestation_id, "prestation_label": prestation["label"], "session_date": day.isoformat(),
            "locked": period is not None, "locked_period": period, "items": rows[start:start + per_page],
            "page": page, "per_page": per_page, "total": len(rows)}


def record(session: Session, caller: Caller, prestation_id: str, session_date: str, body: Mapping[str, Any],
           now: dt.datetime | None = None) -> dict:
    commune = access.agent_commune(session, caller)
    mark(session, commune, caller, _prestation(session, commune, prestation_id), dt.date.fromisoformat(session_date),
         body["marks"], now)
    return day_list(session, caller, prestation_id, session_date)


def mark(session: Session, commune: str, by: Caller | str, prestation: Mapping, day: dt.date,
         marks: list[Mapping[str, Any]], now: dt.datetime | None = None) -> int:
    """Record the marks of one séance for `by` (the staff's agent, or the demo seed), whose access to
    `commune` is already checked; each change published (`attendance.recorded.v1`) in this
    transaction. Returns how many marks changed."""
    now = now or utcnow()
    prestation_id = prestation["id"]
    sub = by.sub if isinstance(by, Caller) else by
    if day > now.astimezone(PARIS).date():
        raise Problem(422, "On ne peut pointer qu'une séance du jour ou passée.")
    if is_locked(session, commune, day):
        raise Problem(409, LOCKED)
    marks = {m["child_id"]: Attendance(m["status"]).value for m in marks}
    booked = set(session.execute(sa.select(bookings.c.child_id).where(
        bookings.c.prestation_id == prestation_id, bookings.c.session_date == day,
        bookings.c.status.in_(BOOKED))).scalars())
    previous = {r["child_id"]: r["status"] for r in session.execute(sa.select(attendance).where(
        attendance.c.prestation_id == prestation_id, attendance.c.session_date == day)).mappings()}
    changed = 0
    for child_id, status in marks.items():
        child = access.commune_child(session, commune, child_id, include_removed=True)
        if previous.get(child_id) == status:
            continue
        mark = {"prestation_id": prestation_id, "session_date": day, "child_id": child_id, "commune": commune,
                "family_id": child["family_id"], "status": status, "booked": child_id in booked,
                "recorded_by": sub, "recorded_at": now}
        stmt = dialect_insert(session, attendance).values(**mark)
        session.execute(stmt.on_conflict_do_update(
            index_elements=[attendance.c.prestation_id, attendance.c.session_date, attendance.c.child_id],
            set_={k: stmt.excluded[k] for k in ("status", "booked", "recorded_by", "recorded_at")}))
        events.attendance_recorded(session, mark, prestation)
        changed += 1
    audit.record(session, commune, by, "attendance.recorded", prestation_id=prestation_id, session_date=day,
                 changed=changed)
    return changed


def remove(session: Session, caller: Caller, prestation_id: str, session_date: str, child_id: str,
           now: dt.datetime | None = None) -> dict:
    """Remove one child's mark set by mistake (the child is back to "not marked"); refused once
    the period is invoiced. Audited with the status removed, and published
    (`attendance.removed.v1`, in this transaction) so that billing stops pricing the mark."""
    now = now or utcnow()
    commune = access.agent_commune(session, caller)
    prestation = _prestation(session, commune, prestation_id)
    day = dt.date.fromisoformat(session_date)
    if is_locked(session, commune, day):
        raise Problem(409, LOCKED)
    removed = session.execute(attendance.delete().where(
        attendance.c.prestation_id == prestation_id, attendance.c.session_date == day,
        attendance.c.child_id == child_id, attendance.c.commune == commune).returning(
            attendance.c.status, attendance.c.family_id, attendance.c.recorded_at)).first()
    if removed is None:
        raise Problem(404, "Aucun pointage de cet enfant pour cette séance.")
    # strictly after the mark it removes (consumers order a slot's marks and removals by time)
    removed_at = max(now, removed.recorded_at + dt.timedelta(microseconds=1))
    events.attendance_removed(session, {"family_id": removed.family_id, "child_id": child_id, "session_date": day,
                                        "status": removed.status}, prestation, removed_at)
    audit.record(session, commune, caller, "attendance.removed", prestation_id=prestation_id, session_date=day,
                 child_id=child_id, status=removed.status)
    return day_list(session, caller, prestation_id, session_date)
