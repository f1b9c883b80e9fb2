""""Mes notifications" (/famille/notifications) and the agents' undeliverable addresses
(/agent/adresses-en-echec) against a fake notify (notifications_fakenotify.py, which also answers
identity's household for the family-space header)."""
from __future__ import annotations

import secrets

import pytest

from helpers import closed_port, gateway_app, serve
from notifications_fakenotify import FAMILY, FakeNotify, make_app
from pageflows import csrf_token, sign_in, text

SECRET = "notifications-pages-secret-" + secrets.token_hex(8)
PARENT = {"sub": "parent-1", "email": "p@example.org", "name": "Paul Martin", "family_id": FAMILY,
          "communes": [{"slug": "heillecourt", "name": "Heillecourt"}], "agent_of": [], "platform_role": "parent"}
AGENT = {"sub": "agent-h", "email": "agent@heillecourt.fr", "name": "Alex Agent", "family_id": None, "communes": [],
         "agent_of": [{"slug": "heillecourt", "name": "Heillecourt", "role": "agent"}], "platform_role": "parent"}
LUDRES_AGENT = {**AGENT, "sub": "agent-l", "agent_of": [{"slug": "ludres", "name": "Ludres", "role": "agent"}]}


def refused(email: str, commune: str, family_id: str | None = "fam-9") -> dict:
    return {"email": email, "commune": commune, "family_id": family_id, "last_error": "550 5.1.1 Mailbox unavailable",
            "last_notification_id": "n-1", "refusals": 2, "first_refused_at": "2026-11-30T08:00:00Z",
            "last_refused_at": "2026-12-01T09:30:00Z"}


def notify_gateway(var, url: str, identity_url: str | None = None):
    return gateway_app(var, NOTIFY_URL=url, IDENTITY_URL=identity_url or url, SERVICE_TOKEN_SECRET=SECRET)


@pytest.fixture(scope="module")
def fake():
    return FakeNotify(SECRET)


@pytest.fixture(scope="module")
def app(fake, tmp_path_factory):
    with serve(make_app(fake)) as url:
        with notify_gateway(tmp_path_factory.mktemp("gateway-notifications"), url) as app:
            yield app


@pytest.fixture
def client(app, fake):
    fake.__init__(SECRET)
    with app.test_client() as c:
        yield c


def test_parent_sees_optional_choices_and_mandatory_mails(client):
    sign_in(client, PARENT)
    html = text(client.get("/famille/notifications"))
    assert 'name="kind" value="cart_validated" checked' in html
    assert 'value="request_decided" checked' in html
    assert 'value="password_reset"' not in html  # mandatory: no checkbox
    assert "E-mails toujours envoyés" in html and "Réinitialisation du mot de passe" in html
    assert 'href="/famille/notifications" aria-current="page">Mes notifications</a>' in html


def test_the_family_tabs_link_to_the_notifications(client):
    sign_in(client, PARENT)
    html = text(client.get("/famille/notifications"))
    assert 'href="/famille/enfants">Enfants</a>' in html  # same tab bar as the other tabs


def test_saving_turns_unticked_mails_off(client, fake):
    sign_in(client, PARENT)
    token = csrf_token(client, "/famille/notifications")
    resp = client.post("/famille/notifications", data={"csrf_token": token, "kind": ["cart_validated"]})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/famille/notifications")
    assert fake.puts == [{"items": [{"kind": "cart_validated", "enabled": True},
                                    {"kind": "request_decided", "enabled": False}]}]
    html = text(client.get("/famille/notifications"))
    assert "Vos choix de notifications sont enregistrés." in html
    assert 'value="request_decided">' in html and 'value="cart_validated" checked' in html


def test_saving_without_csrf_is_refused(client, fake):
    sign_in(client, PARENT)
    resp = client.post("/famille/notifications", data={"kind": ["cart_validated"]})
    assert resp.status_code in (400, 403) and fake.puts == []


def test_agent_sees_only_their_communes_undeliverable_addresses(client, fake):
    fake.addresses = [refused("a@heillecourt.example", "heillecourt", "fam-h"),
                      refused("b@ludres.example", "ludres")]
    sign_in(client, AGENT, "heillecourt")
    html = text(client.get("/agent/adresses-en-echec"))
    assert "a@heillecourt.example" in html and "b@ludres.example" not in html
    assert "550 5.1.1 Mailbox unavailable" in html and 'href="/agent/familles/fam-h"' in html
    assert "1 adresse en échec" in html
    sign_in(client, LUDRES_AGENT, "ludres")
    html = text(client.get("/agent/adresses-en-echec"))
    assert "b@ludres.example" in html and "a@heillecourt.example" not in html


def test_the_agent_home_links_to_the_list(client):
    sign_in(client, AGENT, "heillecourt")
    assert 'href="/agent/adresses-en-echec">Adresses e-mail en échec</a>' in text(client.get("/agent"))


def test_a_parent_cannot_reach_the_agent_list(client, fake):
    fake.addresses = [refused("a@heillecourt.example", "heillecourt")]
    sign_in(client, PARENT)
    resp = client.get("/agent/adresses-en-echec")
    assert resp.status_code == 403 and "a@heillecourt.example" not in text(resp)


@pytest.mark.parametrize("user, commune, url", [(PARENT, None, "/famille/notifications"),
                                                (AGENT, "heillecourt", "/agent/adresses-en-echec")])
def test_notify_down_gives_a_french_503_page(tmp_path, user, commune, url):
    down = f"http://127.0.0.1:{closed_port()}"
    fake = FakeNotify(SECRET)
    with serve(make_app(fake)) as identity_url:
        # the household answers; notify does not
        with notify_gateway(tmp_path, down, identity_url) as app, app.test_client() as c:
            sign_in(c, user, commune)
            resp = c.get(url)
            assert resp.status_code == 503 and "momentanément indisponible" in text(resp)
            assert fake.households == (1 if user is PARENT else 0)  # identity answered: notify is down
