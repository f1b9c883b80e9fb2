"""Booking refuses an enrolment while the child's dossier is incomplete, asking the real requests
service: requests' app served over HTTP (uvicorn, loopback) on its own PostgreSQL database with
Heillecourt's demo catalogue (whose holiday centre requires the health form and the insurance),
booking's real app on another; a service token minted by booking, checked by requests.
Then requests stops answering: booking refuses with a 503 and writes nothing (fail closed)."""
from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import time
import uuid

import pytest
import sqlalchemy as sa
import uvicorn

from servicekit import migrations, tokens
from servicekit.testing import create_pg_database, drop_pg_database
from servicekit.types import utcnow

pytestmark = pytest.mark.integration

SECRET = "dossier-test-service-token-secret-0123456789"
COMMUNE = "heillecourt"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def environment(tmp_path_factory):
    keys = ("REQUESTS_DATABASE_URL", "BOOKING_DATABASE_URL", "SERVICE_TOKEN_SECRET", "EF_ENV", "REQUESTS_URL",
            "REQUESTS_STORAGE_DIR")
    saved = {k: os.environ.get(k) for k in keys}
    urls = {name: create_pg_database(f"dossier_{name}") for name in ("requests", "booking")}
    port = free_port()
    os.environ.update(REQUESTS_DATABASE_URL=urls["requests"], BOOKING_DATABASE_URL=urls["booking"],
                      SERVICE_TOKEN_SECRET=SECRET, EF_ENV="test", REQUESTS_URL=f"http://127.0.0.1:{port}",
                      REQUESTS_STORAGE_DIR=str(tmp_path_factory.mktemp("documents")))
    from booking import __main__ as booking_main
    from demandes import __main__ as requests_main

    migrations.upgrade(requests_main.COMMANDS.migrations_dir, urls["requests"])
    migrations.upgrade(booking_main.COMMANDS.migrations_dir, urls["booking"])
    caches = _caches()
    for clear in caches:
        clear()
    yield {"port": port, **urls}
    for clear in caches:
        clear()
    for url in urls.values():
        drop_pg_database(url)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _caches():
    from booking import db as booking_db, dossiers, settings as booking_settings
    from demandes import db as requests_db, settings as requests_settings

    return (booking_settings.get_settings.cache_clear, booking_db.get_db.cache_clear, dossiers._client.cache_clear,
            requests_settings.get_settings.cache_clear, requests_db.get_db.cache_clear)


@pytest.fixture(scope="module")
def requests_server(environment):
    """The real requests app, listening on REQUESTS_URL."""
    from demandes.app import create_app

    app = create_app()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=environment["port"], log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "requests did not start"
        time.sleep(0.05)
    yield server
    server.should_exit = True
    thread.join(10)
    app.db.dispose()


@pytest.fixture(scope="module")
def booking_client(environment, requests_server):
    from booking.app import create_app

    app = create_app()
    with app.test_client() as client:
        yield client
    app.db.dispose()


@pytest.fixture(scope="module")
def heillecourt(environment, requests_server, booking_client):
    """Both services seeded as `make run` seeds them, an agent, and a family booking knows."""
    from booking import seed as booking_seed
    from booking.models import agents, children, families
    from demandes import seed as requests_seed
    from servicekit.db import Database

    family_id, child_id = str(uuid.uuid4()), str(uuid.uuid4())
    agent = tokens.Caller(sub=f"agent-{uuid.uuid4().hex[:8]}", role="agent", commune=COMMUNE)
    requests_db, booking_db = Database(environment["requests"]), Database(environment["booking"])
    with requests_db.transaction() as s:
        requests_seed.seed_demo(s, COMMUNE)
    with booking_db.transaction() as s:
        service_ids = booking_seed.seed_catalogue(s, COMMUNE)
        s.execute(agents.insert().values(user_id=agent.sub, commune=COMMUNE, role="agent", active=True,
                                         changed_at=utcnow(), updated_at=utcnow()))
        s.execute(families.insert().values(family_id=family_id, commune=COMMUNE, family_name="Durand",
                                           status="active", updated_at=utcnow()))
        s.execute(children.insert().values(child_id=child_id, family_id=family_id, given_name="Inès",
                                           family_name="Durand", birth_date=dt.date(2018, 5, 4), changed_at=utcnow()))
    yield {"requests_db": requests_db, "booking_db": booking_db, "services": service_ids, "family_id": family_id,
           "child_id": child_id, "headers": {"Authorization": f"Bearer {tokens.mint(agent, 'booking', SECRET)}"}}
    requests_db.dispose()
    booking_db.dispose()


def hold(heillecourt, doc_type: str, expires_on: dt.date | None, child_id: str | None = None) -> None:
    """A document of the family in requests (as an upload would record it)."""
    from demandes.models import documents

    with heillecourt["requests_db"].transaction() as s:
        s.execute(documents.insert().values(
            id=str(uuid.uuid4()), family_id=heillecourt["family_id"], commune=COMMUNE, doc_type=doc_type,
            child_id=child_id, name=f"{doc_type}.pdf", format="pdf", size=100, sha256="0" * 64,
            storage_key=uuid.uuid4().hex, issued_on=dt.date.today() - dt.timedelta(days=400), expires_on=expires_on,
            uploaded_by="parent", uploaded_at=utcnow()))


def enrol(client, heillecourt, code: str):
    first = dt.date.today() + dt.timedelta(days=400)  # far from the demo season: nothing to overlap
    body = {"child_id": heillecourt["child_id"], "service_id": heillecourt["services"][code],
            "first": first.isoformat(), "last": (first + dt.timedelta(days=30)).isoformat()}
    return client.post("/internal/agent/enrolments", json=body, headers={**heillecourt["headers"],
                                                                           "Idempotency-Key": uuid.uuid4().hex})


def enrolled(heillecourt, code: str) -> bool:
    from booking.models import enrolments

    with heillecourt["booking_db"].read() as s:
        return s.execute(sa.select(enrolments.c.id).where(
            enrolments.c.child_id == heillecourt["child_id"],
            enrolments.c.service_id == heillecourt["services"][code])).first() is not None


def test_the_holiday_centre_refuses_a_child_without_a_complete_dossier(booking_client, heillecourt, requests_server):
    # The canteen requires nothing: enrolled at once.
    assert enrol(booking_client, heillecourt, "cantine").status_code == 201

    # The holiday centre (requests' seed) requires the health form (per child) and the insurance:
    # the insurance held has expired, the health form is missing.
    hold(heillecourt, "assurance", expires_on=dt.date.today() - dt.timedelta(days=1))
    r = enrol(booking_client, heillecourt, "alsh-vacances")
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail.startswith("Inscription refusée : le dossier de Inès est incomplet pour "
                             "« Accueil de loisirs des vacances ».")
    assert "« Fiche sanitaire de liaison » est à fournir." in detail
    assert "« Attestation d'assurance extrascolaire » n'est plus valable" in detail
    assert {(m["doc_type"], m["reason"]) for m in r.json()["missing"]} == {("fiche_sanitaire", "missing"),
                                                                          ("assurance", "expired")}
    assert not enrolled(heillecourt, "alsh-vacances")

    # The family sends them: the same enrolment goes through.
    hold(heillecourt, "assurance", expires_on=dt.date.today() + dt.timedelta(days=200))
    hold(heillecourt, "fiche_sanitaire", expires_on=dt.date.today() + dt.timedelta(days=200),
         child_id=heillecourt["child_id"])
    r = enrol(booking_client, heillecourt, "alsh-vacances")
    assert r.status_code == 201, r.text
    assert enrolled(heillecourt, "alsh-vacances")

    # requests stops answering: booking refuses rather than enrol without the check.
    requests_server.should_exit = True
    deadline = time.monotonic() + 15
    while requests_server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    r = enrol(booking_client, heillecourt, "alsh-mercredi")
    assert r.status_code == 503 and "ne peut pas être vérifié" in r.json()["detail"]
    assert not enrolled(heillecourt, "alsh-mercredi")
