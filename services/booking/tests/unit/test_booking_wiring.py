"""Booking's worker consumes identity's family events into its projection."""
from servicekit.settings import ServiceSettings
from servicekit.db import Database

from booking.worker import create_worker


def test_worker_consumes_family_events(tmp_path):
    settings = ServiceSettings(service="booking", database_url=f"sqlite:///{tmp_path / 'b.db'}")
    worker = create_worker(settings, Database(settings.database_url))
    assert {(h.source, h.event_type, h.queue) for h in worker.handlers} == {
        ("identity", "family.registered.v1", "booking.families_registered"),
        ("identity", "family.activated.v1", "booking.families_activated"),
    }
