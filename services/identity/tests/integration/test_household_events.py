"""identity announces household facts (contracts.identity) in the same transaction as the change,
so booking, billing and requests can keep their projections of children and guardians."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from accounts_testkit import (activate, app, auth, client, db, db_url, make_agent, make_commune,  # noqa: F401
                              gateway_caller, outbox_events, parent_caller, unique)

from identity import households, seed

pytestmark = pytest.mark.integration

CHILD = {"given_name": "Léa", "family_name": "Martin", "birth_date": "2017-03-02", "school": "École Jules Ferry",
         "class_name": "CE1"}


def events_for(db, event_type, family_id):
    return [e["data"] for e in outbox_events(db, event_type) if e["data"]["family_id"] == family_id]


@pytest.fixture
def family(client, db):
    commune = make_commune(db)
    done = activate(client, db, make_agent(db, commune), f"{unique('parent')}@example.org")
    return {**done, "headers": auth(parent_caller(done["sub"]))}


def test_registration_and_activation_announce_the_first_guardian_and_address(db, family):
    [guardian] = events_for(db, "guardian.added.v1", family["family_id"])
    assert guardian["user_id"] == family["sub"]
    [address] = events_for(db, "family_address.changed.v1", family["family_id"])
    assert (address["postcode"], address["city"]) == ("54180", "Heillecourt")
    assert address["guardian_id"] == guardian["guardian_id"]


def test_child_added_and_updated(client, db, family):
    r = client.post("/internal/me/children", json=CHILD, headers=family["headers"])
    assert r.status_code == 201, r.text
    child_id = r.json()["id"]
    [added] = events_for(db, "child.added.v1", family["family_id"])
    assert added["child_id"] == child_id
    assert (added["given_name"], added["birth_date"], added["school"], added["class_name"]) == (
        "Léa", "2017-03-02", "École Jules Ferry", "CE1")

    r = client.patch(f"/internal/me/children/{child_id}", json={"class_name": "CE2"}, headers=family["headers"])
    assert r.status_code == 200, r.text
    [updated] = events_for(db, "child.updated.v1", family["family_id"])
    assert updated["child_id"] == child_id and updated["class_name"] == "CE2" and updated["given_name"] == "Léa"


def test_refused_child_announces_nothing(client, db, family):
    r = client.post("/internal/me/children", json={**CHILD, "given_name": ""}, headers=family["headers"])
    assert r.status_code == 422
    assert events_for(db, "child.added.v1", family["family_id"]) == []


def test_accepted_address_change_is_announced(db, family):
    with db.transaction() as s:
        guardian_id = events_for(db, "guardian.added.v1", family["family_id"])[0]["guardian_id"]
        households.apply_address_change(s, family["family_id"], guardian_id=guardian_id,
                                        address={"street": "1 rue Neuve", "postcode": "54710", "city": "Ludres"})
    latest = events_for(db, "family_address.changed.v1", family["family_id"])[-1]
    assert (latest["street"], latest["city"]) == ("1 rue Neuve", "Ludres")


def test_demo_seed_announces_the_demo_family_with_fixed_ids(db):
    with db.transaction() as s:
        seed.seed_demo(s, production=False, totp_secret="JBSWY3DPEHPK3PXPJBSWY3DP")
    family_id = seed.DEMO_FAMILY_ID
    assert {e["commune"] for e in events_for(db, "family.registered.v1", family_id)} == {"heillecourt"}
    assert {e["commune"] for e in events_for(db, "family.activated.v1", family_id)} == {"heillecourt"}
    children = {e["child_id"]: e["given_name"] for e in events_for(db, "child.added.v1", family_id)}
    assert children == {c["id"]: c["given_name"] for c in seed.DEMO_CHILDREN}
    assert len(events_for(db, "guardian.added.v1", family_id)) == 1
    assert events_for(db, "family_address.changed.v1", family_id)[0]["city"] == "Heillecourt"


def test_accepted_invitation_announces_the_second_guardian(client, db, family):
    email = f"{unique('second')}@example.org"
    assert client.post("/internal/me/invitations", json={"email": email}, headers=family["headers"]).status_code == 201
    token = [e for e in outbox_events(db, "guardian.invited.v1")
             if e["data"]["email"] == email][-1]["data"]["link"].rsplit("/", 1)[1]
    r = client.post(f"/internal/invitations/{token}/accept", headers=auth(gateway_caller()), json={
        "family_name": "Martin", "given_name": "Paul", "birth_date": "1983-06-01", "phone": "0622334455",
        "password": "le chat de paul dort au soleil"})
    assert r.status_code == 200, r.text
    added = events_for(db, "guardian.added.v1", family["family_id"])
    assert [(g["given_name"], g["user_id"]) for g in added][-1] == ("Paul", r.json()["sub"])
