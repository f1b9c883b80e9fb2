"""Booking's worker: outbox relay, event consumers (booking.consumers) and scheduled jobs."""
from servicekit.messaging.worker import Worker
from servicekit.projections import agents as agents_projection
from servicekit.projections import families as families_projection

from booking import carts, consumers, reminders
from booking.db import get_db
from booking.models import agents, families
from booking.settings import get_settings

EXPIRY_EVERY_SECONDS = 120  # a cart awaiting payment is released at most ~2 minutes after its hour


def expire_carts(db) -> None:
    carts.expire_carts(db)


def create_worker(settings=None, db=None) -> Worker:
    worker = Worker(settings or get_settings(), db or get_db())
    families_projection.install_handlers(worker, families)
    agents_projection.install_handlers(worker, agents)
    for source, event_type, name, handler in consumers.HANDLERS:
        worker.handler(source, event_type, name=name)(handler)
    worker.every(EXPIRY_EVERY_SECONDS, name="expire_carts")(expire_carts)
    worker.every(reminders.REMINDERS_EVERY_SECONDS, name="booking_reminders")(reminders.remind_unbooked)
    return worker
