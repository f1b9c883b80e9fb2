"""An enrolment is refused while the child's dossier is incomplete: booking asks requests (here
its stand-in over real HTTP, requests_standin) and names the missing or expired documents; when
requests does not answer, nothing is written (fail closed, 503)."""
import datetime as dt
import socket

import pytest
import sqlalchemy as sa

from booking_testkit import PARIS_TODAY, outbox_events

from booking import dossiers
from booking.models import audit_entries, bookings, enrolments

pytestmark = pytest.mark.integration

HEALTH = ("fiche_sanitaire", "Fiche sanitaire de liaison")
INSURANCE = ("assurance", "Attestation d'assurance extrascolaire")


def enrol(world, family, **extra):
    today = PARIS_TODAY()
    body = {"child_id": family.child_id, "service_id": world.service_id, "first": today.isoformat(),
            "last": (today + dt.timedelta(days=60)).isoformat(), **extra}
    return world.client.post("/internal/agent/enrolments", json=body, headers=world.agent_headers)


def enrolments_of(db, family) -> int:
    with db.read() as s:
        return s.execute(sa.select(sa.func.count()).select_from(enrolments).where(
            enrolments.c.child_id == family.child_id)).scalar_one()


def test_an_incomplete_dossier_refuses_the_enrolment_naming_each_document(db, world, requests_standin):
    p = world.prestation(capacity=None)
    family = world.family()
    requests_standin.require(world.commune, world.service_id, HEALTH, INSURANCE)
    requests_standin.hold(family.family_id, "assurance", expired=True)

    r = enrol(world, family, fixed_weekdays=[0, 3])
    assert r.status_code == 422 and r.headers["Content-Type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["detail"] == (
        "Inscription refusée : le dossier de Léa est incomplet pour « Restauration scolaire ». "
        "« Fiche sanitaire de liaison » est à fournir. « Attestation d'assurance extrascolaire » n'est plus "
        "valable : ajoutez un document de l'année scolaire en cours. "
        "La famille peut les déposer dans son espace (Mes demandes).")
    assert problem["missing"] == [{"doc_type": "fiche_sanitaire", "label": "Fiche sanitaire de liaison",
                                   "reason": "missing"},
                                  {"doc_type": "assurance", "label": "Attestation d'assurance extrascolaire",
                                   "reason": "expired"}]
    # Nothing written: no enrolment, no fixed-day booking, no event, no audit entry.
    assert enrolments_of(db, family) == 0
    with db.read() as s:
        assert s.execute(sa.select(bookings.c.id).where(bookings.c.child_id == family.child_id)).first() is None
        assert s.execute(sa.select(audit_entries.c.id).where(audit_entries.c.commune == world.commune,
                                                             audit_entries.c.action.like("enrolment.%"))).first() is None
    assert not [e for e in outbox_events(db, "booking.confirmed.v1") if e["child_id"] == family.child_id]
    assert p["id"]

    # booking asked as the platform, about this family, child, service and commune
    caller, query = requests_standin.asked[-1]
    assert (caller.sub, caller.role) == ("booking", "system")
    assert query == {"service_id": world.service_id, "child_id": family.child_id, "family_id": family.family_id,
                     "commune": world.commune}

    # Once the family has sent the documents, the same enrolment goes through.
    requests_standin.hold(family.family_id, "fiche_sanitaire")
    requests_standin.hold(family.family_id, "assurance")
    r = enrol(world, family, fixed_weekdays=[0, 3])
    assert r.status_code == 201, r.text
    assert enrolments_of(db, family) == 1 and r.json()["bookings"]


def test_a_service_without_requirements_enrols_as_before(db, world, requests_standin):
    family = world.family()
    requests_standin.require(world.commune, "another-service", HEALTH)  # another service's rule
    assert enrol(world, family).status_code == 201
    assert enrolments_of(db, family) == 1


def test_requests_failing_refuses_the_enrolment_with_a_503(db, world, requests_standin):
    family = world.family()
    requests_standin.down = True
    try:
        r = enrol(world, family)
    finally:
        requests_standin.down = False
    assert r.status_code == 503 and r.json()["detail"] == dossiers.UNAVAILABLE
    assert "ne peut pas être vérifié" in r.json()["detail"]
    assert enrolments_of(db, family) == 0


def test_a_retried_enrolment_gets_its_first_answer_without_a_new_check(db, world, requests_standin):
    family = world.family()
    key = {"Idempotency-Key": "enrol-once"}
    today = PARIS_TODAY()
    body = {"child_id": family.child_id, "service_id": world.service_id, "first": today.isoformat(),
            "last": (today + dt.timedelta(days=60)).isoformat()}
    first = world.client.post("/internal/agent/enrolments", json=body, headers={**world.agent_headers, **key})
    assert first.status_code == 201, first.text
    asked = len(requests_standin.asked)
    requests_standin.down = True  # the retry (a double click, the gateway's retry) needs no check
    try:
        again = world.client.post("/internal/agent/enrolments", json=body, headers={**world.agent_headers, **key})
    finally:
        requests_standin.down = False
    assert again.status_code == 201 and again.json() == first.json()
    assert len(requests_standin.asked) == asked and enrolments_of(db, family) == 1


def test_requests_unreachable_refuses_the_enrolment_with_a_503(db, world, monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from booking.settings import get_settings

    monkeypatch.setattr(get_settings(), "requests_url", f"http://127.0.0.1:{port}")
    dossiers._client.cache_clear()
    try:
        family = world.family()
        r = enrol(world, family)
    finally:
        monkeypatch.undo()
        dossiers._client.cache_clear()
    assert r.status_code == 503 and r.json()["detail"] == dossiers.UNAVAILABLE
    assert enrolments_of(db, family) == 0


def test_an_agent_of_another_commune_is_refused_before_requests_is_asked(db, world, client, requests_standin):
    from booking_testkit import make_world

    family = world.family()
    other = make_world(db, client)
    asked = len(requests_standin.asked)
    r = client.post("/internal/agent/enrolments", headers=other.agent_headers, json={
        "child_id": family.child_id, "service_id": other.service_id, "first": PARIS_TODAY().isoformat(),
        "last": PARIS_TODAY().isoformat()})
    assert r.status_code == 404 and len(requests_standin.asked) == asked
