"""Removing an agent in identity reaches booking, billing and requests: identity's outbox →
its relay → RabbitMQ → each service's worker → its `agents` projection; the agent's next call
to each service's API is refused (servicekit.projections.agents). Real PostgreSQL databases
and a real vhost."""
import importlib
import threading

import pytest

from servicekit import migrations, tokens
from servicekit.db import Database
from servicekit.projections import agents as agents_projection
from servicekit.testing import wait_until

pytestmark = pytest.mark.integration

# package -> service name (env prefix)
SERVICES = {"booking": "booking", "billing": "billing", "demandes": "requests"}
SECRET = "agents-projection-test-secret-0123456789"


def migrations_dir(package):
    return importlib.import_module(f"{package}.__main__").COMMANDS.migrations_dir


class Running:
    """Workers running in threads, stopped at the end."""

    def __init__(self):
        self.workers = []

    def start(self, worker):
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        assert worker.ready.wait(30), f"{worker.service} worker did not start consuming"
        self.workers.append((worker, thread))

    def stop(self):
        for worker, _ in self.workers:
            worker.stop()
        for _, thread in self.workers:
            thread.join(30)


@pytest.fixture
def platform(pg_database_factory, amqp_vhost_url, monkeypatch):
    monkeypatch.setenv("AMQP_URL", amqp_vhost_url)
    monkeypatch.setenv("EF_ENV", "test")
    monkeypatch.setenv("SERVICE_TOKEN_SECRET", SECRET)
    urls = {package: pg_database_factory() for package in ("identity", *SERVICES)}
    monkeypatch.setenv("IDENTITY_DATABASE_URL", urls["identity"])
    for package, name in SERVICES.items():
        monkeypatch.setenv(f"{name.upper()}_DATABASE_URL", urls[package])
    running, dbs = Running(), {}
    try:
        for package, url in urls.items():
            migrations.upgrade(migrations_dir(package), url)
            settings_module = importlib.import_module(f"{package}.settings")
            settings_module.get_settings.cache_clear()
            dbs[package] = Database(url)
            worker = importlib.import_module(f"{package}.worker").create_worker(settings_module.get_settings(),
                                                                                dbs[package])
            running.start(worker)
        yield dbs
    finally:
        running.stop()
        for package, db in dbs.items():
            importlib.import_module(f"{package}.settings").get_settings.cache_clear()
            db.dispose()


def current_everywhere(dbs, caller) -> dict[str, bool]:
    verdicts = {}
    for package in SERVICES:
        table = importlib.import_module(f"{package}.models").agents
        with dbs[package].read() as s:
            verdicts[package] = agents_projection.is_current_agent(s, table, caller)
    return verdicts


def call_every_service(caller) -> dict[str, int]:
    """The status of the agent's call to each service's API (a family they may look up)."""
    statuses = {}
    for package, name in SERVICES.items():
        importlib.import_module(f"{package}.db").get_db.cache_clear()
        app = importlib.import_module(f"{package}.app").create_app()
        with app.test_client() as client:
            token = tokens.mint(caller, name, SECRET)
            resp = client.get("/internal/families/fam-unknown", headers={"Authorization": f"Bearer {token}"})
        statuses[package] = resp.status_code
        if resp.status_code == 403:
            assert resp.headers["content-type"].startswith("application/problem+json")
            assert "plus agent de cette commune" in resp.json()["detail"]
        app.db.dispose()
    return statuses


def test_an_agent_removed_in_identity_is_refused_by_every_service(platform):
    from identity import agents, seed
    from identity.models import User

    identity = platform["identity"]
    with identity.transaction() as s:
        seed.ensure_commune(s, "ludres", "Ludres")
        user, _ = seed.ensure_agent(s, "agent@mairie-ludres.fr", "ludres", password="une girafe mange des myrtilles")
        sub, user_id = user.sub, user.id
    caller = tokens.Caller(sub=sub, role="agent", commune="ludres")
    wait_until(lambda: all(current_everywhere(platform, caller).values()), timeout=30)
    assert call_every_service(caller) == {p: 404 for p in SERVICES}  # served (no such family)

    with identity.transaction() as s:
        assert agents.remove(s, s.get(User, user_id), "ludres")
    wait_until(lambda: not any(current_everywhere(platform, caller).values()), timeout=30)
    assert call_every_service(caller) == {p: 403 for p in SERVICES}
    # Parents are not affected by the check.
    parent = tokens.Caller(sub="p-1", role="parent", family_id="fam-unknown")
    assert call_every_service(parent) == {p: 404 for p in SERVICES}
