"""A second legal guardian: invited from the family space, creates their own login or confirms."""
from __future__ import annotations

import pytest

from pageflows import (PASSWORD, field_error, flashes, input_value, login_target, new_family, post_form,
                       sign_in, sign_out, text, unique_email)

INVITED = "guardian.invited.v1"


@pytest.fixture
def parent(client, identity, agent, commune):
    user = new_family(client, identity, agent, commune, "Martin")
    sign_in(client, user)
    return user


def _invite(client, identity, email: str) -> str:
    resp = post_form(client, "/famille/responsables", "/famille/responsables/inviter", {"invite_email": email})
    assert resp.status_code == 302, text(resp)
    sign_out(client)
    return identity.link_for(email, INVITED)


def test_invited_guardian_creates_own_login(client, identity, parent):
    email = unique_email("second")
    path = _invite(client, identity, email)

    page = client.get(path)
    html = text(page)
    assert page.status_code == 200
    assert "Rejoindre la famille Martin" in html and "Camille Martin vous invite" in html
    assert input_value(html, "login-email") == email
    assert 'autocomplete="new-password"' in html and "Au moins 12 caractères" in html

    bad = post_form(client, path, path, {"family_name": "Martin", "given_name": "", "phone": "", "password": PASSWORD})
    html = text(bad)
    assert bad.status_code == 422
    assert field_error(html, "given_name") and field_error(html, "phone")
    assert input_value(html, "family_name") == "Martin"
    short = post_form(client, path, path, {"family_name": "Martin", "given_name": "Dominique",
                                           "phone": "06 01 02 03 04", "password": "court"})
    html = text(short)
    assert short.status_code == 422 and "12" in field_error(html, "password")
    assert input_value(html, "given_name") == "Dominique" and 'value="court"' not in html

    ok = post_form(client, path, path, {"family_name": "Martin", "given_name": "Dominique",
                                        "phone": "06 01 02 03 04", "password": PASSWORD})
    assert ok.status_code == 302 and login_target(ok) == "/famille"
    assert any("Votre accès est créé" in m for _c, m in flashes(client))
    assert client.get(path).status_code == 410

    # Signed in, the second guardian sees the same family, with both guardians.
    second = identity.user(email)
    assert second["family_id"] == parent["family_id"]
    sign_in(client, second)
    html = text(client.get("/famille/responsables"))
    assert "Dominique Martin" in html and "Camille Martin" in html
    assert html.count("Vous</span>") == 1
    # And the first sees the invitation accepted.
    sign_in(client, parent)
    assert f"{email} — acceptée le" in " ".join(text(client.get("/famille/responsables")).split())


def test_existing_account_signs_in_and_confirms_the_invitation(client, identity, commune, parent):
    other = identity.agent(commune)  # an account without a family of its own
    sign_in(client, parent)
    path = _invite(client, identity, other["email"])

    landing = text(client.get(path))
    assert "Vous avez déjà un compte Espace Famille" in landing
    assert login_target(client.get(path + "/confirmer")) == path + "/confirmer"

    sign_in(client, other)
    page = client.get(path + "/confirmer")
    assert page.status_code == 200 and "Rejoindre la famille" in text(page)
    done = post_form(client, path + "/confirmer", path + "/confirmer", {})
    assert done.status_code == 302 and done.headers["Location"].endswith("/famille")
    with client.session_transaction() as sess:
        assert sess["user"]["family_id"] == parent["family_id"]
    html = text(client.get("/famille/responsables"))
    assert "Vous êtes maintenant responsable de la famille Martin" in html and "Camille Martin" in html


def test_account_of_another_family_gets_a_clear_refusal(client, identity, agent, commune, parent):
    other = new_family(client, identity, agent, commune, "Durand")
    sign_in(client, parent)
    path = _invite(client, identity, other["email"])
    sign_in(client, other)
    refused = post_form(client, path + "/confirmer", path + "/confirmer", {})
    html = text(refused)
    assert refused.status_code == 409
    assert "error-summary" in html and "déjà rattaché à une autre famille" in html


def test_dead_invitation_link(client, identity, parent):
    resp = client.get("/invitation/" + "y" * 43)
    assert resp.status_code == 404
    html = text(resp)
    assert "Ce lien n'est pas valable" in html and "nouvelle invitation" in html


def test_wrong_person_cannot_confirm_an_invitation(client, identity, agent, commune, parent):
    other = new_family(client, identity, agent, commune, "Durand")
    third = new_family(client, identity, agent, commune, "Leroy")
    sign_in(client, parent)
    path = _invite(client, identity, other["email"])
    sign_in(client, third)
    assert client.get(path + "/confirmer").status_code == 403
    assert post_form(client, path + "/confirmer", path + "/confirmer", {}).status_code == 403
