"""The parents' requests pages on the real platform (issue 10), as the demo parent of Heillecourt
(`make run` seeds the requests categories and the demo family):

- "Faire une demande": an authorised pick-up with a PDF uploaded through the gateway
  ("Charger un fichier"), sent at once;
- a second request reusing that document ("Ajouter un fichier existant");
- "Historique des demandes" lists both, each with its history; the document downloads;
with axe-core on every page. Set DEMANDES_SCREENSHOTS=<dir> to keep screenshots (360 and 1280 px).
"""
from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

DEMO_PARENT = ("parent.demo@example.org", "Demo-Famille-2026")
CATEGORY = "Autorisation de récupération d'un enfant"
# A small, plain PDF (no active content): the service checks the content by libmagic.
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
       b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
SCREENSHOTS = os.environ.get("DEMANDES_SCREENSHOTS")


def _shoot(page, name: str) -> None:
    if not SCREENSHOTS:
        return
    Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
    for width in (360, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=f"{SCREENSHOTS}/{name}-{width}.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})


def _fill_pickup(page, person: str) -> None:
    page.get_by_label("Enfant", exact=False).first.select_option(label="Léa Martin")
    page.get_by_label("Nom et prénom de la personne autorisée").fill(person)
    page.get_by_label("Téléphone de la personne autorisée").fill("06 12 34 56 78")
    page.get_by_label("À partir du").fill((dt.date.today() + dt.timedelta(days=7)).isoformat())
    page.get_by_label("Votre demande").fill(f"Je souhaiterais autoriser {person} à venir récupérer Léa.")


def _open_form(platform, page, a11y) -> None:
    page.goto(f"{platform.base_url}/demandes")
    page.get_by_role("link", name="Faire une demande").click()
    page.wait_for_url("**/demandes/nouvelle")
    a11y(page)
    page.get_by_role("link", name=CATEGORY).click()
    page.wait_for_url(re.compile(r".*/demandes/nouvelle/.+"))
    a11y(page)


def _reference(page) -> str:
    match = re.search(r"D-\d{4}-\d+", page.locator("main").inner_text())
    assert match, page.locator("main").inner_text()
    return match.group(0)


def test_pickup_request_with_upload_then_reuse_then_history(platform, page, a11y, identity_login, tmp_path):
    page.goto(f"{platform.base_url}/auth/login?next=/demandes")
    identity_login(page, *DEMO_PARENT)
    page.wait_for_url("**/demandes")
    a11y(page)

    # 1. Upload a PDF with the request and send it.
    _open_form(platform, page, a11y)
    _shoot(page, "demandes-formulaire")
    _fill_pickup(page, "Jean Dupont")
    pdf = tmp_path / "cni-jean-dupont.pdf"
    pdf.write_bytes(PDF)
    page.get_by_label("Charger un fichier").set_input_files(str(pdf))
    page.get_by_role("button", name="Envoyer la demande").click()
    page.wait_for_url(re.compile(r".*/demandes/[0-9a-f-]{36}$"))
    a11y(page)
    main = page.locator("main").inner_text()
    assert "est envoyée à la mairie" in main and "cni-jean-dupont.pdf" in main and "Jean Dupont" in main
    first = _reference(page)
    _shoot(page, "demandes-detail")
    with page.expect_download() as download:
        page.get_by_role("link", name="cni-jean-dupont.pdf").click()
    assert Path(download.value.path()).read_bytes() == PDF

    # 2. A second request reusing that document.
    _open_form(platform, page, a11y)
    _fill_pickup(page, "Marie Durand")
    existing = page.get_by_label("Ou ajouter un fichier existant")
    option = existing.locator("option", has_text="cni-jean-dupont.pdf").first
    existing.select_option(value=option.get_attribute("value"))
    page.get_by_role("button", name="Envoyer la demande").click()
    page.wait_for_url(re.compile(r".*/demandes/[0-9a-f-]{36}$"))
    a11y(page)
    assert "cni-jean-dupont.pdf" in page.locator("main").inner_text()
    second = _reference(page)
    assert second != first

    # 3. Both in the history, status in words.
    page.goto(f"{platform.base_url}/demandes")
    a11y(page)
    history = page.locator("main").inner_text()
    assert first in history and second in history and "Envoyée" in history
    _shoot(page, "demandes-historique")


def test_a_refused_field_is_shown_next_to_it(platform, page, a11y, identity_login):
    page.goto(f"{platform.base_url}/auth/login?next=/demandes")
    identity_login(page, *DEMO_PARENT)
    page.wait_for_url("**/demandes")
    _open_form(platform, page, a11y)
    page.get_by_label("Nom et prénom de la personne autorisée").fill("Paul Martin")
    page.get_by_role("button", name="Envoyer la demande").click()
    page.wait_for_load_state()
    a11y(page)
    summary = page.locator(".error-summary").inner_text()
    assert "Enfant" in summary and "obligatoire" in summary
    assert page.get_by_label("Nom et prénom de la personne autorisée").input_value() == "Paul Martin"
    _shoot(page, "demandes-erreurs")


def test_the_commune_answers_and_the_parent_reads_it(platform, browser, page, a11y, identity_login, sign_in_agent,
                                                      tmp_path):
    """An agent of Heillecourt takes the request in hand and refuses it with a reply template;
    the parent reads the message in the request's history."""
    page.goto(f"{platform.base_url}/auth/login?next=/demandes")
    identity_login(page, *DEMO_PARENT)
    page.wait_for_url("**/demandes")
    _open_form(platform, page, a11y)
    _fill_pickup(page, "Luc Bernard")
    pdf = tmp_path / "cni-luc.pdf"
    pdf.write_bytes(PDF)
    page.get_by_label("Charger un fichier").set_input_files(str(pdf))
    page.get_by_role("button", name="Envoyer la demande").click()
    page.wait_for_url(re.compile(r".*/demandes/[0-9a-f-]{36}$"))
    reference, parent_url = _reference(page), page.url

    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
    agent = context.new_page()
    agent.set_default_timeout(30000)
    try:
        sign_in_agent(agent)
        agent.goto(f"{platform.base_url}/agent/demandes?reference={reference}")
        a11y(agent)
        _shoot(agent, "agent-demandes-file")
        agent.get_by_role("link", name=reference).click()
        agent.wait_for_url(re.compile(r".*/agent/demandes/[0-9a-f-]{36}$"))
        a11y(agent)
        assert "Luc Bernard" in agent.locator("main").inner_text()
        assert "Léa Martin" in agent.locator(".demandes-answers").inner_text()  # the child's name, from identity
        agent.get_by_role("button", name="Prendre en charge").click()
        agent.wait_for_load_state()
        assert "est prise en charge" in agent.locator("main").inner_text()
        a11y(agent)
        agent.get_by_role("button", name="Refuser").click()          # no message: refused next to the field
        agent.wait_for_load_state()
        a11y(agent)
        assert agent.locator(".error-summary").count() == 1
        _shoot(agent, "agent-demandes-refus")
        agent.get_by_label("Message à la famille").fill("La pièce d'identité est illisible : merci de la renvoyer.")
        agent.get_by_role("button", name="Refuser").click()
        agent.wait_for_load_state()
        assert "est refusée" in agent.locator("main").inner_text()
        with agent.expect_download() as download:
            agent.get_by_role("link", name="cni-luc.pdf").click()
        assert Path(download.value.path()).read_bytes() == PDF
        with agent.expect_download() as download:
            agent.goto(f"{platform.base_url}/agent/demandes?reference={reference}")
            agent.get_by_role("link", name="Exporter en CSV").click()
        assert reference in Path(download.value.path()).read_text(encoding="utf-8-sig")
    finally:
        context.close()

    page.goto(parent_url)
    a11y(page)
    main = page.locator("main").inner_text()
    assert "Refusée" in main and "La pièce d'identité est illisible" in main
