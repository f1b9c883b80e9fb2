"""identity's models and migrations agree: a fresh database upgraded to head has nothing the
models lack and lacks nothing they have (on PostgreSQL and on SQLite, the `make run` default)."""
from pathlib import Path

import pytest

from servicekit import migrations

from identity.models import Base

pytestmark = pytest.mark.integration

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def _models_metadata():
    # Every table of identity must be on Base.metadata; the OIDC and sign-in tables join it
    # when their modules are imported.
    for module in ("identity.oidc.models", "identity.signin.models"):
        try:
            __import__(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    return Base.metadata


def test_migrations_match_models_on_postgresql(pg_url):
    migrations.upgrade(MIGRATIONS, pg_url)
    assert migrations.differences(pg_url, _models_metadata()) == []


def test_migrations_match_models_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'identity.db'}"
    migrations.upgrade(MIGRATIONS, url)
    assert migrations.differences(url, _models_metadata()) == []
