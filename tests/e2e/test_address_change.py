"""A change of address on the real platform (issue 10, "What must be shown"): the demo parent of
Heillecourt asks for it with a proof of residence ("Charger un fichier"), a Heillecourt agent
accepts it on /agent/demandes, the requests service publishes address_change.accepted.v1,
identity's worker applies it, and the parent finds the new address on the family space's
"Responsables" page; notify's e-mail about the request's status arrives in the mail catcher
(on a platform just started: `migrate` declared notify's queues before identity published the
demo family, servicekit's `cli`).
axe-core runs on every page visited.
"""
from __future__ import annotations

import datetime as dt
import re

from servicekit.testing import wait_until

DEMO_PARENT = ("parent.demo@example.org", "Demo-Famille-2026")
CATEGORY = "Changement d'adresse"
NEW_ADDRESS = {"street": "12 rue des Tilleuls", "postcode": "54180", "city": "Heillecourt"}
# A small, plain PDF (no active content): the service checks the content by libmagic.
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
       b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")


def _reference(page) -> str:
    match = re.search(r"D-\d{4}-\d+", page.locator("main").inner_text())
    assert match, page.locator("main").inner_text()
    return match.group(0)


def _send_address_change(platform, page, a11y, proof) -> tuple[str, str]:
    page.goto(f"{platform.base_url}/demandes")
    page.get_by_role("link", name="Faire une demande").click()
    page.wait_for_url("**/demandes/nouvelle")
    a11y(page)
    page.get_by_role("link", name=CATEGORY).click()
    page.wait_for_url(re.compile(r".*/demandes/nouvelle/.+"))
    a11y(page)
    page.get_by_label("Numéro et rue").fill(NEW_ADDRESS["street"])
    page.get_by_label("Code postal").fill(NEW_ADDRESS["postcode"])
    page.get_by_label(re.compile(r"^Commune\b")).fill(NEW_ADDRESS["city"])
    page.get_by_label("Date du déménagement").fill((dt.date.today() - dt.timedelta(days=3)).isoformat())
    page.get_by_label("Charger un fichier").set_input_files(str(proof))
    page.get_by_role("button", name="Envoyer la demande").click()
    page.wait_for_url(re.compile(r".*/demandes/[0-9a-f-]{36}$"))
    a11y(page)
    main = page.locator("main").inner_text()
    assert "est envoyée à la mairie" in main and proof.name in main and NEW_ADDRESS["street"] in main
    return _reference(page), page.url


def _accept_as_agent(platform, browser, a11y, sign_in_agent, reference: str) -> None:
    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
    agent = context.new_page()
    agent.set_default_timeout(30000)
    try:
        sign_in_agent(agent)
        agent.goto(f"{platform.base_url}/agent/demandes?reference={reference}")
        a11y(agent)
        agent.get_by_role("link", name=reference).click()
        agent.wait_for_url(re.compile(r".*/agent/demandes/[0-9a-f-]{36}$"))
        a11y(agent)
        assert NEW_ADDRESS["street"] in agent.locator("main").inner_text()
        agent.get_by_role("button", name="Prendre en charge").click()
        agent.wait_for_load_state()
        assert "est prise en charge" in agent.locator("main").inner_text()
        agent.get_by_label("Message à la famille").fill("Justificatif de domicile reçu : votre adresse est mise à jour.")
        agent.get_by_role("button", name="Accepter").click()
        agent.wait_for_load_state()
        a11y(agent)
        assert "est acceptée" in agent.locator("main").inner_text()
    finally:
        context.close()


def _home_address_shown(platform, page) -> bool:
    """The parent's "Responsables" page, reloaded: does it show the new address yet?"""
    page.goto(f"{platform.base_url}/famille/responsables")
    shown = page.locator("main").inner_text()
    return all(NEW_ADDRESS[part] in shown for part in ("street", "postcode", "city"))


def test_an_accepted_change_of_address_reaches_the_family_profile(platform, browser, page, a11y, identity_login,
                                                                  sign_in_agent, mails, tmp_path):
    page.goto(f"{platform.base_url}/auth/login?next=/famille/responsables")
    identity_login(page, *DEMO_PARENT)
    page.wait_for_url("**/famille/responsables")
    a11y(page)
    assert NEW_ADDRESS["street"] not in page.locator("main").inner_text()  # not there before the request

    proof = tmp_path / "justificatif-domicile.pdf"
    proof.write_bytes(PDF)
    reference, request_url = _send_address_change(platform, page, a11y, proof)

    _accept_as_agent(platform, browser, a11y, sign_in_agent, reference)

    # requests -> address_change.accepted.v1 -> identity's worker: asynchronous, so poll.
    wait_until(lambda: _home_address_shown(platform, page), timeout=60, interval=1,
               message="the new address on the family's Responsables page")
    a11y(page)

    page.goto(request_url)
    a11y(page)
    assert "Acceptée" in page.locator("main").inner_text()

    # notify tells the parent, in French, that the request was accepted.
    accepted = mails.wait_for(DEMO_PARENT[0], subject_contains=f"Demande {reference} : Acceptée", timeout=60)
    assert "a été acceptée" in accepted["text"] and CATEGORY in accepted["text"]
    assert any(link.startswith(platform.base_url) and "/demandes" in link for link in mails.links(accepted)), \
        accepted["text"]
