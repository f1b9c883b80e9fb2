"""identity's children reach the requests service (the child picker and its tenancy): added,
updated, removed; a late or repeated event never moves a fact backwards."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from contracts import identity
from contracts.envelope import Envelope

from demandes import consumers
from demandes.worker import create_worker

pytestmark = pytest.mark.integration


def envelope(payload) -> Envelope:
    return Envelope(type=payload.EVENT_TYPE, source="identity", data=payload.model_dump(mode="json"))


def test_the_worker_consumes_identitys_children_and_runs_its_jobs(app, db):
    worker = create_worker(app.settings, db)
    consumed = {(h.source, h.event_type) for h in worker.handlers}
    assert {("identity", "child.added.v1"), ("identity", "child.updated.v1"), ("identity", "child.removed.v1"),
            ("identity", "family.registered.v1")} <= consumed
    assert {"purge_drafts", "pending_summary"} <= {j.name for j in worker.jobs}


def test_children_facts(world, client, db):
    family = world.family()
    child_id, t0 = str(uuid.uuid4()), datetime(2026, 9, 1, tzinfo=timezone.utc)
    facts = {"child_id": child_id, "family_id": family.family_id, "family_name": "Martin", "birth_date": date(2020, 9, 14)}
    added = envelope(identity.ChildAdded(**facts, given_name="Hugo", changed_at=t0))
    renamed = envelope(identity.ChildUpdated(**facts, given_name="Hugo-Louis", changed_at=t0 + timedelta(days=1)))
    removed = envelope(identity.ChildRemoved(child_id=child_id, family_id=family.family_id,
                                             changed_at=t0 + timedelta(days=2)))
    with db.transaction() as s:
        consumers.on_child_facts(s, renamed)          # out of order and twice
        consumers.on_child_facts(s, added)
        consumers.on_child_facts(s, renamed)
    listed = client.get("/internal/me/categories", params={"commune": world.commune}, headers=family.headers).json()
    assert {c["child_id"]: c["given_name"] for c in listed["children"]}[child_id] == "Hugo-Louis"
    with db.transaction() as s:
        consumers.on_child_removed(s, removed)
        consumers.on_child_facts(s, renamed)          # late: the child stays removed
    listed = client.get("/internal/me/categories", params={"commune": world.commune}, headers=family.headers).json()
    assert child_id not in {c["child_id"] for c in listed["children"]}
    r = client.post("/internal/me/requests", headers=family.headers, json={
        "category_id": world.category("justification_absence")["id"], "data": {"child": child_id}})
    assert r.status_code == 422
