"""Tenancy on every endpoint: a parent never sees or touches another family's requests or
documents, an agent never another commune's, a parent never an agent's operation (and the
reverse), an agent identity removed is refused, a call without a valid token is 401."""
from __future__ import annotations

import io

import pytest

from servicekit import tokens

from requests_testkit import auth, make_world, pdf_bytes
from demandes.models import agents

pytestmark = pytest.mark.integration


@pytest.fixture
def setting(db, client):
    """Commune A with a family that has a sent request, a draft and a document; commune B with
    its own agent and family."""
    a, b = make_world(db, client), make_world(db, client)
    owner, stranger, elsewhere = a.family(), a.family("Autre"), b.family("Ailleurs")
    document = a.document(owner)
    sent = a.sent(owner, "changement_adresse", {"street": "1 rue Neuve", "postcode": "54180", "city": "Heillecourt",
                                                "moving_date": "2026-11-20"}, [document["id"]])
    draft = a.draft(owner, "autre", {"subject": "Brouillon"}, [document["id"]])
    return {"a": a, "b": b, "owner": owner, "stranger": stranger, "elsewhere": elsewhere, "document": document,
            "sent": sent, "draft": draft}


def parent_calls(s):
    """(method, path, kwargs) of every parent operation, aimed at the owner's things."""
    sent, draft, document = s["sent"]["id"], s["draft"]["id"], s["document"]["id"]
    upload = {"data": {"doc_type": "justificatif_domicile"},
              "files": [("file", ("x.pdf", io.BytesIO(pdf_bytes()), "application/pdf"))]}
    return [
        ("get", f"/internal/me/requests/{sent}", {}),
        ("put", f"/internal/me/requests/{draft}", {"json": {"text": "x"}}),
        ("delete", f"/internal/me/requests/{draft}", {}),
        ("post", f"/internal/me/requests/{draft}/submit", {}),
        ("post", f"/internal/me/requests/{draft}/documents", {"json": {"document_id": document}}),
        ("delete", f"/internal/me/requests/{draft}/documents/{document}", {}),
        ("post", f"/internal/me/requests/{draft}/uploads", upload),
        ("get", f"/internal/documents/{document}/content", {}),
        ("delete", f"/internal/me/documents/{document}", {}),
    ]


def test_a_parent_never_reaches_another_familys_things(setting, client, db):
    stranger = setting["stranger"]
    for method, path, kwargs in parent_calls(setting):
        r = getattr(client, method)(path, headers=stranger.headers, **kwargs)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
    # Their lists hold nothing of the owner's.
    assert client.get("/internal/me/requests", headers=stranger.headers).json()["total"] == 0
    docs = client.get("/internal/me/documents", params={"commune": setting["a"].commune},
                      headers=stranger.headers).json()["items"]
    assert docs == []
    # Another family's document cannot be attached to one's own draft.
    own = setting["a"].draft(stranger, "autre", {"subject": "Moi"})
    r = client.post(f"/internal/me/requests/{own['id']}/documents", json={"document_id": setting["document"]["id"]},
                    headers=stranger.headers)
    assert r.status_code == 404
    # Nor can a request be made, or documents listed or uploaded, in a commune the family is not in.
    b = setting["b"]
    r = client.post("/internal/me/requests", json={"category_id": b.category("autre")["id"]}, headers=stranger.headers)
    assert r.status_code == 404
    assert client.get("/internal/me/categories", params={"commune": b.commune},
                      headers=stranger.headers).status_code == 404
    assert b.upload(stranger, [("x.pdf", pdf_bytes())]).status_code == 404
    # The dossier of another family is not theirs to read.
    r = client.get("/internal/dossier-status", headers=stranger.headers,
                   params={"service_id": "s", "child_id": setting["owner"].child_id,
                           "family_id": setting["owner"].family_id, "commune": setting["a"].commune})
    assert r.status_code == 404
    # The owner still has everything.
    assert client.get(f"/internal/me/requests/{setting['sent']['id']}",
                      headers=setting["owner"].headers).status_code == 200


def test_an_agent_never_reaches_another_communes_things(setting, client):
    b, a = setting["b"], setting["a"]
    sent, document = setting["sent"]["id"], setting["document"]["id"]
    headers = b.agent_headers
    assert client.get(f"/internal/agent/requests/{sent}", headers=headers).status_code == 404
    assert client.post(f"/internal/agent/requests/{sent}/decision", json={"status": "en_cours"},
                       headers=headers).status_code == 404
    bulk = client.post("/internal/agent/requests/bulk", json={"request_ids": [sent], "status": "en_cours"},
                       headers=headers).json()
    assert bulk["done"] == 0 and bulk["results"][0]["ok"] is False
    assert client.get(f"/internal/documents/{document}/content", headers=headers).status_code == 404
    assert client.get("/internal/agent/documents", params={"family_id": setting["owner"].family_id},
                      headers=headers).status_code == 404
    assert client.get("/internal/agent/requests", headers=headers).json()["total"] == 0
    assert "Martin" not in client.get("/internal/agent/requests/export.csv", headers=headers).text
    assert client.get("/internal/agent/requests/summary", headers=headers).json()["pending"] == 0
    category_a = a.category("autre")["id"]
    assert client.get(f"/internal/agent/categories/{category_a}", headers=headers).status_code == 404
    assert client.put(f"/internal/agent/categories/{category_a}", headers=headers,
                      json={"label": "Piratée", "fields": []}).status_code == 404
    templates_a = client.get("/internal/agent/reply-templates", headers=a.agent_headers).json()["items"]
    assert client.put(f"/internal/agent/reply-templates/{templates_a[0]['id']}", headers=headers,
                      json={"label": "x", "body": "y"}).status_code == 404
    assert client.delete(f"/internal/agent/reply-templates/{templates_a[0]['id']}", headers=headers).status_code == 404
    r = client.get("/internal/dossier-status", headers=headers,
                   params={"service_id": "s", "child_id": setting["owner"].child_id,
                           "family_id": setting["owner"].family_id})
    assert r.status_code == 404
    # A draft is the family's own business, even for its commune's agent.
    assert client.get(f"/internal/agent/requests/{setting['draft']['id']}", headers=a.agent_headers).status_code == 404
    # Commune A's agent sees A's request and its document.
    assert client.get(f"/internal/agent/requests/{sent}", headers=a.agent_headers).status_code == 200
    assert client.get(f"/internal/documents/{document}/content", headers=a.agent_headers).status_code == 200


def test_roles_and_tokens(setting, client, db):
    owner, a = setting["owner"], setting["a"]
    for path in ("/internal/agent/requests", "/internal/agent/categories", "/internal/agent/requests/summary"):
        assert client.get(path, headers=owner.headers).status_code == 403
    assert client.get("/internal/me/requests", headers=a.agent_headers).status_code == 403
    assert client.get("/internal/me/requests").status_code == 401
    forged = {"Authorization": "Bearer " + tokens.mint(owner.caller, "requests", "another-secret-0123456789abcdef")}
    assert client.get("/internal/me/requests", headers=forged).status_code == 401
    anonymous = auth(tokens.Caller(sub="visitor", role="anonymous"))
    assert client.get(f"/internal/documents/{setting['document']['id']}/content", headers=anonymous).status_code == 403
    # An agent identity removed from the commune is refused at once.
    with db.transaction() as s:
        s.execute(agents.update().where(agents.c.user_id == a.agent.sub).values(active=False))
    r = client.get("/internal/agent/requests", headers=a.agent_headers)
    assert r.status_code == 403 and "plus agent" in r.json()["detail"]
