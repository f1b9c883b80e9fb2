"""Account journeys in headless Chromium, on the platform started as `make run` starts it (issue 3):

- activation from the e-mail link to the family space;
- sign-in and sign-out;
- a second guardian's invitation;
- a family joining a second commune (an agent of Ludres registers parent.demo@example.org, who
  signs in and confirms; the family space then shows both communes).

Every page visited gets an axe-core check (no serious or critical violation).
"""
from __future__ import annotations

import re
import uuid


from servicekit.testing import wait_until

DEMO_PARENT = ("parent.demo@example.org", "Demo-Famille-2026")
NEW_PASSWORD = "trois petits chats dans le jardin"
PHONE = {"width": 390, "height": 844}


def new_page(page):
    """Another person's browser (its own cookies), phone-sized."""
    context = page.context.browser.new_context(locale="fr-FR", viewport=PHONE)
    other = context.new_page()
    other.set_default_timeout(15000)
    return other


def main_text(page) -> str:
    return page.locator("main").inner_text()


def register_family(page, a11y, family: str, email: str) -> None:
    a11y(page)
    page.locator("#family_name").fill(family)
    page.locator("#email").fill(email)
    page.get_by_role("button", name="Inscrire la famille").click()
    assert f"Un e-mail d'activation va être envoyé à {email}" in main_text(page)
    a11y(page)


def link_in_mail(mails, to: str, kind: str, subject_contains: str = "") -> str:
    """The latest /<kind>/ link e-mailed to `to` (waiting for the mail to arrive)."""
    def find():
        for summary in reversed(mails.all()):
            recipients = summary.get("to") or []
            recipients = recipients if isinstance(recipients, list) else [recipients]
            if any(to.lower() in r.lower() for r in recipients) and subject_contains in summary.get("subject", ""):
                links = [link for link in mails.links(mails.get(summary["id"])) if f"/{kind}/" in link]
                if links:
                    return links[-1]
        return None

    return wait_until(find, timeout=30, interval=0.5, message=f"a {kind} e-mail to {to}")


def test_activation_from_the_email_link_to_the_family_space(platform, mails, page, a11y, identity_login, sign_in_agent):
    family = f"Lambert-{uuid.uuid4().hex[:6]}"
    email = f"{family.lower()}@example.org"
    sign_in_agent(page, "agent.heillecourt@example.org")
    register_family(page, a11y, family, email)
    link = link_in_mail(mails, email, "activation")

    parent = new_page(page)
    parent.goto(link)
    parent.wait_for_url("**/profil")
    assert "Informations profil (étape 1/2)" in main_text(parent)
    assert parent.locator("#email").input_value() == email
    a11y(parent)

    # A mistake first: errors next to the fields and summarised at the top.
    parent.locator("#family_name").fill("Lambert")
    parent.locator("#postcode").fill("54A")
    parent.get_by_role("button", name="Enregistrer").click()
    assert parent.locator(".error-summary").is_visible()
    assert parent.locator("#given_name-erreur").is_visible() and parent.locator("#postcode-erreur").is_visible()
    assert parent.locator("#family_name").input_value() == "Lambert"
    a11y(parent)

    parent.locator("#given_name").fill("Sacha")
    parent.locator("#birth_date").fill("1988-02-29")
    parent.locator("#street").fill("3 allée des Tilleuls")
    parent.locator("#postcode").fill("54180")
    parent.locator("#city").fill("Heillecourt")
    parent.locator("#phone").fill("06 98 76 54 32")
    parent.get_by_role("button", name="Enregistrer").click()
    parent.wait_for_url("**/mot-de-passe")
    assert "Mot de passe (étape 2/2)" in main_text(parent)
    a11y(parent)

    # Show/hide works (the switch is revealed by the page's small script).
    parent.locator("#password").fill(NEW_PASSWORD)
    parent.get_by_label("Afficher le mot de passe").check()
    assert parent.locator("#password").get_attribute("type") == "text"
    parent.get_by_label("Afficher le mot de passe").uncheck()
    assert parent.locator("#password").get_attribute("type") == "password"
    parent.get_by_role("button", name="Activer mon compte").click()

    identity_login(parent, email, NEW_PASSWORD)
    parent.wait_for_url(re.compile(r".*/famille$"))
    text = main_text(parent)
    assert "Votre compte est activé" in text
    assert f"Famille {family}" in text and email in text and "Heillecourt" in text
    a11y(parent)

    parent.get_by_role("link", name="Responsables").click()
    assert "Sacha Lambert" in main_text(parent) and "3 allée des Tilleuls" in main_text(parent)
    a11y(parent)
    parent.get_by_role("link", name="Enfants", exact=True).click()
    a11y(parent)

    # The link was single-use; the agent sees the account activated.
    parent.goto(link)
    assert "Ce lien n'est plus valable" in main_text(parent)
    a11y(parent)
    page.goto(f"{platform.base_url}/agent/familles?q={family}")
    assert "Compte activé le" in page.get_by_role("row", name=re.compile(family)).inner_text()
    parent.context.close()


def test_sign_in_and_sign_out(platform, page, a11y, identity_login):
    email, password = DEMO_PARENT
    page.goto(platform.base_url + "/")
    a11y(page)
    page.locator("header").get_by_role("link", name="Se connecter").click()
    identity_login(page, email, password)
    page.wait_for_url(re.compile(r".*/$"))
    page.goto(platform.base_url + "/famille")
    text = main_text(page)
    assert "Famille Martin" in text and email in text
    a11y(page)
    page.goto(platform.base_url + "/famille/enfants")
    assert "Léa Martin" in main_text(page) and "Hugo Martin" in main_text(page)
    a11y(page)
    page.get_by_role("link", name="Modifier la fiche de Léa").click()
    assert page.locator("#given_name").input_value() == "Léa"
    a11y(page)
    page.goto(platform.base_url + "/famille/enfants/ajouter")
    page.get_by_role("button", name="Enregistrer").last.click()  # empty form: errors shown
    assert page.locator(".error-summary").is_visible()
    a11y(page)

    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_load_state()
    wait_until(lambda: page.url.rstrip("/") == platform.base_url, timeout=15, message="back on the home page")
    assert page.locator("header").get_by_role("link", name="Se connecter").is_visible()
    a11y(page)
    # Signed out for good: the family space asks to sign in again.
    page.goto(platform.base_url + "/famille")
    page.wait_for_url(re.compile(r".*/oidc/login.*"))


def test_second_guardian_invitation(platform, mails, page, a11y, identity_login):
    email, password = DEMO_PARENT
    invited = f"second-{uuid.uuid4().hex[:6]}@example.org"
    page.goto(platform.base_url + "/auth/login?next=/famille/responsables")
    identity_login(page, email, password)
    page.wait_for_url("**/famille/responsables")
    a11y(page)
    page.locator("#invite_email").fill(invited)
    page.get_by_role("button", name="Envoyer l'invitation").click()
    assert f"L'invitation est envoyée à {invited}" in main_text(page)
    a11y(page)
    link = link_in_mail(mails, invited, "invitation")

    guardian = new_page(page)
    guardian.goto(link)
    assert "Rejoindre la famille Martin" in main_text(guardian)
    a11y(guardian)
    guardian.locator("#family_name").fill("Martin")
    guardian.locator("#given_name").fill("Dominique")
    guardian.locator("#phone").fill("06 01 02 03 04")
    guardian.locator("#password").fill(NEW_PASSWORD)
    guardian.get_by_role("button", name="Créer mon accès").click()
    identity_login(guardian, invited, NEW_PASSWORD)
    guardian.wait_for_url(re.compile(r".*/famille$"))
    assert "Famille Martin" in main_text(guardian)
    guardian.get_by_role("link", name="Responsables").click()
    text = main_text(guardian)
    assert "Dominique Martin" in text and "Camille Martin" in text
    a11y(guardian)
    guardian.context.close()

    page.reload()
    assert re.search(re.escape(invited) + r"\s+—\s+acceptée le", main_text(page))


def test_family_joins_a_second_commune(platform, mails, page, a11y, identity_login, sign_in_agent):
    email, password = DEMO_PARENT
    sign_in_agent(page, "agent.ludres@example.org")
    register_family(page, a11y, "Martin", email)
    link = link_in_mail(mails, email, "activation", "Ludres")

    parent = new_page(page)
    parent.goto(link)
    text = main_text(parent)
    assert "Vous avez déjà un compte Espace Famille" in text
    assert "Connectez-vous pour associer la commune de Ludres" in text
    a11y(parent)
    parent.get_by_role("link", name=re.compile("Se connecter pour associer Ludres")).click()
    identity_login(parent, email, password)
    parent.wait_for_url("**/confirmer")
    assert "Associer la commune Ludres à votre compte" in main_text(parent)
    a11y(parent)
    parent.get_by_role("button", name="Confirmer l'association").click()
    parent.wait_for_url(re.compile(r".*/famille$"))
    text = main_text(parent)
    assert "Votre compte est maintenant associé à la commune Ludres" in text
    communes = parent.locator(".commune-list").inner_text()
    assert "Heillecourt" in communes and "Ludres" in communes and "En attente" not in communes
    a11y(parent)
    parent.context.close()

    # Ludres' agent sees the family active; Heillecourt's families are not in Ludres' list.
    page.goto(f"{platform.base_url}/agent/familles?q={email}")
    row = page.get_by_role("row", name=re.compile("Martin"))
    assert "Compte activé le" in row.inner_text()
    a11y(page)
    row.get_by_role("link", name="Martin").click()
    assert "Camille Martin" in main_text(page) and "Léa Martin" in main_text(page)
    a11y(page)
