import sys
from pathlib import Path

import pytest

# The repository runs pytest with --import-mode=importlib (no sys.path changes): make the
# uniquely named helper module next to this file importable by the tests.
sys.path.insert(0, str(Path(__file__).parent))

from servicekit.testing import create_vhost, delete_vhost
from sk_messaging_helpers import Broker, make_database


@pytest.fixture(params=["postgresql", "sqlite"])
def database(request, tmp_path):
    """A fresh service database with the test tables, on PostgreSQL then on SQLite."""
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
    else:
        url = f"sqlite:///{tmp_path / 'service.db'}"
    db = make_database(url)
    yield db
    db.dispose()


@pytest.fixture
def pg_database(pg_url):
    db = make_database(pg_url)
    yield db
    db.dispose()


@pytest.fixture
def pg_database_2(pg_database_factory):
    db = make_database(pg_database_factory())
    yield db
    db.dispose()


@pytest.fixture(scope="module")
def module_vhost_url():
    """One vhost per test module (rabbitmqctl costs ~0.4 s a call); tests use unique service names."""
    vhost, url = create_vhost("sk")
    yield url
    delete_vhost(vhost)


@pytest.fixture
def broker(module_vhost_url):
    b = Broker(module_vhost_url)
    yield b
    b.close()
