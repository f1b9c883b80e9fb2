"""What the agents' pages need from booking: a prestation with attendance is never deleted, a mark
set by mistake can be removed, one child by id, the locked period said in words, names in the
audit trail and the overrides, safe CSV exports, idempotent creations."""
import datetime as dt

import pytest
import sqlalchemy as sa

from booking_testkit import PARIS_TODAY, envelope, make_world
from contracts import billing
from servicekit.types import utcnow

from booking import consumers
from booking.models import attendance

pytestmark = pytest.mark.integration


def _lock(db, commune: str, first: dt.date, last: dt.date) -> None:
    with db.transaction() as s:
        consumers.on_period_locked(s, envelope(billing.PeriodLocked(commune=commune, first=first, last=last,
                                                                    locked_at=utcnow()), "billing"))


def _mark(client, world, prestation_id: str, child_id: str, status: str = "present"):
    path = f"/internal/agent/prestations/{prestation_id}/sessions/{PARIS_TODAY().isoformat()}/attendance"
    r = client.put(path, headers=world.agent_headers, json={"marks": [{"child_id": child_id, "status": status}]})
    assert r.status_code == 200, r.text
    return path


def test_a_prestation_or_service_with_attendance_is_never_deleted(db, world, client):
    p = world.prestation()
    walk_in = world.family()  # present without booking: no booking row at all
    _mark(client, world, p["id"], walk_in.child_id)
    _lock(db, world.commune, PARIS_TODAY(), PARIS_TODAY())

    r = client.delete(f"/internal/agent/prestations/{p['id']}", headers=world.agent_headers)
    assert r.status_code == 409 and r.headers["content-type"].startswith("application/problem+json")
    assert "pointages" in r.json()["detail"]
    r = client.delete(f"/internal/agent/services/{world.service_id}", headers=world.agent_headers)
    assert r.status_code == 409 and "pointages" in r.json()["detail"]
    with db.read() as s:
        assert s.execute(sa.select(attendance.c.child_id).where(attendance.c.prestation_id == p["id"])
                         ).scalars().all() == [walk_in.child_id]
    unused = world.prestation()
    assert client.delete(f"/internal/agent/prestations/{unused['id']}", headers=world.agent_headers).status_code == 204


def test_an_agent_removes_a_mark_set_by_mistake_until_the_period_is_invoiced(db, world, client):
    p = world.prestation()
    walk_in, other_child = world.family(), world.family()
    path = _mark(client, world, p["id"], walk_in.child_id)
    _mark(client, world, p["id"], other_child.child_id, "absent_unjustified")

    r = client.delete(f"{path}/{walk_in.child_id}", headers=world.agent_headers)
    assert r.status_code == 200, r.text
    assert [(i["child_id"], i["status"]) for i in r.json()["items"]] == [(other_child.child_id, "absent_unjustified")]
    entry = client.get("/internal/agent/audit", headers=world.agent_headers).json()["items"][0]
    assert entry["action"] == "attendance.removed"
    assert entry["details"]["child_id"] == walk_in.child_id and entry["details"]["status"] == "present"
    r = client.delete(f"{path}/{walk_in.child_id}", headers=world.agent_headers)
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")

    other = make_world(db, client)
    assert client.delete(f"{path}/{other_child.child_id}", headers=other.agent_headers).status_code == 404
    assert client.delete(f"{path}/{other_child.child_id}", headers=other_child.headers).status_code == 403

    _lock(db, world.commune, PARIS_TODAY(), PARIS_TODAY())
    r = client.delete(f"{path}/{other_child.child_id}", headers=world.agent_headers)
    assert r.status_code == 409 and "facturée" in r.json()["detail"]
    with db.read() as s:
        assert s.execute(sa.select(attendance.c.status).where(attendance.c.child_id == other_child.child_id)
                         ).scalar_one() == "absent_unjustified"


def test_one_child_of_the_commune_by_id(db, world, client):
    family = world.family()
    r = client.get(f"/internal/agent/children/{family.child_id}", headers=world.agent_headers)
    assert r.status_code == 200, r.text
    child = r.json()
    assert (child["child_id"], child["family_id"], child["given_name"], child["removed"]) == (
        family.child_id, family.family_id, "Léa", False)
    other = make_world(db, client)
    r = client.get(f"/internal/agent/children/{family.child_id}", headers=other.agent_headers)
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert client.get("/internal/agent/children/unknown-child", headers=world.agent_headers).status_code == 404
    assert client.get(f"/internal/agent/children/{family.child_id}", headers=family.headers).status_code == 403


def test_the_day_list_says_which_invoiced_period_locks_it(db, world, client):
    p = world.prestation()
    today = PARIS_TODAY()
    path = f"/internal/agent/prestations/{p['id']}/sessions/{today.isoformat()}/attendance"
    day_list = client.get(path, headers=world.agent_headers).json()
    assert day_list["locked"] is False and day_list["locked_period"] is None
    first = today.replace(day=1)
    _lock(db, world.commune, first, today)
    day_list = client.get(path, headers=world.agent_headers).json()
    assert day_list["locked"] is True
    assert day_list["locked_period"] == {"first": first.isoformat(), "last": today.isoformat(),
                                         "reason": "période facturée"}
