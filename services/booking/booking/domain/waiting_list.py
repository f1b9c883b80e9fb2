"""Waiting list of one séance: first come, first served when places free up.

A promoted child is confirmed at once when the prestation says so (the parent is told), or
gets a place held for them until an agent confirms (`PENDING_AGENT`), so a newcomer can never
take the place of a child who was waiting.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from .capacity import Occupancy
from .facts import BookingStatus


@dataclass(frozen=True)
class WaitingEntry:
    booking_id: str
    child_id: str
    joined_at: dt.datetime


@dataclass(frozen=True)
class Promotion:
    entry: WaitingEntry
    status: BookingStatus  # CONFIRMED or PENDING_AGENT


@dataclass(frozen=True)
class PromotionResult:
    promotions: tuple[Promotion, ...]
    still_waiting: tuple[WaitingEntry, ...]
    occupancy: Occupancy


def queue_order(entries: Iterable[WaitingEntry]) -> tuple[WaitingEntry, ...]:
    """First in, first out; the booking id breaks ties between entries of the same instant."""
    return tuple(sorted(entries, key=lambda e: (e.joined_at, e.booking_id)))


def promote(occupancy: Occupancy, entries: Iterable[WaitingEntry], auto_confirm: bool) -> PromotionResult:
    """Give every free place to the longest-waiting children."""
    queue = list(queue_order(entries))
    promotions = []
    while queue and occupancy.has_room:
        entry = queue.pop(0)
        if auto_confirm:
            occupancy = occupancy.take(hold=False)
            promotions.append(Promotion(entry, BookingStatus.CONFIRMED))
        else:
            occupancy = occupancy.take(hold=True)
            promotions.append(Promotion(entry, BookingStatus.PENDING_AGENT))
    return PromotionResult(tuple(promotions), tuple(queue), occupancy)


def agent_confirms(occupancy: Occupancy) -> Occupancy:
    """An agent confirms a promoted child: the held place becomes a confirmed booking."""
    return occupancy.confirm_held()


def agent_declines(occupancy: Occupancy, entries: Iterable[WaitingEntry], auto_confirm: bool) -> PromotionResult:
    """An agent declines a promoted child: the place goes to the next one waiting."""
    return promote(occupancy.release_held(), entries, auto_confirm)
