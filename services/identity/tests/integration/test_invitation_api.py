"""A legal guardian invites a second adult, who gets their own login on the same family."""
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))
from accounts_testkit import (GOOD_PASSWORD, activate, app, auth, client, db, db_url,  # noqa: F401
                              gateway_caller, link_token, make_agent, make_commune, outbox_events, parent_caller,
                              unique)

from identity.models import Invitation

pytestmark = pytest.mark.integration

ACCEPT = {"family_name": "Martin", "given_name": "Paul", "birth_date": "1983-06-01", "phone": "0622334455",
          "password": "le chat de paul dort au soleil"}


@pytest.fixture
def family(client, db):
    commune = make_commune(db)
    done = activate(client, db, make_agent(db, commune), f"{unique('parent')}@example.org")
    return {**done, "commune": commune, "headers": auth(parent_caller(done["sub"])), "agent_commune": commune}


def invite(client, family, email):
    return client.post("/internal/me/invitations", json={"email": email}, headers=family["headers"])


def test_invitation_creates_a_second_login_on_the_same_family(client, db, family):
    email = f"{unique('second')}@example.org"
    r = invite(client, family, email)
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "valid" and r.json()["email"] == email
    event = [e for e in outbox_events(db, "guardian.invited.v1") if e["data"]["email"] == email][0]["data"]
    assert event["family_id"] == family["family_id"] and event["inviter_name"] == "Claire Martin"
    assert event["link"].startswith("http://portal.test/invitation/")
    token = link_token(db, email, "guardian.invited.v1")
    gw = auth(gateway_caller())

    view = client.get(f"/internal/invitations/{token}", headers=gw).json()
    assert view["step"] == "accept" and view["family_name"] == "Martin" and view["inviter_name"] == "Claire Martin"

    r = client.post(f"/internal/invitations/{token}/accept", json={**ACCEPT, "password": "court"}, headers=gw)
    assert r.status_code == 422 and "password" in r.json()["errors"]
    r = client.post(f"/internal/invitations/{token}/accept", json={**ACCEPT, "phone": ""}, headers=gw)
    assert r.status_code == 422 and r.json()["errors"] == {"phone": "Ce champ est obligatoire."}

    r = client.post(f"/internal/invitations/{token}/accept", json=ACCEPT, headers=gw)
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["family_id"] == family["family_id"] and second["sub"] != family["sub"]
    household = client.get("/internal/me/household", headers=auth(parent_caller(second["sub"]))).json()
    assert household["family"]["id"] == family["family_id"]
    assert {(g["given_name"], g["is_me"]) for g in household["guardians"]} == {("Claire", False), ("Paul", True)}
    # The first guardian sees the invitation used.
    mine = client.get("/internal/me/household", headers=family["headers"]).json()
    assert mine["invitations"][0]["state"] == "used"
    r = client.get(f"/internal/invitations/{token}", headers=gw)
    assert r.status_code == 410 and r.json()["state"] == "used"


def test_member_of_another_family_cannot_join_a_second_one(client, db, family):
    # Someone with an account of their own and no family (e.g. made through the invoice portal).
    other_commune = make_commune(db)
    email = f"{unique('existing')}@example.org"
    invite(client, family, email)
    first_token = link_token(db, email, "guardian.invited.v1")
    r = client.post(f"/internal/invitations/{first_token}/accept", json=ACCEPT, headers=auth(gateway_caller()))
    assert r.status_code == 200
    invited = r.json()["sub"]
    # A second family invites them: they already belong to one.
    other = activate(client, db, make_agent(db, other_commune), f"{unique('parent')}@example.org")
    client.post("/internal/me/invitations", json={"email": email}, headers=auth(parent_caller(other["sub"])))
    token = link_token(db, email, "guardian.invited.v1")
    view = client.get(f"/internal/invitations/{token}", headers=auth(gateway_caller())).json()
    assert view["step"] == "confirm" and view["existing_account"] is True
    r = client.post(f"/internal/invitations/{token}/accept", json=ACCEPT, headers=auth(gateway_caller()))
    assert r.status_code == 409
    r = client.post(f"/internal/invitations/{token}/confirm", headers=auth(parent_caller(other["sub"])))
    assert r.status_code == 403  # not the invited e-mail
    r = client.post(f"/internal/invitations/{token}/confirm", headers=auth(parent_caller(invited)))
    assert r.status_code == 409 and "autre famille" in r.json()["detail"]


def test_existing_account_without_family_confirms(client, db, family):
    from identity.models import Guardian, User

    email = f"{unique('portal')}@example.org"
    # An account that exists with no family: remove the guardian made for it by its own activation.
    solo = activate(client, db, make_agent(db, make_commune(db)), email)
    with db.transaction() as s:
        user = s.scalars(sa.select(User).where(User.sub == solo["sub"])).one()
        s.execute(sa.delete(Guardian).where(Guardian.user_id == user.id))
    invite(client, family, email)
    token = link_token(db, email, "guardian.invited.v1")
    r = client.post(f"/internal/invitations/{token}/confirm", headers=auth(parent_caller(solo["sub"])))
    assert r.status_code == 200, r.text
    assert r.json()["family_id"] == family["family_id"]
    household = client.get("/internal/me/household", headers=auth(parent_caller(solo["sub"]))).json()
    assert household["family"]["id"] == family["family_id"]


def test_inviting_again_supersedes_and_inviting_a_member_is_refused(client, db, family):
    email = f"{unique('second')}@example.org"
    invite(client, family, email)
    old = link_token(db, email, "guardian.invited.v1")
    invite(client, family, email)
    r = client.get(f"/internal/invitations/{old}", headers=auth(gateway_caller()))
    assert r.status_code == 410 and r.json()["state"] == "superseded"
    r = invite(client, family, family["email"])
    assert r.status_code == 409
    r = invite(client, family, "pas une adresse")
    assert r.status_code == 422 and "email" in r.json()["errors"]


def test_expired_invitation(client, db, family):
    email = f"{unique('late')}@example.org"
    invite(client, family, email)
    token = link_token(db, email, "guardian.invited.v1")
    with db.transaction() as s:
        s.execute(sa.update(Invitation).where(Invitation.email == email)
                  .values(expires_at=datetime.now(timezone.utc) - timedelta(minutes=1)))
    r = client.post(f"/internal/invitations/{token}/accept", json=ACCEPT, headers=auth(gateway_caller()))
    assert r.status_code == 410 and r.json()["state"] == "expired"
