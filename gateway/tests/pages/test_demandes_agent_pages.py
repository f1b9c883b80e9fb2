"""The agents' requests desk (/agent/demandes) against the fake of the requests service
(demandes_fakerequests.py: scoped by the service token's commune)."""
from __future__ import annotations

import secrets

import pytest

from demandes_fakerequests import OTHER_FAMILY, PDF, FakeRequests, make_app
from helpers import closed_port, gateway_app, serve
from pageflows import csrf_token, field_error, sign_in, text

SECRET = "demandes-agent-pages-secret-" + secrets.token_hex(8)
AGENT = {"sub": "agent-h", "email": "agent@heillecourt.fr", "name": "Alex Agent", "family_id": None, "communes": [],
         "agent_of": [{"slug": "heillecourt", "name": "Heillecourt", "role": "agent"}], "platform_role": "parent"}
LUDRES_AGENT = {**AGENT, "sub": "agent-l", "agent_of": [{"slug": "ludres", "name": "Ludres", "role": "agent"}]}


@pytest.fixture(scope="module")
def fake():
    return FakeRequests(SECRET)


@pytest.fixture(scope="module")
def app(fake, tmp_path_factory):
    var = tmp_path_factory.mktemp("gateway-demandes-agent")
    with serve(make_app(fake)) as requests_url, \
            gateway_app(var, REQUESTS_URL=requests_url, SERVICE_TOKEN_SECRET=SECRET) as application:
        yield application


@pytest.fixture
def client(app, fake):
    fake.__init__(SECRET)
    with app.test_client() as c:
        sign_in(c, AGENT, "heillecourt")
        yield c


def decide(client, request_id: str, **form):
    page = f"/agent/demandes/{request_id}"
    return client.post(f"{page}/decision", data={"csrf_token": csrf_token(client, page), **form})


def test_queue_with_filters_and_csv_export(client, fake):
    sent = fake.add_request(status="envoyee")
    fake.add_request(status="acceptee")
    fake.add_request(status="brouillon")
    html = text(client.get("/agent/demandes"))
    assert "2 demandes" in html and fake.requests[sent]["reference"] in html and "Martin" in html
    html = text(client.get("/agent/demandes?statut=envoyee&du=2026-12-01&reference=D-2026"))
    assert "1 demande" in html and "Acceptée</span>" not in html
    assert fake.queries[-1] == {"status": "envoyee", "submitted_from": "2026-12-01", "reference": "D-2026",
                                "page": "1", "per_page": "50"}
    assert 'href="/agent/demandes/export.csv?statut=envoyee&du=2026-12-01&reference=D-2026"' in html
    csv = client.get("/agent/demandes/export.csv?statut=envoyee")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    assert "attachment" in csv.headers["Content-Disposition"]
    body = csv.get_data(as_text=True)
    assert body.startswith("\ufeffreference;famille;") and fake.requests[sent]["reference"] in body


def test_a_bad_date_filter_is_shown_next_to_it(client):
    resp = client.get("/agent/demandes?du=31-12-2026")
    assert resp.status_code == 422
    assert "saisissez une date" in field_error(text(resp), "du")


def test_take_in_hand_then_accept_with_a_message(client, fake):
    rid = fake.add_request(status="envoyee")
    html = text(client.get(f"/agent/demandes/{rid}"))
    assert "Jean Dupont" in html and "Prendre en charge" in html and "Pièce manquante" in html
    resp = decide(client, rid, statut="en_cours")
    assert resp.status_code == 302 and fake.requests[rid]["status"] == "en_cours"
    assert "est prise en charge" in text(client.get(resp.headers["Location"]))
    resp = decide(client, rid, statut="acceptee", message="Autorisation enregistrée.")
    assert resp.status_code == 302 and fake.requests[rid]["status"] == "acceptee"
    html = text(client.get(f"/agent/demandes/{rid}"))
    assert "Autorisation enregistrée." in html and "Traiter la demande" not in html


def test_refusal_needs_a_message_or_a_reply_template(client, fake):
    rid = fake.add_request(status="envoyee")
    resp = decide(client, rid, statut="refusee")
    assert resp.status_code == 422 and fake.requests[rid]["status"] == "envoyee"
    assert field_error(text(resp), "message") == "Expliquez le refus à la famille."
    resp = decide(client, rid, statut="refusee", modele="tpl-pieces")
    assert resp.status_code == 302 and fake.requests[rid]["decision_message"] == "Il manque une pièce à votre demande."


def test_documents_of_the_request_download(client, fake):
    rid = fake.add_request(status="envoyee")
    doc = fake.requests[rid]["document_ids"][0]
    assert f'href="/agent/demandes/documents/{doc}"' in text(client.get(f"/agent/demandes/{rid}"))
    resp = client.get(f"/agent/demandes/documents/{doc}")
    assert resp.status_code == 200 and resp.data == PDF and resp.headers["X-Content-Type-Options"] == "nosniff"


def test_another_communes_agent_gets_404_and_a_parent_403(app, fake):
    fake.__init__(SECRET)
    rid = fake.add_request(family_id=OTHER_FAMILY, status="envoyee")
    with app.test_client() as c:
        sign_in(c, LUDRES_AGENT, "ludres")
        assert c.get(f"/agent/demandes/{rid}").status_code == 404
        assert "0 demande" in text(c.get("/agent/demandes"))
        sign_in(c, {**AGENT, "agent_of": [], "family_id": "fam-1"})
        assert c.get("/agent/demandes").status_code == 403


def test_the_agent_home_links_to_the_desk(client):
    assert 'href="/agent/demandes">Demandes des familles</a>' in text(client.get("/agent"))


def test_take_several_in_hand_at_once(client, fake):
    first, second = fake.add_request(status="envoyee"), fake.add_request(status="envoyee")
    taken = fake.add_request(status="en_cours")
    html = text(client.get("/agent/demandes?statut="))
    assert f'name="demande" value="{first}"' in html and f'name="demande" value="{taken}"' not in html
    resp = client.post("/agent/demandes/selection", data={
        "csrf_token": csrf_token(client, "/agent/demandes"), "demande": [first, second, taken],
        "retour": "/agent/demandes?statut="})
    assert resp.status_code == 302 and resp.headers["Location"] == "/agent/demandes?statut="
    assert fake.requests[first]["status"] == fake.requests[second]["status"] == "en_cours"
    html = text(client.get(resp.headers["Location"]))
    assert "2 demandes prises en charge." in html and "1 demande non prise en charge" in html


def test_taking_nothing_says_so(client):
    resp = client.post("/agent/demandes/selection", data={"csrf_token": csrf_token(client, "/agent/demandes"),
                                                          "retour": "https://evil.example/"})
    assert resp.headers["Location"] == "/agent/demandes"
    assert "Cochez au moins une demande" in text(client.get("/agent/demandes"))
