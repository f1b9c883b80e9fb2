"""Agents' catalogue API: services, prestations checked by the domain, séances, closures; tenancy
(another commune's catalogue is invisible) and bad input (400/422 problem+json, never 500)."""
import datetime as dt

import pytest
import sqlalchemy as sa

from booking_testkit import PARIS_TODAY, auth, make_world, prestation_body, unique
from servicekit import tokens
from servicekit.types import utcnow

from booking.models import agents

pytestmark = pytest.mark.integration


def test_agent_builds_a_catalogue(world, client):
    p = world.prestation("repas")
    assert p["payment_mode_label"] == "Facturé en fin de mois" and p["booking_deadline"]["at"] == "12:00"
    first = PARIS_TODAY()
    r = client.post(f"/internal/agent/prestations/{p['id']}/sessions/generate",
                    json={"first": first.isoformat(), "last": (first + dt.timedelta(days=30)).isoformat()},
                    headers=world.agent_headers)
    assert r.status_code == 200 and r.json()["generated"] > 0
    generated = r.json()["generated"]
    r = client.post(f"/internal/agent/prestations/{p['id']}/sessions/generate",
                    json={"first": first.isoformat(), "last": (first + dt.timedelta(days=30)).isoformat()},
                    headers=world.agent_headers)
    assert r.json()["generated"] == generated  # idempotent
    r = client.get(f"/internal/agent/prestations/{p['id']}/sessions",
                   params={"first": first.isoformat(), "last": (first + dt.timedelta(days=30)).isoformat()},
                   headers=world.agent_headers)
    items = r.json()["items"]
    assert sum(i["generated"] for i in items) == generated
    assert all(i["closure"] in ("not_an_opening_weekday", "school_holiday", "public_holiday", None) for i in items)

    day = world.open_dates(p["id"], 1)[0]
    r = client.post("/internal/agent/closures", json={"prestation_id": p["id"], "closed_on": day.isoformat(),
                                                      "label": "Grève"}, headers=world.agent_headers)
    assert r.status_code == 201
    r = client.get(f"/internal/agent/prestations/{p['id']}/sessions",
                   params={"first": day.isoformat(), "last": day.isoformat()}, headers=world.agent_headers)
    assert r.json()["items"][0]["closure"] == "ad_hoc_closure"
    assert r.json()["items"][0]["closure_label"] == "Fermeture exceptionnelle"

    r = client.put(f"/internal/agent/prestations/{p['id']}/sessions/{day.isoformat()}", json={"capacity": 3},
                   headers=world.agent_headers)
    assert r.status_code == 200 and r.json()["capacity"] == 3

    audit = client.get("/internal/agent/audit", headers=world.agent_headers).json()
    actions = {e["action"] for e in audit["items"]}
    assert {"prestation.created", "sessions.generated", "closure.created", "session.capacity_set"} <= actions


def test_domain_refusals_are_422_with_french_messages(world, client):
    body = prestation_body(world.service_id, "bad", waiting_list=True, capacity=None,
                           booking_deadline={"kind": "hours_before_start", "hours": 72}, starts_at=None)
    r = client.post("/internal/agent/prestations", json=body, headers=world.agent_headers)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert "Une liste d'attente demande une capacité" in r.json()["problems"]
    assert "Un délai en heures demande l'heure de début de la prestation" in r.json()["problems"]

    body = prestation_body(world.service_id, "bad2", schedule={"first": "2027-01-10", "last": "2027-01-01",
                                                               "weekdays": [0]})
    r = client.post("/internal/agent/prestations", json=body, headers=world.agent_headers)
    assert r.status_code == 422 and r.json()["detail"] == "La fin de la période précède son début"

    body = prestation_body(world.service_id, "bad3", windows=[{"first": "2027-01-01", "last": "2027-01-05",
                                                               "opens_at": "2026-12-01T09:00:00"}])
    r = client.post("/internal/agent/prestations", json=body, headers=world.agent_headers)
    assert r.status_code == 422 and "fuseau horaire" in r.json()["detail"]


@pytest.mark.parametrize("body", [
    {"code": "Pas Un Code", "label": "x"},
    {"code": "ok", "label": "x" * 201},
    {"code": "ok", "label": "x", "extra": 1},
    {"code": 3, "label": "x"},
])
def test_malformed_service_bodies_are_400(world, client, body):
    r = client.post("/internal/agent/services", json=body, headers=world.agent_headers)
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json")


def test_malformed_queries_are_problems_not_500(world, client):
    p = world.prestation()
    for params in ({"first": "2026-13-01", "last": "2026-12-01"}, {"first": "2027-01-10", "last": "2027-01-01"},
                   {"first": "2026-01-01", "last": "2027-06-01"}, {"first": "x", "last": "y"}):
        r = client.get(f"/internal/agent/prestations/{p['id']}/sessions", params=params, headers=world.agent_headers)
        assert r.status_code in (400, 422), (params, r.text)
    r = client.get("/internal/agent/services", params={"per_page": 1000}, headers=world.agent_headers)
    assert r.status_code == 400
    r = client.put(f"/internal/agent/prestations/{p['id']}/sessions/2026-02-31", json={"capacity": 1},
                   headers=world.agent_headers)
    assert r.status_code in (400, 422)


def test_another_communes_catalogue_is_invisible(db, world, client):
    mine = world.prestation()
    other = make_world(db, client)
    r = client.get("/internal/agent/prestations", headers=other.agent_headers)
    assert r.status_code == 200 and r.json()["total"] == 0
    assert client.get(f"/internal/agent/prestations/{mine['id']}", headers=other.agent_headers).status_code == 404
    r = client.put(f"/internal/agent/prestations/{mine['id']}", json=prestation_body(world.service_id, "x"),
                   headers=other.agent_headers)
    assert r.status_code == 404
    r = client.delete(f"/internal/agent/services/{world.service_id}", headers=other.agent_headers)
    assert r.status_code == 404
    r = client.get(f"/internal/agent/prestations/{mine['id']}/sessions/2026-12-10/attendance",
                   headers=other.agent_headers)
    assert r.status_code == 404


def test_callers_who_are_not_current_agents_are_refused(db, world, client):
    parent = tokens.Caller(sub=unique("p"), role="parent", family_id="f")
    assert client.get("/internal/agent/services", headers=auth(parent)).status_code == 403
    stranger = tokens.Caller(sub=unique("a"), role="agent", commune=world.commune)  # not in the projection
    r = client.get("/internal/agent/services", headers=auth(stranger))
    assert r.status_code == 403 and "plus agent" in r.json()["detail"]
    with db.transaction() as s:
        s.execute(agents.update().where(agents.c.user_id == world.agent.sub).values(active=False, changed_at=utcnow()))
    assert client.get("/internal/agent/services", headers=world.agent_headers).status_code == 403
    assert client.get("/internal/agent/services").status_code == 401


def test_delete_refused_once_booked_and_codes_unique(world, client):
    p = world.prestation("repas")
    r = client.post("/internal/agent/prestations", json=prestation_body(world.service_id, "repas"),
                    headers=world.agent_headers)
    assert r.status_code == 409
    family = world.family()
    world.enrol(family)
    day = world.open_dates(p["id"], 1)[0]
    r = client.post("/internal/parent/cart/lines", json={"lines": [
        {"child_id": family.child_id, "prestation_id": p["id"], "session_date": day.isoformat()}]},
        headers=family.headers)
    assert r.status_code == 200, r.text
    assert client.post("/internal/parent/cart/validate", headers=family.headers).status_code == 200
    r = client.delete(f"/internal/agent/prestations/{p['id']}", headers=world.agent_headers)
    assert r.status_code == 409
    with world.db.read() as s:
        assert s.execute(sa.text("select count(*) from bookings where prestation_id = :p"), {"p": p["id"]}).scalar() == 1
