"""pytest fixtures shared by every service's tests (registered as the pytest plugin
`servicekit.testing` through the `pytest11` entry point of ef-servicekit; nothing to import).

- `pg_database_factory()`: creates a uniquely named PostgreSQL database on
  PG_ADMIN_URL (default postgresql://postgres@127.0.0.1:5432/postgres, trust auth) and returns
  its SQLAlchemy URL; every database it made is dropped at the end of the test.
- `pg_url`: one fresh database for the test.
- `amqp_vhost_url`: a fresh RabbitMQ vhost (rabbitmqctl add_vhost + set_permissions for
  guest), deleted at the end of the test; AMQP_TEST_HOST (default 127.0.0.1:5672) says where.
- `wait_until(predicate, timeout)`: poll until `predicate()` is truthy (never sleep to wait
  for an event in a test).
- `migrated_pg_database(prefix, migrations_dir)` and `service_app(package, env)`: the two
  context managers every service's integration testkit builds its module fixtures from.
"""
from __future__ import annotations

import importlib
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TypeVar

import pytest
import sqlalchemy as sa

PG_ADMIN_URL = os.environ.get("PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
AMQP_TEST_HOST = os.environ.get("AMQP_TEST_HOST", "127.0.0.1:5672")
RABBITMQCTL = os.environ.get("RABBITMQCTL", "rabbitmqctl")

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.02,
               message: str | None = None, ignore: tuple[type[BaseException], ...] = ()) -> T:
    """Call `predicate` until it returns something truthy and return that; fail after `timeout`.
    Exceptions of the `ignore` types (e.g. a server not listening yet) count as "not yet"."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = predicate()
        except ignore as exc:
            value, last_error = None, exc
        if value:
            return value
        if time.monotonic() >= deadline:
            what = message or f"condition not met within {timeout}s: {getattr(predicate, '__name__', predicate)}"
            raise AssertionError(what + (f" (last error: {last_error!r})" if last_error else ""))
        time.sleep(interval)


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


# --- PostgreSQL -------------------------------------------------------------------------------
def create_pg_database(prefix: str = "test") -> str:
    name = unique_name(prefix)
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()
    return sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    name = sa.make_url(url).database
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@contextmanager
def migrated_pg_database(prefix: str, migrations_dir: str) -> Iterator[str]:
    """A fresh PostgreSQL database with a service's migrations applied; dropped on exit."""
    from servicekit import migrations

    url = create_pg_database(prefix)
    try:
        migrations.upgrade(migrations_dir, url)
        yield url
    finally:
        drop_pg_database(url)


@contextmanager
def environment(values: Mapping[str, str | None]) -> Iterator[None]:
    """Set (or, for None, unset) environment variables; restore the previous values on exit."""
    saved = {key: os.environ.get(key) for key in values}
    try:
        for key, value in values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def service_app(package: str, env: Mapping[str, str | None]) -> Iterator:
    """A service's real app built from `env`: `<package>.settings.get_settings` and
    `<package>.db.get_db` are cached per process, so they are cleared on entry and on exit
    (the next module builds from its own environment); the app's database is disposed."""
    settings = importlib.import_module(f"{package}.settings")
    database = importlib.import_module(f"{package}.db")

    def forget() -> None:
        settings.get_settings.cache_clear()
        database.get_db.cache_clear()

    with environment(env):
        forget()
        try:
            application = importlib.import_module(f"{package}.app").create_app()
            try:
                yield application
            finally:
                application.db.dispose()
        finally:
            forget()


@pytest.fixture
def pg_database_factory() -> Iterator[Callable[..., str]]:
    created: list[str] = []

    def make(prefix: str = "test") -> str:
        url = create_pg_database(prefix)
        created.append(url)
        return url

    yield make
    for url in created:
        drop_pg_database(url)


@pytest.fixture
def pg_url(pg_database_factory) -> str:
    return pg_database_factory()


# --- RabbitMQ ---------------------------------------------------------------------------------
def _rabbitmqctl(*args: str) -> None:
    result = subprocess.run([RABBITMQCTL, *args], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()}")


def create_vhost(prefix: str = "test") -> tuple[str, str]:
    """A new vhost with full permissions for guest; returns (vhost, amqp url)."""
    vhost = unique_name(prefix)
    _rabbitmqctl("add_vhost", vhost)
    _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    return vhost, f"amqp://guest:guest@{AMQP_TEST_HOST}/{vhost}"


def delete_vhost(vhost: str) -> None:
    _rabbitmqctl("delete_vhost", vhost)


@pytest.fixture
def amqp_vhost_url() -> Iterator[str]:
    vhost, url = create_vhost()
    yield url
    delete_vhost(vhost)
