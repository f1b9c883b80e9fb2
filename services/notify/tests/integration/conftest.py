import sys
from pathlib import Path

# pytest runs with --import-mode=importlib: make the uniquely named helper module importable.
sys.path.insert(0, str(Path(__file__).parent))

import threading  # noqa: E402

import pytest  # noqa: E402

from servicekit import migrations  # noqa: E402
from servicekit.db import Database  # noqa: E402

from notify.worker import create_worker  # noqa: E402
from notify_test_support import MIGRATIONS, free_port, settings_for  # noqa: E402


@pytest.fixture
def db(pg_url):
    migrations.upgrade(MIGRATIONS, pg_url)
    database = Database(pg_url)
    yield database
    database.dispose()


@pytest.fixture
def smtp_port():
    return free_port()


@pytest.fixture
def run_worker(db, amqp_vhost_url, smtp_port, pg_url):
    started = []

    def start(**extra):
        settings = settings_for(pg_url, amqp_vhost_url, smtp_port, **extra)
        worker = create_worker(settings, db)
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        assert worker.ready.wait(15), "notify worker did not start consuming"
        started.append((worker, thread))
        return settings

    yield start
    for worker, thread in started:
        worker.stop()
        thread.join(20)


