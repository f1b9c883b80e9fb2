"""The stored facts about one child, prestation and date, as the rules read them."""
from enum import Enum


class BookingStatus(Enum):
    CONFIRMED = "confirmed"
    HELD = "held"  # prepaid, place held while the parent pays
    PENDING_AGENT = "pending_agent"  # promoted from the waiting list, place held until an agent confirms
    WAITING = "waiting"  # on the waiting list
    CANCELLATION_REQUESTED = "cancellation_requested"  # still booked until an agent decides
    CANCELLED = "cancelled"


#: Statuses that occupy a place (count against the capacity).
TAKES_A_PLACE = frozenset({BookingStatus.CONFIRMED, BookingStatus.HELD, BookingStatus.PENDING_AGENT,
                           BookingStatus.CANCELLATION_REQUESTED})


class Attendance(Enum):
    PRESENT = "present"
    ABSENT_JUSTIFIED = "absent_justified"
    ABSENT_UNJUSTIFIED = "absent_unjustified"
