"""Following an activation link: status, step 1/2 (profile), step 2/2 (password)."""
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))
from accounts_testkit import (GOOD_PASSWORD, PROFILE, app, auth, client, db, db_url,  # noqa: F401
                              gateway_caller, link_token, make_agent, make_commune, outbox_events, parent_caller,
                              register, unique)

from identity import passwords
from identity.models import Activation, AuditEntry, FamilyCommune, Guardian, User

pytestmark = pytest.mark.integration


@pytest.fixture
def pending(client, db):
    commune = make_commune(db, "Heillecourt")
    agent = make_agent(db, commune)
    email = f"{unique('parent')}@example.org"
    family_id = register(client, agent, email, "Martin").json()["id"]
    return {"commune": commune, "agent": agent, "email": email, "family_id": family_id,
            "token": link_token(db, email), "gw": auth(gateway_caller())}


def test_full_activation(client, db, pending):
    token, gw, email = pending["token"], pending["gw"], pending["email"]
    view = client.get(f"/internal/activations/{token}", headers=gw).json()
    assert view["step"] == "profile" and view["email"] == email and view["commune"]["name"] == "Heillecourt"
    assert view["family_name"] == "Martin" and view["existing_account"] is False

    r = client.post(f"/internal/activations/{token}/profile",
                    json={**PROFILE, "email": email.upper(), "phone": "+33 6 12 34 56 78", "birth_date": "12/04/1985"},
                    headers=gw)
    assert r.status_code == 200, r.text
    assert r.json()["step"] == "password"
    assert r.json()["profile"]["phone"] == "06 12 34 56 78"
    assert r.json()["profile"]["birth_date"] == "1985-04-12"

    r = client.post(f"/internal/activations/{token}/password", json={"password": GOOD_PASSWORD}, headers=gw)

    assert r.status_code == 200, r.text
    done = r.json()
    assert done["email"] == email and done["family_id"] == pending["family_id"]
    assert done["commune"]["slug"] == pending["commune"]
    with db.read() as s:
        user = s.scalars(sa.select(User).where(User.email == email)).one()
        assert user.is_active and user.sub == done["sub"] and user.given_name == "Claire"
        assert passwords.verify_password(user.password_hash, GOOD_PASSWORD)
        guardian = s.scalars(sa.select(Guardian).where(Guardian.user_id == user.id)).one()
        assert (guardian.street, guardian.postcode, guardian.city) == ("3 rue des Lilas", "54180", "Heillecourt")
        association = s.get(FamilyCommune, (pending["family_id"], pending["commune"]))
        assert association.status == "active" and association.activated_at is not None
        assert s.scalars(sa.select(Activation).where(Activation.family_id == pending["family_id"])).one().used_at
        actions = [a.action for a in s.scalars(sa.select(AuditEntry).where(AuditEntry.subject_user_id == user.id))]
    assert actions == ["family.registered", "account.activated"]
    activated = [e for e in outbox_events(db, "family.activated.v1") if e["data"]["family_id"] == pending["family_id"]]
    assert activated[0]["data"] == {"family_id": pending["family_id"], "commune": pending["commune"],
                                    "user_id": done["sub"]}
    changed = [e for e in outbox_events(db, "password.changed.v1") if e["data"]["email"] == email]
    assert changed[0]["data"]["reason"] == "activation"
    # The claims the OIDC provider releases now carry the family and its commune.
    household = client.get("/internal/me/household", headers=auth(parent_caller(done["sub"]))).json()
    assert household["family"]["login_email"] == email
    # A used link is dead.
    r = client.get(f"/internal/activations/{token}", headers=gw)
    assert r.status_code == 410 and r.json()["state"] == "used"
    r = client.post(f"/internal/activations/{token}/password", json={"password": GOOD_PASSWORD}, headers=gw)
    assert r.status_code == 410


def test_step_one_errors_are_in_french_and_per_field(client, pending):
    r = client.post(f"/internal/activations/{pending['token']}/profile", headers=pending["gw"], json={
        "family_name": "", "given_name": "Claire", "birth_date": "2999-01-01", "street": "1 rue",
        "postcode": "5418", "city": "Heillecourt", "email": "autre@example.org", "phone": "12",
    })
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    errors = r.json()["errors"]
    assert errors == {
        "family_name": "Ce champ est obligatoire.",
        "birth_date": "La date ne peut pas être dans le futur.",
        "postcode": "Le code postal comporte 5 chiffres, par exemple 54180.",
        "phone": "Saisissez un numéro de téléphone valide, par exemple 06 12 34 56 78.",
        "email": errors["email"],
    }
    assert pending["email"] in errors["email"] and "adresse de contact" in errors["email"]


def test_missing_fields_are_reported_not_rejected_by_the_schema(client, pending):
    r = client.post(f"/internal/activations/{pending['token']}/profile", headers=pending["gw"], json={})
    assert r.status_code == 422
    assert set(r.json()["errors"]) == {"family_name", "given_name", "birth_date", "street", "postcode", "city",
                                       "email", "phone"}


def test_unknown_properties_are_refused_by_the_spec(client, pending):
    r = client.post(f"/internal/activations/{pending['token']}/profile", headers=pending["gw"],
                    json={**PROFILE, "email": pending["email"], "is_admin": True})
    assert r.status_code == 400


def test_weak_password_is_refused(client, pending):
    token, gw = pending["token"], pending["gw"]
    client.post(f"/internal/activations/{token}/profile", json={**PROFILE, "email": pending["email"]}, headers=gw)
    r = client.post(f"/internal/activations/{token}/password", json={"password": "court"}, headers=gw)
    assert r.status_code == 422
    assert "password" in r.json()["errors"]
    r = client.post(f"/internal/activations/{token}/password", json={}, headers=gw)
    assert r.status_code == 422 and r.json()["errors"]["password"] == "Ce champ est obligatoire."
    assert client.get(f"/internal/activations/{token}", headers=gw).json()["step"] == "password"


def test_password_before_profile_is_a_conflict(client, pending):
    r = client.post(f"/internal/activations/{pending['token']}/password", json={"password": GOOD_PASSWORD},
                    headers=pending["gw"])
    assert r.status_code == 409 and "étape 1 sur 2" in r.json()["detail"]


def test_expired_link_is_refused(client, db, pending):
    with db.transaction() as s:
        s.execute(sa.update(Activation).where(Activation.family_id == pending["family_id"])
                  .values(expires_at=datetime.now(timezone.utc) - timedelta(seconds=1)))
    r = client.get(f"/internal/activations/{pending['token']}", headers=pending["gw"])
    assert r.status_code == 410
    assert r.json()["state"] == "expired" and "expiré" in r.json()["detail"]
    r = client.post(f"/internal/activations/{pending['token']}/profile", headers=pending["gw"],
                    json={**PROFILE, "email": pending["email"]})
    assert r.status_code == 410
    # The agent sees it expired.
    item = client.get(f"/internal/agent/families/{pending['family_id']}", headers=auth(pending["agent"])).json()
    assert item["activation"]["state"] == "expired"


def test_links_expire_after_48_hours(db, pending):
    with db.read() as s:
        activation = s.scalars(sa.select(Activation).where(Activation.family_id == pending["family_id"])).one()
        lifetime = activation.expires_at - activation.created_at
    assert lifetime == timedelta(hours=48)


def test_unknown_link(client):
    r = client.get("/internal/activations/nope", headers=auth(gateway_caller()))
    assert r.status_code == 404 and "pas valable" in r.json()["detail"]


def test_link_endpoints_need_a_service_token(client, pending):
    assert client.get(f"/internal/activations/{pending['token']}").status_code == 401
