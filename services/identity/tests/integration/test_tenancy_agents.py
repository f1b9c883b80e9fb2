"""An agent of commune A never sees nor changes anything of commune B."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from accounts_testkit import (activate, app, auth, client, db, db_url, make_agent, make_commune,  # noqa: F401
                              parent_caller, register, unique)

pytestmark = pytest.mark.integration


@pytest.fixture
def two_communes(client, db):
    a, b = make_commune(db, "Heillecourt"), make_commune(db, "Ludres")
    agent_a, agent_b = make_agent(db, a), make_agent(db, b)
    tag = unique("fam")
    pending_b = register(client, agent_b, f"{tag}-pending@example.org", f"Pending {tag}").json()["id"]
    active_b = activate(client, db, agent_b, f"{tag}-active@example.org", f"Active {tag}")["family_id"]
    return {"a": a, "b": b, "agent_a": agent_a, "agent_b": agent_b, "tag": tag,
            "families_b": [pending_b, active_b]}


def test_agent_of_a_cannot_list_families_of_b(client, two_communes):
    listed = client.get("/internal/agent/families", params={"q": two_communes["tag"]},
                        headers=auth(two_communes["agent_a"])).json()
    assert listed["total"] == 0 and listed["items"] == []
    seen_by_b = client.get("/internal/agent/families", params={"q": two_communes["tag"]},
                           headers=auth(two_communes["agent_b"])).json()
    assert seen_by_b["total"] == 2


def test_agent_of_a_cannot_see_or_change_a_family_of_b(client, two_communes):
    for family_id in two_communes["families_b"]:
        r = client.get(f"/internal/agent/families/{family_id}", headers=auth(two_communes["agent_a"]))
        assert r.status_code == 404
        r = client.post(f"/internal/agent/families/{family_id}/activation/resend",
                        headers=auth(two_communes["agent_a"]))
        assert r.status_code == 404


def test_agent_cannot_switch_commune_by_editing_the_token(client, two_communes):
    forged = two_communes["agent_a"].__class__(sub=two_communes["agent_a"].sub, role="agent",
                                               commune=two_communes["b"])
    for path in ("/internal/agent/families", f"/internal/agent/families/{two_communes['families_b'][0]}",
                 "/internal/agent/audit"):
        assert client.get(path, headers=auth(forged)).status_code == 403


def test_parent_cannot_use_agent_endpoints(client, db, two_communes):
    parent = activate(client, db, two_communes["agent_a"], f"{unique('p')}@example.org")
    caller = parent_caller(parent["sub"]).__class__(sub=parent["sub"], role="parent", commune=two_communes["a"])
    assert client.get("/internal/agent/families", headers=auth(caller)).status_code == 403


def test_family_joining_b_stays_hidden_from_b_until_it_confirms(client, db, two_communes):
    email = f"{unique('multi')}@example.org"
    done = activate(client, db, two_communes["agent_a"], email, "Famille Secrète")
    parent = auth(parent_caller(done["sub"]))
    client.post("/internal/me/children", headers=parent, json={"given_name": "Léa", "family_name": "Secrète",
                                                                "birth_date": "2016-01-01"})
    r = register(client, two_communes["agent_b"], email, "Nom saisi par Ludres")
    assert r.status_code == 201
    detail = client.get(f"/internal/agent/families/{done['family_id']}", headers=auth(two_communes["agent_b"])).json()
    assert detail["name"] == "Nom saisi par Ludres"
    assert detail["guardians"] == [] and detail["children"] == []
    # Commune A still sees its own view, unchanged.
    seen_by_a = client.get(f"/internal/agent/families/{done['family_id']}", headers=auth(two_communes["agent_a"]))
    assert seen_by_a.json()["name"] == "Famille Secrète" and len(seen_by_a.json()["children"]) == 1
