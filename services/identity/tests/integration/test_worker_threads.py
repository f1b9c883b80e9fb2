"""identity's worker runs a second consumer thread on PostgreSQL: a back-channel logout POST waits
on a relying party, and the other events must not wait behind it (ADR 0013)."""
import pytest

from servicekit.db import Database

from identity.settings import IdentitySettings
from identity.worker import BACKCHANNEL_CONSUMER_THREADS, create_worker

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_a_second_consumer_thread_on_postgresql_one_writer_on_sqlite(kind, pg_database_factory, tmp_path):
    url = pg_database_factory() if kind == "postgresql" else f"sqlite:///{tmp_path / 'identity.db'}"
    db = Database(url)
    try:
        worker = create_worker(IdentitySettings(service="identity"), db)
        assert worker.consumer_threads == (BACKCHANNEL_CONSUMER_THREADS if kind == "postgresql" else 1)
        assert BACKCHANNEL_CONSUMER_THREADS > 1
        assert create_worker(IdentitySettings(service="identity"), db, consumer_threads=3).consumer_threads == 3
    finally:
        db.dispose()
