"""Activation from the e-mail link: step 1/2 (profile), step 2/2 (password), dead links, existing accounts."""
from __future__ import annotations

import re
from urllib.parse import unquote

from pageflows import (PASSWORD, PROFILE, activate, csrf_token, field_error, flashes, input_value,
                       login_target, post_form, register_family, sign_in, sign_out, text, unique_email)


def _registered(client, identity, agent, commune, name="Martin"):
    email = unique_email()
    assert register_family(client, agent, commune, name, email).status_code == 302
    sign_out(client)
    return email, identity.link_for(email)


def test_activation_happy_path_step_1_then_2(client, identity, agent, commune):
    email, path = _registered(client, identity, agent, commune)

    start = client.get(path)
    assert start.status_code == 302 and start.headers["Location"].endswith(path + "/profil")

    step1 = client.get(path + "/profil")
    html = text(step1)
    assert step1.status_code == 200
    assert "Informations profil" in html and "(étape 1/2)" in html
    assert input_value(html, "email") == email  # pre-filled: it is the login
    assert "Important : il s'agit de votre identifiant de connexion, conservez-le bien." in html
    for name, autocomplete in [("family_name", "family-name"), ("given_name", "given-name"), ("birth_date", "bday"),
                               ("street", "street-address"), ("postcode", "postal-code"), ("city", "address-level2"),
                               ("email", "email"), ("phone", "tel")]:
        assert f'id="{name}" name="{name}"' in html and f'autocomplete="{autocomplete}"' in html
        assert f'<label for="{name}">' in html
    assert ">Enregistrer</button>" in html

    saved = post_form(client, path + "/profil", path + "/profil", {**PROFILE, "email": email})
    assert saved.status_code == 302 and saved.headers["Location"].endswith(path + "/mot-de-passe")

    step2 = client.get(path + "/mot-de-passe")
    html = text(step2)
    assert "Mot de passe" in html and "(étape 2/2)" in html
    assert "Au moins 12 caractères" in html and 'autocomplete="new-password"' in html
    assert "Afficher le mot de passe" in html  # the switch, revealed by script only
    # Going back to step 1 shows what was saved.
    back = text(client.get(path + "/profil"))
    assert input_value(back, "given_name") == PROFILE["given_name"] and input_value(back, "city") == PROFILE["city"]

    done = post_form(client, path + "/mot-de-passe", path + "/mot-de-passe", {"password": PASSWORD})
    assert done.status_code == 302
    assert login_target(done) == "/famille"
    assert any("Votre compte est activé" in message for _cat, message in flashes(client))

    # The account is active with the profile it was given.
    user = identity.user(email)
    assert user["family_id"] and [c["slug"] for c in user["communes"]] == [commune["slug"]]

    # The link is single-use.
    again = client.get(path)
    assert again.status_code == 410
    assert "Ce lien n'est plus valable" in text(again)


def test_profile_errors_are_french_next_to_fields_with_summary_and_values_kept(client, identity, agent, commune):
    email, path = _registered(client, identity, agent, commune)
    resp = post_form(client, path + "/profil", path + "/profil",
                     {**PROFILE, "given_name": "", "postcode": "54A", "birth_date": "31/02/1990",
                      "phone": "abc", "email": email})
    html = text(resp)
    assert resp.status_code == 422
    assert '<div class="error-summary" role="alert"' in html
    assert "<title>Erreur : " in html
    for name in ("given_name", "postcode", "birth_date", "phone"):
        message = field_error(html, name)
        assert message, f"no error next to {name}"
        assert f'<a href="#{name}">' in html  # summarised at the top, linking to the field
        assert 'aria-invalid="true"' in html
    assert field_error(html, "family_name") is None
    # Values typed are kept.
    assert input_value(html, "family_name") == PROFILE["family_name"]
    assert input_value(html, "postcode") == "54A"
    assert input_value(html, "street") == PROFILE["street"]
    # French words, not English ones.
    assert "required" not in field_error(html, "given_name").lower()


def test_profile_refuses_another_email_as_login(client, identity, agent, commune):
    email, path = _registered(client, identity, agent, commune)
    resp = post_form(client, path + "/profil", path + "/profil", {**PROFILE, "email": unique_email("other")})
    assert resp.status_code == 422
    assert field_error(text(resp), "email")


def test_password_rule_errors_in_french(client, identity, agent, commune):
    email, path = _registered(client, identity, agent, commune)
    post_form(client, path + "/profil", path + "/profil", {**PROFILE, "email": email})
    short = post_form(client, path + "/mot-de-passe", path + "/mot-de-passe", {"password": "court"})
    html = text(short)
    assert short.status_code == 422
    assert "12" in field_error(html, "password")
    assert '<a href="#password">' in html
    assert 'value="court"' not in html  # a password is never sent back
    common = post_form(client, path + "/mot-de-passe", path + "/mot-de-passe", {"password": "azertyuiop123"})
    assert common.status_code == 422 and field_error(text(common), "password")


def test_password_step_before_profile_goes_back_to_step_1(client, identity, agent, commune):
    _email, path = _registered(client, identity, agent, commune)
    resp = client.get(path + "/mot-de-passe")
    assert resp.status_code == 302 and resp.headers["Location"].endswith(path)
    assert client.get(path).headers["Location"].endswith(path + "/profil")


def test_expired_link_page_says_what_to_do(client, identity, agent, commune):
    email, path = _registered(client, identity, agent, commune)
    token = csrf_token(client, path + "/profil")
    identity.expire_links(email)
    for url in (path, path + "/profil", path + "/mot-de-passe"):
        resp = client.get(url)
        html = text(resp)
        assert resp.status_code == 410, url
        assert "Ce lien n'est plus valable" in html
        assert "Demandez à votre commune" in html and "renvoyer un lien d'activation" in html
    # Posting to a dead link is not a 500 either.
    resp = client.post(path + "/profil", data={"csrf_token": token, **PROFILE, "email": email})
    assert resp.status_code == 410


def test_resent_link_kills_the_previous_one(client, identity, agent, commune):
    email, first = _registered(client, identity, agent, commune)
    sign_in(client, agent, commune["slug"])
    listing = text(client.get("/agent/familles", query_string={"q": email}))
    fid = re.search(r'/agent/familles/([0-9a-f-]{36})/renvoyer', listing).group(1)
    resp = post_form(client, "/agent/familles", f"/agent/familles/{fid}/renvoyer", {})
    assert resp.status_code == 302
    sign_out(client)
    second = identity.link_for(email)
    assert second != first
    assert client.get(first).status_code == 410
    assert client.get(second).status_code == 302


def test_unknown_link_page(client):
    resp = client.get("/activation/" + "x" * 43)
    assert resp.status_code == 404
    assert "Ce lien n'est pas valable" in text(resp)


def test_form_without_csrf_token_is_refused(client, identity, agent, commune):
    email, path = _registered(client, identity, agent, commune)
    resp = client.post(path + "/profil", data={**PROFILE, "email": email})
    assert resp.status_code == 400
    assert "Le formulaire a expiré" in text(resp)
    # Nothing was saved: the link still asks for step 1.
    assert client.get(path).headers["Location"].endswith("/profil")


def test_existing_account_signs_in_then_confirms_joining_the_commune(client, identity, agent, commune):
    # A parent already active in Heillecourt...
    email, path = _registered(client, identity, agent, commune)
    activate(client, identity, path, email)
    # ...is registered by Ludres.
    ludres = identity.commune("Ludres")
    ludres_agent = identity.agent(ludres)
    assert register_family(client, ludres_agent, ludres, "Martin", email).status_code == 302
    sign_out(client)
    link = identity.link_for(email)

    landing = client.get(link)
    html = text(landing)
    assert landing.status_code == 200
    assert "Vous avez déjà un compte Espace Famille" in html
    assert "Connectez-vous pour associer la commune de Ludres" in html
    href = re.search(r'<a class="button button-large" href="([^"]+)"', html).group(1)
    assert unquote(href.replace("&amp;", "&")) == f"/auth/login?next={link}/confirmer"

    # The confirm page needs the parent signed in.
    gate = client.get(link + "/confirmer")
    assert login_target(gate) == link + "/confirmer"

    parent = identity.user(email)
    sign_in(client, parent)
    confirm = client.get(link + "/confirmer")
    assert confirm.status_code == 200 and "Confirmer l'association" in text(confirm)
    done = post_form(client, link + "/confirmer", link + "/confirmer", {})
    assert done.status_code == 302 and done.headers["Location"].endswith("/famille")

    # The session knows the new commune; the family space shows both communes.
    with client.session_transaction() as sess:
        assert {c["slug"] for c in sess["user"]["communes"]} == {commune["slug"], ludres["slug"]}
    page = text(client.get("/famille"))
    assert "Heillecourt" in page and "Ludres" in page
    assert "En attente de votre confirmation" not in page
    assert client.get(link).status_code == 410


def test_someone_else_signed_in_cannot_confirm(client, identity, agent, commune):
    email, path = _registered(client, identity, agent, commune)
    activate(client, identity, path, email)
    other_email, other_path = _registered(client, identity, agent, commune, "Durand")
    activate(client, identity, other_path, other_email)
    ludres = identity.commune("Ludres")
    assert register_family(client, identity.agent(ludres), ludres, "Martin", email).status_code == 302
    link = identity.link_for(email)

    sign_in(client, identity.user(other_email))
    page = client.get(link + "/confirmer")
    assert page.status_code == 403
    assert f"vous êtes connecté avec <strong>{other_email}</strong>" in text(page)
    post = post_form(client, link + "/confirmer", link + "/confirmer", {})
    assert post.status_code == 403
    assert "Ludres" not in {c["name"] for c in identity.user(email)["communes"]}
