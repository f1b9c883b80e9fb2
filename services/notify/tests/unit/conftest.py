import sys
from pathlib import Path

import pytest

from servicekit.db import Database

from notify.models import Base

# pytest runs with --import-mode=importlib: make the uniquely named helper module importable.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def db(tmp_path):
    """notify's tables on a throw-away SQLite file (no migrations: the models are the schema)."""
    database = Database(f"sqlite:///{tmp_path / 'notify.db'}")
    Base.metadata.create_all(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def session(db):
    with db.transaction() as s:
        yield s
