"""The families projection on real databases: handlers (idempotent, order-independent) and
the GET /internal/families/{id} endpoint mounted on a service app."""
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from contracts.envelope import Envelope
from contracts.identity import FamilyActivated, FamilyRegistered
from servicekit import tokens
from servicekit.db import Database, declarative_base
from servicekit.projections import families as fp
from servicekit.settings import ServiceSettings
from servicekit.web import create_app

pytestmark = pytest.mark.integration

SECRET = "test-secret-for-the-families-projection-0123456789"


def registered(family_id="fam-1", commune="heillecourt", name="Martin") -> Envelope:
    data = FamilyRegistered(family_id=family_id, commune=commune, family_name=name, email="a@example.org")
    return Envelope(type=data.EVENT_TYPE, source="identity", data=data.model_dump(mode="json"))


def activated(family_id="fam-1", commune="heillecourt") -> Envelope:
    data = FamilyActivated(family_id=family_id, commune=commune, user_id="u-1")
    return Envelope(type=data.EVENT_TYPE, source="identity", data=data.model_dump(mode="json"))


@pytest.fixture(params=["postgresql", "sqlite"])
def projection_db(request, tmp_path):
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else f"sqlite:///{tmp_path / 'p.db'}"
    base = declarative_base()
    table = fp.define_table(base.metadata)
    db = Database(url)
    base.metadata.create_all(db.engine)
    yield db, table
    db.dispose()


def apply(db, handler, envelope):
    with db.transaction() as session:
        handler(session, envelope)


def rows(db, table):
    with db.read() as s:
        return [dict(r) for r in s.execute(sa.select(table).order_by(table.c.commune)).mappings()]


def test_registered_then_activated(projection_db):
    db, table = projection_db
    apply(db, fp.on_family_registered(table), registered())
    [row] = rows(db, table)
    assert (row["family_id"], row["commune"], row["family_name"], row["status"]) == \
        ("fam-1", "heillecourt", "Martin", "registered")
    apply(db, fp.on_family_activated(table), activated())
    [row] = rows(db, table)
    assert (row["family_name"], row["status"]) == ("Martin", "active")


def test_same_events_twice_give_the_same_projection(projection_db):
    db, table = projection_db
    for _ in range(2):
        apply(db, fp.on_family_registered(table), registered())
        apply(db, fp.on_family_activated(table), activated())
    assert [(r["family_id"], r["commune"], r["family_name"], r["status"]) for r in rows(db, table)] == \
        [("fam-1", "heillecourt", "Martin", "active")]


def test_activated_before_registered_ends_active_with_its_name(projection_db):
    db, table = projection_db
    apply(db, fp.on_family_activated(table), activated())
    [row] = rows(db, table)
    assert (row["family_name"], row["status"]) == (None, "active")
    apply(db, fp.on_family_registered(table), registered())
    [row] = rows(db, table)
    assert (row["family_name"], row["status"]) == ("Martin", "active")  # never back to "registered"


def test_one_row_per_commune(projection_db):
    db, table = projection_db
    apply(db, fp.on_family_registered(table), registered(commune="heillecourt"))
    apply(db, fp.on_family_registered(table), registered(commune="ludres"))
    apply(db, fp.on_family_activated(table), activated(commune="ludres"))
    assert [(r["commune"], r["status"]) for r in rows(db, table)] == [("heillecourt", "registered"), ("ludres", "active")]


def test_a_foreign_event_type_is_refused(projection_db):
    db, table = projection_db
    with pytest.raises(ValueError):
        apply(db, fp.on_family_registered(table), activated())


# --- endpoint ----------------------------------------------------------------------------------
@pytest.fixture
def client(projection_db):
    db, table = projection_db
    apply(db, fp.on_family_registered(table), registered(commune="heillecourt"))
    apply(db, fp.on_family_registered(table), registered(commune="ludres"))
    apply(db, fp.on_family_activated(table), activated(commune="ludres"))
    settings = ServiceSettings(service="projtest", database_url=db.url, service_token_secret=SECRET)
    app = create_app(settings, db)
    fp.install_api(app, table)
    return app.test_client()


def get(client, caller: tokens.Caller | None, family_id="fam-1"):
    headers = {} if caller is None else {"Authorization": "Bearer " + tokens.mint(caller, "projtest", SECRET)}
    return client.get(f"/internal/families/{family_id}", headers=headers)


def test_agent_gets_only_their_commune(client):
    r = get(client, tokens.Caller(sub="a", role="agent", commune="ludres"))
    assert r.status_code == 200
    body = r.json()
    assert body["family_id"] == "fam-1" and body["family_name"] == "Martin"
    assert [(c["commune"], c["status"]) for c in body["communes"]] == [("ludres", "active")]
    datetime.fromisoformat(body["communes"][0]["updated_at"]).astimezone(timezone.utc)


def test_agent_of_another_commune_gets_404(client):
    r = get(client, tokens.Caller(sub="a", role="agent", commune="nancy"))
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "introuvable" in r.json()["detail"]


def test_parent_gets_their_family_with_every_commune(client):
    r = get(client, tokens.Caller(sub="p", role="parent", family_id="fam-1"))
    assert r.status_code == 200
    assert [c["commune"] for c in r.json()["communes"]] == ["heillecourt", "ludres"]


def test_parent_of_another_family_gets_404(client):
    assert get(client, tokens.Caller(sub="p", role="parent", family_id="fam-2")).status_code == 404


def test_unknown_family_is_404(client):
    assert get(client, tokens.Caller(sub="ops", role="operator"), family_id="nope").status_code == 404


def test_no_token_is_401(client):
    assert get(client, None).status_code == 401


def test_token_for_another_service_is_401(client):
    token = tokens.mint(tokens.Caller(sub="ops", role="operator"), "billing", SECRET)
    r = client.get("/internal/families/fam-1", headers={"Authorization": "Bearer " + token})
    assert r.status_code == 401
