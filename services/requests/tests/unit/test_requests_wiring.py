"""The requests service's worker consumes identity's family events into its projection."""
from servicekit.settings import ServiceSettings
from servicekit.db import Database

from demandes.worker import create_worker


def test_worker_consumes_family_events(tmp_path):
    settings = ServiceSettings(service="requests", database_url=f"sqlite:///{tmp_path / 's.db'}")
    worker = create_worker(settings, Database(settings.database_url))
    assert {(h.source, h.event_type, h.queue) for h in worker.handlers} == {
        ("identity", "family.registered.v1", "requests.families_registered"),
        ("identity", "family.activated.v1", "requests.families_activated"),
    }
