"""An agent registers families for their commune (API over the connexion test client, PostgreSQL)."""
import hashlib
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))
from accounts_testkit import (GOOD_PASSWORD, PROFILE, activate, app, auth, client, db, db_url,  # noqa: F401
                              gateway_caller, link_token, make_agent, make_commune, outbox_events, parent_caller,
                              register, unique)

from identity.models import Activation, AuditEntry, FamilyCommune, Guardian, User

pytestmark = pytest.mark.integration


def test_registration_creates_account_family_link_and_events_in_one_transaction(client, db):
    commune = make_commune(db, "Heillecourt")
    agent = make_agent(db, commune)
    email = f"{unique('Parent')}@Example.org"

    r = register(client, agent, email, "Dupont")

    assert r.status_code == 201, r.text
    body = r.json()
    login = email.lower()
    assert body["status"] == "pending" and body["name"] == "Dupont" and body["login_email"] == login
    assert body["activation"]["state"] == "valid" and body["activation"]["sent_at"] is None
    with db.read() as s:
        user = s.scalars(sa.select(User).where(User.email == login)).one()
        assert user.is_active is False and user.password_hash is None
        guardian = s.scalars(sa.select(Guardian).where(Guardian.user_id == user.id)).one()
        assert guardian.is_primary and guardian.family_id == body["id"]
        activation = s.scalars(sa.select(Activation).where(Activation.family_id == body["id"])).one()
        token_hash, source_event_id = activation.token_hash, activation.source_event_id
        actions = [a.action for a in s.scalars(sa.select(AuditEntry).where(AuditEntry.subject_user_id == user.id))]
    registered = [e for e in outbox_events(db, "family.registered.v1") if e["data"]["family_id"] == body["id"]]
    issued = [e for e in outbox_events(db, "activation.issued.v1") if e["data"]["family_id"] == body["id"]]
    assert len(registered) == 1 and registered[0]["data"]["commune"] == commune
    assert len(issued) == 1
    data = issued[0]["data"]
    assert data["link"].startswith("http://portal.test/activation/") and data["existing_account"] is False
    assert data["commune_name"] == "Heillecourt" and data["resend"] is False
    # The link's token is never stored, only its SHA-256; the event id is kept for notify's receipt.
    token = data["link"].rsplit("/", 1)[1]
    assert len(token) >= 22 and token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert source_event_id == issued[0]["id"]
    assert actions == ["family.registered"]


def test_a_refused_registration_leaves_nothing_behind(client, db):
    commune = make_commune(db)
    agent = make_agent(db, commune)
    before = len(outbox_events(db))
    r = client.post("/internal/agent/families", json={"family_name": "", "email": "pas-une-adresse"},
                    headers=auth(agent))
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    errors = r.json()["errors"]
    assert errors["family_name"] == "Ce champ est obligatoire."
    assert "adresse e-mail valide" in errors["email"]
    assert len(outbox_events(db)) == before


def test_existing_account_gets_no_second_account_and_confirms_by_signing_in(client, db):
    first, second = make_commune(db, "Heillecourt"), make_commune(db, "Ludres")
    email = f"{unique('parent')}@example.org"
    done = activate(client, db, make_agent(db, first), email)

    agent_b = make_agent(db, second)
    r = register(client, agent_b, email.upper(), "Martin-Ludres")

    assert r.status_code == 201, r.text
    assert r.json()["id"] == done["family_id"]  # same family, same login
    with db.read() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(User).where(User.email == email)) == 1
    issued = outbox_events(db, "activation.issued.v1")[-1]["data"]
    assert issued["existing_account"] is True and issued["commune"] == second
    token = link_token(db, email)
    view = client.get(f"/internal/activations/{token}", headers=auth(gateway_caller())).json()
    assert view["step"] == "confirm" and view["existing_account"] is True
    # The profile steps are not for an existing account.
    r = client.post(f"/internal/activations/{token}/profile", json={**PROFILE, "email": email},
                    headers=auth(gateway_caller()))
    assert r.status_code == 409
    # Someone else signed in cannot confirm it.
    other = activate(client, db, make_agent(db, first), f"{unique('other')}@example.org")
    r = client.post(f"/internal/activations/{token}/confirm", headers=auth(parent_caller(other["sub"])))
    assert r.status_code == 403
    r = client.post(f"/internal/activations/{token}/confirm", headers=auth(parent_caller(done["sub"])))
    assert r.status_code == 200, r.text
    assert r.json()["commune"]["slug"] == second
    with db.read() as s:
        assert s.get(FamilyCommune, (done["family_id"], second)).status == "active"
    household = client.get("/internal/me/household", headers=auth(parent_caller(done["sub"]))).json()
    assert {c["slug"]: c["status"] for c in household["communes"]} == {first: "active", second: "active"}


def test_registering_an_active_family_again_is_a_conflict(client, db):
    commune = make_commune(db)
    agent = make_agent(db, commune)
    email = f"{unique('parent')}@example.org"
    done = activate(client, db, agent, email)
    r = register(client, agent, email)
    assert r.status_code == 409
    assert r.json()["family_id"] == done["family_id"]
    assert "déjà un compte actif" in r.json()["detail"]


def test_resend_supersedes_the_previous_link(client, db):
    commune = make_commune(db)
    agent = make_agent(db, commune)
    email = f"{unique('parent')}@example.org"
    family_id = register(client, agent, email).json()["id"]
    old = link_token(db, email)

    r = client.post(f"/internal/agent/families/{family_id}/activation/resend", headers=auth(agent))

    assert r.status_code == 200, r.text
    new = link_token(db, email)
    assert new != old
    assert outbox_events(db, "activation.issued.v1")[-1]["data"]["resend"] is True
    gw = auth(gateway_caller())
    r = client.get(f"/internal/activations/{old}", headers=gw)
    assert r.status_code == 410 and r.json()["state"] == "superseded"
    assert "lien plus récent" in r.json()["detail"]
    assert client.get(f"/internal/activations/{new}", headers=gw).status_code == 200
    detail = client.get(f"/internal/agent/families/{family_id}", headers=auth(agent)).json()
    assert [a["state"] for a in detail["activations"]] == ["valid", "superseded"]


def test_resend_after_activation_is_refused(client, db):
    commune = make_commune(db)
    agent = make_agent(db, commune)
    done = activate(client, db, agent, f"{unique('parent')}@example.org")
    r = client.post(f"/internal/agent/families/{done['family_id']}/activation/resend", headers=auth(agent))
    assert r.status_code == 409


def test_agent_list_shows_link_state_and_filters(client, db):
    commune = make_commune(db)
    agent = make_agent(db, commune)
    tag = unique("zz")
    pending_email = f"{tag}-pending@example.org"
    register(client, agent, pending_email, f"Pending {tag}")
    activate(client, db, agent, f"{tag}-active@example.org", f"Active {tag}")

    listed = client.get("/internal/agent/families", params={"q": tag}, headers=auth(agent)).json()
    assert listed["total"] == 2
    by_status = {item["status"]: item for item in listed["items"]}
    assert by_status["active"]["activation"]["state"] == "used"
    assert by_status["active"]["activation"]["used_at"] is not None
    assert by_status["pending"]["activation"]["state"] == "valid"
    only_pending = client.get("/internal/agent/families", params={"q": tag, "status": "pending"},
                              headers=auth(agent)).json()
    assert [i["login_email"] for i in only_pending["items"]] == [pending_email]
    by_email = client.get("/internal/agent/families", params={"q": f"{tag}-PENDING"}, headers=auth(agent))
    assert by_email.json()["total"] == 1


def test_registration_needs_an_agent_of_that_commune(client, db):
    commune = make_commune(db)
    other = make_commune(db)
    agent_of_other = make_agent(db, other)
    # A token claiming a commune the user is not an agent of is refused.
    forged = agent_of_other.__class__(sub=agent_of_other.sub, role="agent", commune=commune)
    r = register(client, forged, f"{unique('p')}@example.org")
    assert r.status_code == 403
    r = register(client, parent_caller(agent_of_other.sub), f"{unique('p')}@example.org")
    assert r.status_code == 403
    r = client.post("/internal/agent/families", json={"family_name": "X", "email": "x@example.org"})
    assert r.status_code == 401


def test_agent_audit_journal_is_the_communes_own(client, db):
    commune, other = make_commune(db), make_commune(db)
    agent, agent_other = make_agent(db, commune), make_agent(db, other)
    register(client, agent, f"{unique('p')}@example.org")
    register(client, agent_other, f"{unique('p')}@example.org")
    entries = client.get("/internal/agent/audit", headers=auth(agent)).json()["items"]
    assert [e["action"] for e in entries] == ["family.registered"]
