"""Creating POSTs honour the gateway's Idempotency-Key (servicekit.idempotency): the same form
submitted twice registers one family; another body under the same key is refused; the keys are
purged after their retention."""
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))
from accounts_testkit import (app, auth, client, db, db_url, make_agent, make_commune, outbox_events,  # noqa: F401
                              unique)

from servicekit import idempotency
from servicekit.types import utcnow

from identity.models import Family, idempotency_keys

pytestmark = pytest.mark.integration


def _register(client, agent, body, key):
    return client.post("/internal/agent/families", json=body,
                       headers={**auth(agent), "Idempotency-Key": key})


def test_the_same_key_twice_registers_one_family_and_answers_the_same(client, db):
    agent = make_agent(db, make_commune(db))
    body = {"family_name": "Durand", "email": f"{unique('p')}@example.org"}
    key = "k" * 10 + unique("key")[:20]
    first = _register(client, agent, body, key)
    second = _register(client, agent, body, key)
    assert first.status_code == second.status_code == 201, second.text
    assert first.json() == second.json()
    with db.read() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Family).where(Family.id == first.json()["id"])) == 1
    registered = [e for e in outbox_events(db, "family.registered.v1") if e["data"]["family_id"] == first.json()["id"]]
    assert len(registered) == 1


def test_another_body_under_the_same_key_is_a_422_and_changes_nothing(client, db):
    agent = make_agent(db, make_commune(db))
    key = "k" * 10 + unique("key")[:20]
    assert _register(client, agent, {"family_name": "Petit", "email": f"{unique('p')}@example.org"}, key).status_code == 201
    other = _register(client, agent, {"family_name": "Grand", "email": f"{unique('p')}@example.org"}, key)
    assert other.status_code == 422 and "idempotence" in other.json()["detail"]


def test_keys_are_per_caller_and_a_malformed_key_is_a_400(client, db):
    commune = make_commune(db)
    first_agent, second_agent = make_agent(db, commune), make_agent(db, commune)
    key = "k" * 10 + unique("key")[:20]
    a = _register(client, first_agent, {"family_name": "Roux", "email": f"{unique('p')}@example.org"}, key)
    b = _register(client, second_agent, {"family_name": "Blanc", "email": f"{unique('p')}@example.org"}, key)
    assert a.status_code == b.status_code == 201 and a.json()["id"] != b.json()["id"]
    bad = _register(client, first_agent, {"family_name": "Noir", "email": f"{unique('p')}@example.org"}, "court")
    assert bad.status_code == 400


def test_without_a_key_nothing_is_recorded(client, db):
    agent = make_agent(db, make_commune(db))
    r = client.post("/internal/agent/families", json={"family_name": "Vert", "email": f"{unique('p')}@example.org"},
                    headers=auth(agent))
    assert r.status_code == 201
    with db.read() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(idempotency_keys)
                        .where(idempotency_keys.c.caller_sub == agent.sub)) == 0


def test_keys_older_than_the_retention_are_purged(db):
    with db.transaction() as s:
        for age, key in ((timedelta(hours=25), "old" * 6), (timedelta(hours=1), "new" * 6)):
            s.execute(idempotency_keys.insert().values(caller_sub="purge-test", operation="op", key=key,
                                                      request_digest="d", answer="{}", created_at=utcnow() - age))
    with db.transaction() as s:
        assert idempotency.purge(s, idempotency_keys) >= 1
    with db.read() as s:
        left = s.scalars(sa.select(idempotency_keys.c.key).where(idempotency_keys.c.caller_sub == "purge-test")).all()
    assert left == ["new" * 6]
