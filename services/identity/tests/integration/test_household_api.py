"""The family space: COMPTE FAMILLE, RESPONSABLES, ENFANTS (the caller's own family only)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from accounts_testkit import (activate, app, auth, client, db, db_url, make_agent, make_commune,  # noqa: F401
                              parent_caller, unique)

pytestmark = pytest.mark.integration

CHILD = {"given_name": "Léa", "family_name": "Martin", "birth_date": "2017-03-02", "school": "École Jules Ferry",
         "class_name": "CE1", "medical_info": "Allergie aux arachides",
         "pickup_authorisations": [{"name": "Jeanne Martin", "phone": "0611223344", "relation": "Grand-mère"}]}


@pytest.fixture
def family(client, db):
    commune = make_commune(db)
    email = f"{unique('parent')}@example.org"
    done = activate(client, db, make_agent(db, commune), email)
    return {**done, "headers": auth(parent_caller(done["sub"])), "commune": commune}


def test_household_read(client, family):
    r = client.get("/internal/me/household", headers=family["headers"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["family"] == {"id": family["family_id"], "name": "Martin", "login_email": family["email"]}
    assert body["communes"][0]["slug"] == family["commune"] and body["communes"][0]["status"] == "active"
    [me] = body["guardians"]
    assert me["is_me"] and me["is_primary"] and me["has_login"] and me["login_email"] == family["email"]
    assert me["address"] == {"street": "3 rue des Lilas", "postcode": "54180", "city": "Heillecourt"}
    assert body["children"] == [] and body["invitations"] == []


def test_rename_family(client, family):
    r = client.patch("/internal/me/family", json={"name": "  Martin   Durand "}, headers=family["headers"])
    assert r.status_code == 200 and r.json()["family"]["name"] == "Martin Durand"
    r = client.patch("/internal/me/family", json={"name": ""}, headers=family["headers"])
    assert r.status_code == 422 and r.json()["errors"] == {"name": "Ce champ est obligatoire."}


def test_update_own_contact_data(client, family):
    me = client.get("/internal/me/household", headers=family["headers"]).json()["guardians"][0]
    r = client.patch(f"/internal/me/guardians/{me['id']}", headers=family["headers"],
                     json={"phone": "07.81.22.33.44", "email": "Contact@Example.org"})
    assert r.status_code == 200, r.text
    assert r.json()["phone"] == "07 81 22 33 44" and r.json()["email"] == "contact@example.org"
    assert r.json()["login_email"] == family["email"]  # the login does not change here
    r = client.patch(f"/internal/me/guardians/{me['id']}", headers=family["headers"], json={"phone": "abc"})
    assert r.status_code == 422 and "phone" in r.json()["errors"]


def test_home_address_is_read_only(client, family):
    me = client.get("/internal/me/household", headers=family["headers"]).json()["guardians"][0]
    r = client.patch(f"/internal/me/guardians/{me['id']}", headers=family["headers"],
                     json={"street": "1 autre rue"})
    assert r.status_code == 400
    assert client.get("/internal/me/household", headers=family["headers"]).json()["guardians"][0]["address"] == \
        me["address"]


def test_add_and_edit_children(client, family):
    r = client.post("/internal/me/children", json=CHILD, headers=family["headers"])
    assert r.status_code == 201, r.text
    child = r.json()
    assert child["given_name"] == "Léa" and child["birth_date"] == "2017-03-02" and child["class_name"] == "CE1"
    assert child["pickup_authorisations"] == [{"name": "Jeanne Martin", "phone": "06 11 22 33 44",
                                               "relation": "Grand-mère"}]
    assert child["alternate_address"] is None
    r = client.patch(f"/internal/me/children/{child['id']}", json={"class_name": "CE2", "medical_info": ""},
                     headers=family["headers"])
    assert r.status_code == 200
    assert r.json()["class_name"] == "CE2" and r.json()["medical_info"] is None and r.json()["school"] == CHILD["school"]
    children = client.get("/internal/me/household", headers=family["headers"]).json()["children"]
    assert [c["class_name"] for c in children] == ["CE2"]


def test_child_validation(client, family):
    r = client.post("/internal/me/children", headers=family["headers"], json={
        "given_name": "Hugo", "birth_date": "demain",
        "pickup_authorisations": [{"name": "", "phone": "0611223344", "relation": "Voisin"}]})
    assert r.status_code == 422
    assert r.json()["errors"] == {
        "family_name": "Ce champ est obligatoire.",
        "birth_date": "Saisissez une date au format JJ/MM/AAAA.",
        "pickup_authorisations.0.name": "Ce champ est obligatoire.",
    }
    r = client.post("/internal/me/children", headers=family["headers"], json={**CHILD, "alternate_address": {}})
    assert r.status_code == 400  # read-only here: changes only through a request


def test_parent_cannot_touch_another_family(client, db, family):
    other = activate(client, db, make_agent(db, family["commune"]), f"{unique('other')}@example.org")
    other_headers = auth(parent_caller(other["sub"]))
    child = client.post("/internal/me/children", json=CHILD, headers=other_headers).json()
    other_guardian = client.get("/internal/me/household", headers=other_headers).json()["guardians"][0]

    r = client.patch(f"/internal/me/children/{child['id']}", json={"class_name": "CM2"}, headers=family["headers"])
    assert r.status_code == 404
    r = client.patch(f"/internal/me/guardians/{other_guardian['id']}", json={"phone": "0611223344"},
                     headers=family["headers"])
    assert r.status_code == 404
    mine = client.get("/internal/me/household", headers=family["headers"]).json()
    assert mine["family"]["id"] == family["family_id"] and mine["children"] == []
    # The family comes from the login, never from the token's family_id.
    forged = parent_caller(family["sub"]).__class__(sub=family["sub"], role="parent", family_id=other["family_id"])
    assert client.get("/internal/me/household", headers=auth(forged)).json()["family"]["id"] == family["family_id"]


def test_caller_without_a_family(client, db):
    agent = make_agent(db, make_commune(db))
    r = client.get("/internal/me/household", headers=auth(agent))
    assert r.status_code == 404 and "Aucune famille" in r.json()["detail"]
    assert client.get("/internal/me/household", headers=auth(parent_caller("unknown-sub"))).status_code == 404
