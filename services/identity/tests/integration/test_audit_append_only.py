"""The audit journal is append-only in the database itself, not only by convention."""
from pathlib import Path

import pytest
import sqlalchemy as sa

from servicekit import migrations
from servicekit.db import Database

from identity import audit
from identity.models import AuditEntry

pytestmark = pytest.mark.integration

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


@pytest.fixture(params=["postgresql", "sqlite"])
def db(request, pg_database_factory, tmp_path):
    url = pg_database_factory() if request.param == "postgresql" else f"sqlite:///{tmp_path / 'identity.db'}"
    migrations.upgrade(MIGRATIONS, url)
    database = Database(url)
    yield database
    database.dispose()


def test_entries_can_be_added_but_never_changed_or_removed(db):
    with db.transaction() as s:
        audit.record(s, "signin.succeeded", actor_user_id="u1", ip="127.0.0.1")
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with db.transaction() as s:
            s.execute(sa.update(AuditEntry).values(action="signin.failed"))
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with db.transaction() as s:
            s.execute(sa.delete(AuditEntry))
    with db.read() as s:
        assert s.scalars(sa.select(AuditEntry.action)).all() == ["signin.succeeded"]
