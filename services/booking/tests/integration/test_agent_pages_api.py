"""What the agents' pages need from booking: a prestation with attendance is never deleted, a mark
set by mistake can be removed, one child by id, the locked period said in words, names in the
audit trail and the overrides, safe CSV exports, idempotent creations."""
import csv
import dataclasses
import datetime as dt
import io
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from booking_testkit import PARIS_TODAY, auth, envelope, make_world, outbox_events, prestation_body
from contracts import billing
from servicekit.types import utcnow

from booking import catalogue, consumers
from booking.models import agents, attendance, bookings, children, enrolments

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


def _removals(db, prestation_id: str) -> list[dict]:
    return [e for e in outbox_events(db, "attendance.removed.v1") if e["prestation_id"] == prestation_id]


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
    # published in the same transaction, for billing: after the mark it removes
    [removed] = _removals(db, p["id"])
    [mark] = [e for e in outbox_events(db, "attendance.recorded.v1") if e["child_id"] == walk_in.child_id]
    assert (removed["child_id"], removed["family_id"], removed["removed_status"], removed["session_date"]) == (
        walk_in.child_id, walk_in.family_id, "present", PARIS_TODAY().isoformat())
    assert (removed["commune"], removed["service_id"], removed["price_ref"]) == (
        world.commune, world.service_id, p["price_ref"])
    assert dt.datetime.fromisoformat(removed["removed_at"]) > dt.datetime.fromisoformat(mark["recorded_at"])
    r = client.delete(f"{path}/{walk_in.child_id}", headers=world.agent_headers)
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    _mark(client, world, p["id"], walk_in.child_id)  # marked again: a new mark, later than the removal
    again = [e for e in outbox_events(db, "attendance.recorded.v1") if e["child_id"] == walk_in.child_id][-1]
    assert dt.datetime.fromisoformat(again["recorded_at"]) > dt.datetime.fromisoformat(removed["removed_at"])

    other = make_world(db, client)
    assert client.delete(f"{path}/{other_child.child_id}", headers=other.agent_headers).status_code == 404
    assert client.delete(f"{path}/{other_child.child_id}", headers=other_child.headers).status_code == 403

    _lock(db, world.commune, PARIS_TODAY(), PARIS_TODAY())
    r = client.delete(f"{path}/{other_child.child_id}", headers=world.agent_headers)
    assert r.status_code == 409 and "facturée" in r.json()["detail"]
    with db.read() as s:
        assert s.execute(sa.select(attendance.c.status).where(attendance.c.child_id == other_child.child_id)
                         ).scalar_one() == "absent_unjustified"
    assert len(_removals(db, p["id"])) == 1  # nothing published by the refusals (404, 403, 409)


def test_a_justification_accepted_before_a_removal_is_marked_after_it(db, world, client):
    """requests accepted the justification earlier than the agent removed the mark, but booking
    marks it later: its mark must come after the removal, or billing would keep "not marked"."""
    from contracts import requests as requests_contract

    p = world.prestation()
    family = world.family()
    today = PARIS_TODAY()
    with db.transaction() as s:
        s.execute(bookings.insert().values(
            id=str(uuid.uuid4()), commune=world.commune, family_id=family.family_id, child_id=family.child_id,
            service_id=world.service_id, prestation_id=p["id"], session_date=today, status="confirmed",
            created_at=utcnow(), updated_at=utcnow()))
    accepted_at = utcnow()
    path = _mark(client, world, p["id"], family.child_id, "absent_unjustified")
    assert client.delete(f"{path}/{family.child_id}", headers=world.agent_headers).status_code == 200
    [removed] = _removals(db, p["id"])
    with db.transaction() as s:
        consumers.on_absence_justified(s, envelope(requests_contract.AbsenceJustificationAccepted(
            request_id="req-1", family_id=family.family_id, commune=world.commune, child_id=family.child_id,
            first_day=today, last_day=today, reason="Varicelle", accepted_at=accepted_at), "requests"))
    marked = [e for e in outbox_events(db, "attendance.recorded.v1") if e["child_id"] == family.child_id][-1]
    assert marked["status"] == "absent_justified"
    assert dt.datetime.fromisoformat(marked["recorded_at"]) > dt.datetime.fromisoformat(removed["removed_at"])


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


def test_audit_trail_and_overrides_read_names_not_ids(db, world, client):
    named = dataclasses.replace(world.agent, name="Claire Dubois")
    p = world.prestation()
    family = world.family()
    path = _mark(client, world, p["id"], family.child_id)
    assert client.delete(f"{path}/{family.child_id}", headers=auth(named)).status_code == 200
    entry = client.get("/internal/agent/audit", headers=world.agent_headers).json()["items"][0]
    assert entry["action"] == "attendance.removed"
    assert (entry["actor"], entry["actor_name"]) == (named.sub, "Claire Dubois")
    assert entry["child_name"] == f"Léa Martin-{family.family_id[:4]}" and entry["family_name"] == "Martin"

    day = world.open_dates(p["id"], 1)[0].isoformat()
    r = client.post("/internal/agent/deadline-overrides", headers=auth(named), json={
        "family_id": family.family_id, "prestation_id": p["id"], "session_date": day, "reason": "Reprise du travail"})
    assert r.status_code == 201, r.text
    assert (r.json()["created_by_name"], r.json()["family_name"]) == ("Claire Dubois", "Martin")
    [listed] = client.get("/internal/agent/deadline-overrides", headers=world.agent_headers).json()["items"]
    assert (listed["created_by"], listed["created_by_name"], listed["family_name"], listed["prestation_label"]) == (
        named.sub, "Claire Dubois", "Martin", p["label"])
    entry = client.get("/internal/agent/audit", headers=world.agent_headers).json()["items"][0]
    assert (entry["action"], entry["family_name"], entry["child_name"]) == ("deadline.overridden", "Martin", None)


def test_agents_creations_are_idempotent_per_key_and_caller(db, world, client):
    key = {"Idempotency-Key": "create-once-1"}
    body = {"code": "periscolaire", "label": "Périscolaire"}
    first = client.post("/internal/agent/services", json=body, headers={**world.agent_headers, **key})
    again = client.post("/internal/agent/services", json=body, headers={**world.agent_headers, **key})
    assert first.status_code == again.status_code == 201 and again.json() == first.json()
    assert client.post("/internal/agent/services", json=body, headers=world.agent_headers).status_code == 409

    prestation = prestation_body(world.service_id, "cantine-repas-once")
    first = client.post("/internal/agent/prestations", json=prestation, headers={**world.agent_headers, **key})
    again = client.post("/internal/agent/prestations", json=prestation, headers={**world.agent_headers, **key})
    assert first.status_code == again.status_code == 201 and again.json() == first.json()

    family = world.family()
    enrolment = {"child_id": family.child_id, "service_id": world.service_id,
                 "first": PARIS_TODAY().isoformat(), "last": PARIS_TODAY().isoformat()}
    first = client.post("/internal/agent/enrolments", json=enrolment, headers={**world.agent_headers, **key})
    again = client.post("/internal/agent/enrolments", json=enrolment, headers={**world.agent_headers, **key})
    assert first.status_code == again.status_code == 201 and again.json() == first.json()
    with db.read() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(enrolments).where(
            enrolments.c.child_id == family.child_id)).scalar_one() == 1

    colleague = dataclasses.replace(world.agent, sub=world.agent.sub + "-2")
    with db.transaction() as s:
        s.execute(agents.insert().values(user_id=colleague.sub, commune=world.commune, role="agent", active=True,
                                         changed_at=utcnow(), updated_at=utcnow()))
    r = client.post("/internal/agent/services", json=body, headers={**auth(colleague), **key})
    assert r.status_code == 409  # another caller's key is theirs: this one really creates, and the code is taken
    r = client.post("/internal/agent/services", json=body, headers={**world.agent_headers, "Idempotency-Key": ""})
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json")


def test_twin_creations_with_one_key_create_once(db, world, client, monkeypatch):
    slow = catalogue.create_service

    def slow_create(*args):  # both twins are inside the use case at once unless the key serialises them
        time.sleep(0.3)
        return slow(*args)

    monkeypatch.setattr(catalogue, "create_service", slow_create)
    key = {**world.agent_headers, "Idempotency-Key": "twin-1"}
    body = {"code": "accueil-loisirs", "label": "Accueil de loisirs"}
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: client.post("/internal/agent/services", json=body, headers=key), range(4)))
    assert {r.status_code for r in answers} == {201} and len({r.json()["id"] for r in answers}) == 1


def test_csv_exports_have_a_bom_and_never_run_a_formula(db, world, client):
    p = world.prestation()
    family = world.family()
    with db.transaction() as s:  # a name typed by a parent
        s.execute(children.update().where(children.c.child_id == family.child_id)
                  .values(given_name='=HYPERLINK("http://x";"clic")', family_name="@SUM(A1)"))
    _mark(client, world, p["id"], family.child_id)
    today = PARIS_TODAY().isoformat()
    r = client.get("/internal/agent/exports/attendance.csv", headers=world.agent_headers,
                   params={"first": today, "last": today})
    assert r.status_code == 200 and r.content.startswith(b"\xef\xbb\xbf")
    [header, row] = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=";"))
    assert header[:5] == ["date", "prestation", "enfant_id", "nom", "prenom"]
    assert (row[3], row[4]) == ("'@SUM(A1)", '\'=HYPERLINK("http://x";"clic")')
