"""Notify's models and Alembic migrations agree (on a fresh PostgreSQL database)."""
from pathlib import Path

import pytest

from servicekit import migrations

import notify
from notify.models import Base

pytestmark = pytest.mark.integration

MIGRATIONS = Path(notify.__file__).resolve().parent.parent / "migrations"


def test_models_and_migrations_agree(pg_url):
    migrations.upgrade(MIGRATIONS, pg_url)
    assert migrations.differences(pg_url, Base.metadata) == []
