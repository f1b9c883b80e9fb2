import datetime as dt
from dataclasses import replace

import pytest

from booking.domain.catalogue import PaymentMode, Prestation
from booking.domain.deadlines import CalendarDaysBefore
from booking.domain.openings import Schedule
from booking.domain.policy import BookingPolicy


#: A term-time prestation, every weekday, the day before at 12:00, invoiced monthly, 2 places.
BASE = Prestation(
    id="p", service_id="s", label="Repas",
    schedule=Schedule(dt.date(2026, 9, 1), dt.date(2027, 7, 2), weekdays=frozenset(range(5))),
    policy=BookingPolicy(CalendarDaysBefore(1, dt.time(12)), CalendarDaysBefore(1, dt.time(12))),
    payment_mode=PaymentMode.END_OF_MONTH, price_ref="REPAS", capacity=2)


@pytest.fixture(scope="session")  # a stateless factory (usable from hypothesis tests)
def prestation():
    def make(**changes) -> Prestation:
        return replace(BASE, **changes)
    return make
