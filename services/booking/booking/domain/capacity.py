"""Places of one séance: capacity − confirmed − held.

The adapter reads an `Occupancy` per (prestation, date) under a row lock, lets the rules decide,
and writes the result back in the same transaction: that is what keeps confirmed bookings within
the capacity under concurrency. These functions only ever refuse to go over it.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

Slot = tuple[str, dt.date]  # (prestation id, séance date)


class NoPlaceLeft(Exception):
    pass


@dataclass(frozen=True)
class Occupancy:
    capacity: int | None  # None: unlimited
    confirmed: int = 0
    held: int = 0  # awaiting payment, or promoted from the waiting list and awaiting an agent

    def __post_init__(self):
        if min(self.confirmed, self.held) < 0 or (self.capacity is not None and self.capacity < 0):
            raise ValueError("Occupancy counts cannot be negative")

    @property
    def places_left(self) -> int | None:
        if self.capacity is None:
            return None
        return max(0, self.capacity - self.confirmed - self.held)

    @property
    def has_room(self) -> bool:
        return self.places_left is None or self.places_left > 0

    def take(self, *, hold: bool) -> Occupancy:
        """One more place, confirmed or held; refuses beyond the capacity."""
        if not self.has_room:
            raise NoPlaceLeft
        return replace(self, held=self.held + 1) if hold else replace(self, confirmed=self.confirmed + 1)

    def confirm_held(self) -> Occupancy:
        return replace(self, held=self.held - 1, confirmed=self.confirmed + 1)

    def release_held(self) -> Occupancy:
        return replace(self, held=self.held - 1)

    def release_confirmed(self) -> Occupancy:
        return replace(self, confirmed=self.confirmed - 1)


def reapply(fresh: Occupancy, before: Occupancy, after: Occupancy) -> Occupancy:
    """The change `before -> after` (decided on a séance read without its lock) applied to the
    séance as it is now (`fresh`, locked). Refuses (NoPlaceLeft) when it would take more places
    than are left: the decision was made on places that are gone."""
    confirmed = fresh.confirmed + after.confirmed - before.confirmed
    held = fresh.held + after.held - before.held
    result = replace(fresh, confirmed=confirmed, held=held)
    taken = (after.confirmed + after.held) - (before.confirmed + before.held)
    if taken > 0 and fresh.capacity is not None and confirmed + held > fresh.capacity:
        raise NoPlaceLeft
    return result
