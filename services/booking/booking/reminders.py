"""Booking reminders: children enrolled in a service who have no booking yet for next week.

For next week (Monday to Friday, Europe/Paris), each prestation of a service a child is enrolled
in that opens on some of those dates, with no booking of the child (whatever its status: the
parents already decided something) on them, and whose booking deadline for its first open day
is still ahead, makes one `booking_reminder.due.v1` per family, prestation and week (its
children listed). `booking_reminders` remembers what was announced, so running again (the job
runs several times a day) publishes nothing new.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict

import sqlalchemy as sa
from sqlalchemy.orm import Session

from contracts.booking import BookingReminderDue
from servicekit.messaging.outbox import add_event
from servicekit.types import utcnow

from booking import store
from booking.domain.deadlines import PARIS, DeadlineNotApplicable, deadline_for
from booking.domain.openings import opening_dates
from booking.events import SOURCE
from booking.models import booking_reminders, bookings, children, enrolments, prestations

REMINDERS_EVERY_SECONDS = 6 * 3600  # several runs a day: a restarted worker does not skip a day


def next_week(now: dt.datetime) -> tuple[dt.date, dt.date]:
    """Monday and Friday of the week after `now`'s (Paris calendar)."""
    today = now.astimezone(PARIS).date()
    monday = today + dt.timedelta(days=7 - today.weekday())
    return monday, monday + dt.timedelta(days=4)


def _enrolled(session: Session, first: dt.date, last: dt.date) -> list[dict]:
    """Enrolments covering part of [first, last] of children still in their family."""
    query = (sa.select(enrolments.c.commune, enrolments.c.family_id, enrolments.c.child_id, enrolments.c.service_id,
                       enrolments.c.first, enrolments.c.last)
             .select_from(enrolments.outerjoin(children, children.c.child_id == enrolments.c.child_id))
             .where(enrolments.c.first <= last, enrolments.c.last >= first, children.c.removed_at.is_(None)))
    return [dict(r) for r in session.execute(query).mappings()]


def _booked(session: Session, child_ids: list[str], first: dt.date, last: dt.date) -> set[tuple[str, str]]:
    """(child, prestation) pairs with any booking row on [first, last]."""
    rows = session.execute(sa.select(bookings.c.child_id, bookings.c.prestation_id).where(
        bookings.c.child_id.in_(child_ids), bookings.c.session_date.between(first, last))).all()
    return {(c, p) for c, p in rows}


def due_reminders(session: Session, now: dt.datetime) -> list[BookingReminderDue]:
    """The reminders due at `now` for next week, not announced yet."""
    monday, friday = next_week(now)
    enrolled = _enrolled(session, monday, friday)
    if not enrolled:
        return []
    service_ids = sorted({e["service_id"] for e in enrolled})
    ids = session.execute(sa.select(prestations.c.id).where(prestations.c.service_id.in_(service_ids))).scalars()
    by_service: dict[str, list] = defaultdict(list)
    for row, prestation in store.prestations_by_id(session, ids).values():
        by_service[row["service_id"]].append((row, prestation))
    booked = _booked(session, sorted({e["child_id"] for e in enrolled}), monday, friday)
    announced = {(f, p) for f, p in session.execute(
        sa.select(booking_reminders.c.family_id, booking_reminders.c.prestation_id)
        .where(booking_reminders.c.week_first == monday)).all()}
    calendars: dict[str, object] = {}
    due: dict[tuple[str, str], dict] = {}
    for e in enrolled:
        if e["commune"] not in calendars:
            calendars[e["commune"]] = store.calendar(session, e["commune"])
        calendar = calendars[e["commune"]]
        for row, prestation in by_service[e["service_id"]]:
            key = (e["family_id"], row["id"])
            if key in announced or (e["child_id"], row["id"]) in booked:
                continue
            days = opening_dates(prestation.schedule, calendar, max(monday, e["first"]), min(friday, e["last"]))
            if not days:
                continue
            try:
                deadline = deadline_for(prestation.policy.booking_deadline, days[0], calendar, prestation.starts_at)
            except DeadlineNotApplicable:
                continue
            if now >= deadline:
                continue
            entry = due.setdefault(key, {"row": row, "children": set(), "commune": e["commune"], "deadline": deadline})
            entry["children"].add(e["child_id"])
            entry["deadline"] = min(entry["deadline"], deadline)
    return [BookingReminderDue(family_id=family_id, commune=entry["commune"], child_ids=sorted(entry["children"]),
                               service_id=entry["row"]["service_id"], prestation_id=prestation_id,
                               prestation_label=entry["row"]["label"], week_first=monday, week_last=friday,
                               deadline=entry["deadline"])
            for (family_id, prestation_id), entry in sorted(due.items())]


def remind_unbooked(db, now: dt.datetime | None = None) -> int:
    """The worker's job: publish the due reminders and remember them, in one transaction."""
    now = now or utcnow()
    with db.transaction() as session:
        due = due_reminders(session, now)
        for event in due:
            add_event(session, SOURCE, event)
            session.execute(booking_reminders.insert().values(
                family_id=event.family_id, prestation_id=event.prestation_id, week_first=event.week_first,
                sent_at=now))
    return len(due)
