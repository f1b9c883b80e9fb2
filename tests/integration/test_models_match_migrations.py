"""Every service's models and its Alembic migrations agree: a fresh database upgraded to head
has nothing the models lack and lacks nothing they have — on PostgreSQL (production) and on
SQLite (the `make run` default). One test for all, so a new service only joins the list."""
import importlib

import pytest

from servicekit import migrations

# package -> import path of its SQLAlchemy metadata
SERVICES = {
    "identity": "identity.models:Base",
    "booking": "booking.models:Base",
    "billing": "billing.models:Base",
    "demandes": "demandes.models:Base",
    "notify": "notify.models:Base",
    "gateway": "gateway.sessions:metadata",
}

pytestmark = pytest.mark.integration


def metadata_of(target: str):
    module, _, name = target.partition(":")
    obj = getattr(importlib.import_module(module), name)
    if module == "identity.models":
        # identity's OIDC and sign-in tables join its metadata when their modules are imported.
        importlib.import_module("identity.oidc.models")
        importlib.import_module("identity.signin.models")
    return getattr(obj, "metadata", obj)


def migrations_dir(package: str):
    return importlib.import_module(f"{package}.__main__").COMMANDS.migrations_dir


@pytest.mark.parametrize("package", sorted(SERVICES))
def test_on_postgresql(package, pg_url):
    migrations.upgrade(migrations_dir(package), pg_url)
    assert migrations.differences(pg_url, metadata_of(SERVICES[package])) == []


@pytest.mark.parametrize("package", sorted(SERVICES))
def test_on_sqlite(package, tmp_path):
    url = f"sqlite:///{tmp_path / 'service.db'}"
    migrations.upgrade(migrations_dir(package), url)
    assert migrations.differences(url, metadata_of(SERVICES[package])) == []
