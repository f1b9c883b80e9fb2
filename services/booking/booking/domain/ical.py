"""A child's bookings as an iCalendar feed, for a phone's calendar app.

Pure: data in, bytes out. The secret, revocable URL that serves it belongs to the adapter.
Timed séances carry their Europe/Paris time zone (with its VTIMEZONE), séances without hours are
all-day events; each booking keeps a stable UID so calendar apps update rather than duplicate it.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from icalendar import Calendar, Event

from .deadlines import PARIS
from .facts import BookingStatus

PRODID = "-//Espace Famille//Réservations//FR"
UID_DOMAIN = "espace-famille"

_ICAL_STATUS = {
    BookingStatus.CONFIRMED: "CONFIRMED",
    BookingStatus.CANCELLATION_REQUESTED: "CONFIRMED",  # still booked until an agent decides
    BookingStatus.HELD: "TENTATIVE",
    BookingStatus.PENDING_AGENT: "TENTATIVE",
    BookingStatus.CANCELLED: "CANCELLED",
}


@dataclass(frozen=True)
class FeedEntry:
    booking_id: str
    session_date: dt.date
    prestation_label: str  # "Repas"
    service_label: str  # "Restauration scolaire"
    status: BookingStatus
    starts_at: dt.time | None = None
    ends_at: dt.time | None = None
    updated_at: dt.datetime | None = None


def booking_feed(child_name: str, entries: Iterable[FeedEntry], generated_at: dt.datetime) -> bytes:
    """The feed of `child_name`'s bookings; waiting-list entries are left out (not a booking)."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", f"Réservations de {child_name}")
    calendar.add("x-wr-timezone", "Europe/Paris")
    shown = sorted((e for e in entries if e.status in _ICAL_STATUS),
                   key=lambda e: (e.session_date, e.starts_at or dt.time(0), e.booking_id))
    for entry in shown:
        calendar.add_component(_event(child_name, entry, generated_at))
    if shown:  # the VTIMEZONE only needs the transitions of the years shown
        calendar.add_missing_timezones(first_date=dt.date(shown[0].session_date.year, 1, 1),
                                       last_date=dt.date(shown[-1].session_date.year + 1, 1, 1))
    return calendar.to_ical()


def _event(child_name: str, entry: FeedEntry, generated_at: dt.datetime) -> Event:
    event = Event()
    event.add("uid", f"{entry.booking_id}@{UID_DOMAIN}")
    event.add("dtstamp", generated_at.astimezone(dt.timezone.utc))
    if entry.updated_at is not None:
        event.add("last-modified", entry.updated_at.astimezone(dt.timezone.utc))
    event.add("summary", f"{entry.prestation_label} – {child_name}")
    event.add("description", entry.service_label)
    event.add("status", _ICAL_STATUS[entry.status])
    if entry.starts_at is not None:
        start = dt.datetime.combine(entry.session_date, entry.starts_at, tzinfo=PARIS)
        end_time = entry.ends_at or entry.starts_at
        event.add("dtstart", start)
        event.add("dtend", max(start, dt.datetime.combine(entry.session_date, end_time, tzinfo=PARIS)))
    else:
        event.add("dtstart", entry.session_date)
        event.add("dtend", entry.session_date + dt.timedelta(days=1))
    event.add("transp", "TRANSPARENT")  # a child's activity does not make the parent busy
    return event
