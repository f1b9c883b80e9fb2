"""The agents' booking back office on the real platform (issue 8), as Heillecourt's demo agent:

- creates a prestation in the catalogue (a preset booking deadline, a custom cancellation rule),
  generates its opening dates;
- records attendance: Léa Martin, present without booking today (the day's list, printable);
- visits every back-office page (desk, waiting lists, overrides, bookings, audit trail, exports)
  and downloads the attendance CSV;
- the demo parent then sees « Présent » on Léa's calendar for today.
axe-core runs on every page. With EF_SCREENSHOT_DIR set, every page is also saved as a
full-page screenshot at 360 and 1280 px wide (to look at them).
"""
from __future__ import annotations

import datetime as dt
import os
import re
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

DEMO_PARENT = ("parent.demo@example.org", "Demo-Famille-2026")
BASE = "/agent/reservations"
SCREENSHOTS = os.environ.get("EF_SCREENSHOT_DIR")


def _look(page, a11y, name: str) -> None:
    """axe-core on the page; and its screenshots when asked."""
    a11y(page)
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        size = page.viewport_size
        for width in (360, 1280):
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(path=f"{SCREENSHOTS}/agent-{name}-{width}.png", full_page=True)
        page.set_viewport_size(size)


def _visit(platform, page, a11y, path: str, name: str) -> str:
    page.goto(platform.base_url + path)
    _look(page, a11y, name)
    return page.locator("main").inner_text()


def test_agent_creates_a_prestation_records_attendance_and_the_parent_sees_it(
        platform, browser, page, a11y, sign_in_agent, identity_login):
    today = dt.datetime.now(ZoneInfo("Europe/Paris")).date()
    sign_in_agent(page)
    page.goto(platform.base_url + "/agent")
    page.get_by_role("link", name="Réservations et pointage").click()
    page.wait_for_url(f"**{BASE}")
    _look(page, a11y, "accueil")

    # --- the catalogue: a new prestation of the périscolaire, every day of the week --------------
    page.locator(".agent-resa-nav").get_by_role("link", name="Catalogue").click()
    _look(page, a11y, "catalogue")
    assert "Restauration scolaire" in page.locator("main").inner_text()
    page.get_by_role("link", name="Ajouter une prestation au service Périscolaire matin et soir").click()
    service_id = re.search(r"service=([^&]+)", page.url).group(1)
    _look(page, a11y, "nouvelle-prestation")
    code = f"etude-{uuid.uuid4().hex[:6]}"
    page.get_by_label("Libellé (vu par les familles)").fill("Étude surveillée")
    page.get_by_label("Code").fill(code)
    page.locator("#first").fill((today - dt.timedelta(days=7)).isoformat())
    page.locator("#last").fill((today + dt.timedelta(days=60)).isoformat())
    for day in ("Lundi", "Mardi", "Mercredi", "Jeudi", "Vendredi", "Samedi", "Dimanche"):
        page.locator("#weekdays").get_by_label(day, exact=True).check()
    page.get_by_label("Capacité par date").fill("20")
    page.get_by_label("Référence de tarif").fill("ETUDE")
    page.locator("#bd_preset").get_by_label("La veille à 12 h").check()
    cancellation = page.locator("#cd_preset")
    cancellation.get_by_label("Personnalisé (réglages ci-dessous)").check()
    cancellation.locator("summary").click()
    page.locator("#cd_kind").select_option("working_days")
    page.locator("#cd_days").fill("2")
    page.locator("#cd_at").fill("12:00")
    page.get_by_role("button", name="Créer la prestation").click()
    page.wait_for_url(re.compile(r".*/catalogue/prestations/[^/]+/seances.*"))
    prestation_id = re.search(r"/prestations/([^/]+)/seances", page.url).group(1)
    assert "La prestation « Étude surveillée » est créée" in page.locator(".flashes").inner_text()
    _look(page, a11y, "seances")

    page.get_by_role("button", name="Générer les dates").click()
    page.wait_for_url(re.compile(r".*/seances\?mois=.*"))
    assert re.search(r"\d+ dates? d'ouverture du", page.locator(".flashes").inner_text())

    # The rules read in words, on the prestation's page.
    text = _visit(platform, page, a11y, f"{BASE}/catalogue/prestations/{prestation_id}", "prestation")
    assert "Actuellement : La veille à 12 h" in text
    assert "Actuellement : 2 jours ouvrés avant à 12 h (week-ends et jours fériés exclus)" in text

    # --- attendance: Léa, present without booking today ----------------------------------------------
    _visit(platform, page, a11y, f"{BASE}/pointage?prestation={prestation_id}&date={today.isoformat()}", "pointage")
    page.get_by_label("Enfant présent sans réservation : prénom ou nom").fill("Léa")
    page.get_by_role("button", name="Chercher l'enfant").click()
    row = page.locator("tr", has=page.get_by_role("rowheader", name="Léa Martin"))
    child_id = row.locator("input[type=radio]").first.get_attribute("name").removeprefix("mark-")
    row.get_by_text("Présent sans réservation").click()
    page.get_by_role("button", name="Enregistrer le pointage").click()
    page.wait_for_url(re.compile(r".*/pointage\?prestation=.*"))
    assert "Pointage du" in page.locator(".flashes").inner_text()
    row = page.locator("tr", has=page.get_by_role("rowheader", name="Léa Martin"))
    assert row.locator("input[value=present]").is_checked()
    assert "Sans réservation" in row.inner_text()
    _look(page, a11y, "pointage-enregistre")
    # Printed: the list without the navigation, the filters or the buttons.
    page.emulate_media(media="print")
    assert page.locator(".agent-resa-nav").is_hidden() and page.locator("form.filters").first.is_hidden()
    assert page.get_by_role("rowheader", name="Léa Martin").is_visible()
    page.emulate_media(media="screen")

    # --- every other page of the back office -------------------------------------------------------
    _visit(platform, page, a11y, f"{BASE}/fermetures", "fermetures")
    assert "Léa Martin" in _visit(platform, page, a11y, f"{BASE}/inscriptions?q=Martin", "inscriptions")
    assert "Restauration scolaire" in _visit(platform, page, a11y, f"{BASE}/inscriptions/{child_id}?q=Martin",
                                             "inscriptions-enfant")
    _visit(platform, page, a11y, f"{BASE}/annulations", "annulations")
    _visit(platform, page, a11y, f"{BASE}/listes-attente", "listes-attente")
    assert "Famille de" in _visit(platform, page, a11y, f"{BASE}/derogations?q=Martin", "derogations")
    _visit(platform, page, a11y, f"{BASE}/suivi", "suivi")
    journal = _visit(platform, page, a11y, f"{BASE}/journal", "journal")
    assert "Prestation créée" in journal and "Pointage" in journal and "Dates d'ouverture générées" in journal
    _visit(platform, page, a11y, f"{BASE}/exports", "exports")
    csv_text = page.request.get(f"{platform.base_url}{BASE}/exports/pointage.csv",
                                params={"first": today.isoformat(), "last": today.isoformat()}).text()
    assert csv_text.startswith("\ufeff") and f"{child_id};Martin;Léa" in csv_text and ";present;non;ETUDE" in csv_text

    # --- the parent sees it on Léa's calendar ---------------------------------------------------------
    context = browser.new_context(locale="fr-FR", viewport={"width": 390, "height": 844})
    parent = context.new_page()
    parent.set_default_timeout(30000)
    try:
        parent.goto(f"{platform.base_url}/auth/login?next=/reservations")
        identity_login(parent, *DEMO_PARENT)
        parent.wait_for_url("**/reservations")
        parent.goto(f"{platform.base_url}/reservations/services/{service_id}?enfant={child_id}"
                    f"&mois={today.strftime('%Y-%m')}")
        a11y(parent)
        section = parent.locator("section.reservations-prestation",
                                 has=parent.get_by_role("heading", name=re.compile("Étude surveillée")))
        assert "Présent" in section.inner_text()
    finally:
        context.close()
