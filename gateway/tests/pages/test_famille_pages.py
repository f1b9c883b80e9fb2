"""The family space: COMPTE FAMILLE, RESPONSABLES and ENFANTS tabs, and their forms."""
from __future__ import annotations

import re

import pytest

from pageflows import (field_error, input_value, login_target, new_family, post_form, sign_in, text)


@pytest.fixture
def parent(client, identity, agent, commune):
    user = new_family(client, identity, agent, commune, "Martin")
    sign_in(client, user)
    return user


def test_tabs_one_url_each_with_aria_current(client, parent):
    for url, label in (("/famille", "Compte famille"), ("/famille/responsables", "Responsables"),
                       ("/famille/enfants", "Enfants")):
        html = text(client.get(url))
        assert f'<a href="{url}" aria-current="page">{label}</a>' in html
        assert html.count('aria-current="page">') >= 1
        others = [u for u in ("/famille", "/famille/responsables", "/famille/enfants") if u != url]
        for other in others:
            assert f'<a href="{other}" aria-current' not in html


def test_signed_out_visitors_are_sent_to_sign_in(client):
    for url in ("/famille", "/famille/responsables", "/famille/enfants", "/famille/enfants/ajouter"):
        assert login_target(client.get(url)) == url


def test_compte_famille_shows_login_email_read_only_and_renames(client, parent, commune):
    html = text(client.get("/famille"))
    assert "Famille Martin" in html
    assert parent["email"] in html and "C'est votre identifiant pour vous connecter" in html
    assert f'name="email"' not in html  # the login e-mail is not a form field here
    assert commune["name"] in html and "Associée" in html

    resp = post_form(client, "/famille", "/famille/nom", {"name": "Martin-Durand"})
    assert resp.status_code == 302
    html = text(client.get("/famille"))
    assert "Famille Martin-Durand" in html and "Le nom de la famille est enregistré." in html

    bad = post_form(client, "/famille", "/famille/nom", {"name": ""})
    assert bad.status_code == 422
    html = text(bad)
    assert field_error(html, "name") and '<a href="#name">' in html


def test_responsables_own_contact_edit_and_read_only_address(client, parent):
    html = text(client.get("/famille/responsables"))
    assert "Camille Martin" in html and "12 rue des Écoles" in html
    assert "Pour changer d'adresse, faites une demande (justificatif de domicile requis)" in html
    assert 'name="street"' not in html  # the address is never a field here
    assert input_value(html, "phone") == "06 12 34 56 78"
    action = re.search(r'action="(/famille/responsables/[0-9a-f-]{36})"', html).group(1)

    ok = post_form(client, "/famille/responsables", action, {"phone": "07 98 76 54 32", "email": "camille.contact@example.org"})
    assert ok.status_code == 302
    html = text(client.get("/famille/responsables"))
    assert "07 98 76 54 32" in html and "camille.contact@example.org" in html
    assert parent["email"] in html  # the login is unchanged

    bad = post_form(client, "/famille/responsables", action, {"phone": "pas un numéro", "email": "pas-une-adresse"})
    html = text(bad)
    assert bad.status_code == 422
    assert field_error(html, "phone") and field_error(html, "email")
    assert input_value(html, "phone") == "pas un numéro"


def test_cannot_edit_someone_elses_guardian(client, identity, agent, commune, parent):
    other = new_family(client, identity, agent, commune, "Durand")
    sign_in(client, other)
    html = text(client.get("/famille/responsables"))
    other_action = re.search(r'action="(/famille/responsables/[0-9a-f-]{36})"', html).group(1)
    sign_in(client, parent)
    resp = post_form(client, "/famille/responsables", other_action, {"phone": "0600000000"})
    assert resp.status_code in (403, 404)


def test_invite_second_guardian_form(client, identity, parent):
    bad = post_form(client, "/famille/responsables", "/famille/responsables/inviter", {"invite_email": "nope"})
    html = text(bad)
    assert bad.status_code == 422
    assert field_error(html, "invite_email") and '<a href="#invite_email">' in html
    assert input_value(html, "invite_email") == "nope"

    ok = post_form(client, "/famille/responsables", "/famille/responsables/inviter",
                   {"invite_email": "second.parent@example.org"})
    assert ok.status_code == 302
    html = text(client.get("/famille/responsables"))
    assert "L'invitation est envoyée à second.parent@example.org" in html
    assert "second.parent@example.org —" in html


def test_children_add_with_several_pickup_people_then_edit(client, parent):
    assert "Aucun enfant" in text(client.get("/famille/enfants"))
    form = text(client.get("/famille/enfants/ajouter"))
    assert input_value(form, "family_name") == "Martin"  # suggested from the family
    assert 'id="pickup-0-name"' in form and 'id="pickup-1-name"' not in form

    base = {"given_name": "Léa", "family_name": "Martin", "birth_date": "2017-03-02", "school": "École Jules Ferry",
            "class_name": "CE2", "medical_info": "Allergie aux arachides", "pickup_rows": "1",
            "pickup-0-name": "Jeanne Martin", "pickup-0-relation": "grand-mère", "pickup-0-phone": "0611223344"}
    # "Ajouter une autre personne" adds a row without saving (no JavaScript needed).
    more = post_form(client, "/famille/enfants/ajouter", "/famille/enfants/ajouter", {**base, "action": "add_pickup"})
    html = text(more)
    assert more.status_code == 200
    assert input_value(html, "pickup-0-name") == "Jeanne Martin" and input_value(html, "pickup-1-name") == ""
    assert "Aucun enfant" in text(client.get("/famille/enfants"))

    saved = post_form(client, "/famille/enfants/ajouter", "/famille/enfants/ajouter",
                      {**base, "pickup_rows": "2", "pickup-1-name": "Paul Voisin", "pickup-1-relation": "voisin",
                       "pickup-1-phone": "0655667788", "action": "save"})
    assert saved.status_code == 302
    html = text(client.get("/famille/enfants"))
    assert "Léa Martin" in html and "02/03/2017" in html and "École Jules Ferry" in html and "CE2" in html
    assert "Allergie aux arachides" in html
    assert "Jeanne Martin (grand-mère)" in html and "Paul Voisin (voisin)" in html

    edit_url = re.search(r'href="(/famille/enfants/[0-9a-f-]{36}/modifier)"', html).group(1)
    edit = text(client.get(edit_url))
    assert input_value(edit, "given_name") == "Léa" and input_value(edit, "pickup-1-name") == "Paul Voisin"
    assert "Autre adresse (garde alternée)" in edit and 'name="alternate' not in edit

    # Remove the second person and change the class.
    removed = post_form(client, edit_url, edit_url,
                        {**base, "class_name": "CM1", "pickup_rows": "2", "pickup-1-name": "Paul Voisin",
                         "pickup-1-relation": "voisin", "pickup-1-phone": "0655667788", "action": "remove_pickup:1"})
    assert removed.status_code == 200 and input_value(text(removed), "pickup-1-name") in (None, "")
    saved = post_form(client, edit_url, edit_url, {**base, "class_name": "CM1", "action": "save"})
    assert saved.status_code == 302
    html = text(client.get("/famille/enfants"))
    assert "CM1" in html and "Paul Voisin" not in html and "Jeanne Martin" in html


def test_child_errors_next_to_fields_including_pickup_rows(client, parent):
    resp = post_form(client, "/famille/enfants/ajouter", "/famille/enfants/ajouter",
                     {"given_name": "", "family_name": "Martin", "birth_date": "2099-01-01", "pickup_rows": "2",
                      "pickup-0-name": "", "pickup-0-relation": "", "pickup-0-phone": "",
                      "pickup-1-name": "", "pickup-1-relation": "oncle", "pickup-1-phone": "0611223344",
                      "action": "save"})
    html = text(resp)
    assert resp.status_code == 422
    assert field_error(html, "given_name") and field_error(html, "birth_date")
    # The second row (the first one sent) has no name: the error sits next to that row's field.
    assert field_error(html, "pickup-1-name")
    assert '<a href="#pickup-1-name">' in html
    assert input_value(html, "pickup-1-relation") == "oncle"


def test_unknown_child_is_404(client, parent):
    assert client.get("/famille/enfants/00000000-0000-0000-0000-000000000000/modifier").status_code == 404


def test_account_without_family_gets_a_clear_page(client, agent):
    sign_in(client, agent)
    resp = client.get("/famille")
    assert resp.status_code == 404
    assert "Vous n'avez pas encore d'espace famille" in text(resp)


def test_parent_sees_and_withdraws_a_connected_portal(client, parent, identity):
    from identity.households import user_by_sub
    from identity.oidc import consent
    from identity.oidc.clients import ensure_client

    with identity.db.transaction() as s:
        portal = ensure_client(s, "portail-factures", "secret-portal", "Portail des factures",
                               ["http://127.0.0.1:8765/callback"], False)
        consent.record(s, user_by_sub(s, parent["sub"]).id, portal, "openid email", "explicit")

    html = text(client.get("/famille"))
    assert "Portail des factures" in html and "votre adresse e-mail" in html
    resp = post_form(client, "/famille", "/famille/applications/portail-factures/retirer",
                     {"name": "Portail des factures"})
    assert resp.status_code == 302
    html = text(client.get("/famille"))
    assert "Portail des factures n&#39;a plus accès à votre compte." in html or \
        "Portail des factures n'a plus accès à votre compte." in html
    assert "Aucune autre application n'utilise votre compte." in html or \
        "Aucune autre application n&#39;utilise votre compte." in html
