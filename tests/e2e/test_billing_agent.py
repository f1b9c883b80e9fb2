"""The agents' "Facturation" on the real platform (issue 9), as Heillecourt's demo agent:

- arrange: a prestation priced by the demo grid PERI-SOIR (opening dates two months back) and
  Léa Martin pointed present without booking on one of its dates (booking's pages);
- the agent prepares that month's draft run, reviews it (totals, documents per family),
  finalises it after ticking the confirmation, then records a cheque of the amount due, typed
  French-style ("2,90");
- the demo parent then sees that invoice in "Factures payées" of Mes factures.

Two months back, so that the invoice's publication day (the 5th of the next month by default) has
passed and the parent sees it at once. axe-core runs on every page; with EF_SCREENSHOT_DIR set,
every billing page is also saved at 360 and 1280 px wide.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

from servicekit.testing import wait_until

DEMO_PARENT = ("parent.demo@example.org", "Demo-Famille-2026")
SCREENSHOTS = os.environ.get("EF_SCREENSHOT_DIR")
RESA = "/agent/reservations"
FACT = "/agent/facturation"


def _look(page, a11y, name: str) -> None:
    a11y(page)
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        size = page.viewport_size
        for width in (360, 1280):
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(path=f"{SCREENSHOTS}/facturation-{name}-{width}.png", full_page=True)
        page.set_viewport_size(size)


def _two_months_back(today: dt.date) -> tuple[dt.date, dt.date]:
    first = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    first = (first - dt.timedelta(days=1)).replace(day=1)
    last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    return first, last


def _prestation_with_a_day_of(platform, page, first: dt.date, last: dt.date) -> tuple[str, dt.date]:
    """A new evening prestation priced PERI-SOIR, open every day of [first, last]; (its id, an opening date)."""
    page.goto(platform.base_url + f"{RESA}/catalogue")
    page.get_by_role("link", name="Ajouter une prestation au service Périscolaire matin et soir").click()
    page.get_by_label("Libellé (vu par les familles)").fill("Soirée facturée")
    page.get_by_label("Code").fill(f"soir-{uuid.uuid4().hex[:6]}")
    page.locator("#first").fill(first.isoformat())
    page.locator("#last").fill(last.isoformat())
    if first.month in (7, 8):  # summer: only school holidays have dates then
        page.locator("#opens_during").select_option("vacances")
    for day in ("Lundi", "Mardi", "Mercredi", "Jeudi", "Vendredi", "Samedi", "Dimanche"):
        page.locator("#weekdays").get_by_label(day, exact=True).check()
    page.get_by_label("Référence de tarif").fill("PERI-SOIR")
    page.get_by_role("button", name="Créer la prestation").click()
    page.wait_for_url(re.compile(r".*/catalogue/prestations/[^/]+/seances.*"))
    prestation_id = re.search(r"/prestations/([^/]+)/seances", page.url).group(1)
    page.locator("#first").fill(first.isoformat())
    page.locator("#last").fill(last.isoformat())
    page.get_by_role("button", name="Générer les dates").click()
    page.wait_for_url(re.compile(r".*/seances\?mois=.*"))
    page.goto(platform.base_url + f"{RESA}/catalogue/prestations/{prestation_id}/seances?mois={first:%Y-%m}")
    open_day = page.locator("input[id^=cap-]").first.get_attribute("id").removeprefix("cap-")
    return prestation_id, dt.date.fromisoformat(open_day)


def _lea_present_without_booking(platform, page, prestation_id: str, day: dt.date) -> None:
    page.goto(platform.base_url + f"{RESA}/pointage?prestation={prestation_id}&date={day.isoformat()}")
    page.get_by_label("Enfant présent sans réservation : prénom ou nom").fill("Léa")
    page.get_by_role("button", name="Chercher l'enfant").click()
    page.locator("tr", has=page.get_by_role("rowheader", name="Léa Martin")).get_by_text(
        "Présent sans réservation").click()
    page.get_by_role("button", name="Enregistrer le pointage").click()
    page.wait_for_url(re.compile(r".*/pointage\?prestation=.*"))
    assert "Pointage du" in page.locator(".flashes").inner_text()


def test_agent_drafts_reviews_finalises_records_a_cheque_and_the_parent_sees_it_paid(
        platform, browser, page, a11y, sign_in_agent, identity_login):
    today = dt.datetime.now(ZoneInfo("Europe/Paris")).date()
    first, last = _two_months_back(today)
    sign_in_agent(page)
    prestation_id, day = _prestation_with_a_day_of(platform, page, first, last)
    _lea_present_without_booking(platform, page, prestation_id, day)

    # --- Facturation, from the agent's home -------------------------------------------------------------
    page.goto(platform.base_url + "/agent")
    page.get_by_role("link", name="Facturation", exact=True).click()
    page.wait_for_url(f"**{FACT}")
    _look(page, a11y, "accueil")

    def draft_with_martin() -> bool:
        """Billing learns the pointage from booking's event: draft again until the family is in it."""
        page.goto(platform.base_url + FACT)
        page.get_by_label("Mois à facturer").fill(f"{first:%Y-%m}")
        page.get_by_role("button", name="Préparer le brouillon").click()
        page.wait_for_url(re.compile(r".*/agent/facturation/campagnes/[^/?]+$"))
        return "Martin" in page.locator("main").inner_text().split("Documents à publier par famille", 1)[-1]

    wait_until(draft_with_martin, 60, 2, "billing to have Léa's evening in the draft")
    text = page.locator("main").inner_text()
    assert "Brouillon à vérifier" in text and "Le brouillon de facturation" in text
    assert re.search(r"Montant facturé\s+\d", text)
    _look(page, a11y, "brouillon")

    # --- finalise: not without the confirmation (the page's test covers the server's refusal), then done -------------------------------------------
    confirmation = page.get_by_label(re.compile("J'ai vérifié les alertes"))
    page.get_by_role("button", name="Finaliser la facturation").click()  # the browser asks for the box first
    assert confirmation.evaluate("box => box.validity.valueMissing") and "Brouillon à vérifier" in page.locator("main").inner_text()
    confirmation.check()
    page.get_by_role("button", name="Finaliser la facturation").click()
    page.wait_for_url(re.compile(r".*/agent/facturation/campagnes/[^/?]+$"))
    text = page.locator("main").inner_text()
    assert "finalisée" in text and "Finaliser la facturation" not in text
    _look(page, a11y, "finalisee")

    # --- the family's invoice, then a cheque for what it owes ---------------------------------------------
    page.locator("#documents ~ div").get_by_role("row").filter(has_text="Martin").get_by_role("link").first.click()
    page.wait_for_url(re.compile(r".*/agent/facturation/factures/[^/?]+$"))
    heading = page.get_by_role("heading", level=1).inner_text()
    number = re.search(r"F-\d{4}-\d{2}-\d{7}", heading).group(0)
    due = re.search(r"Reste dû\s+([\d  ]+,\d\d) €", page.locator("main").inner_text()).group(1)
    assert "Léa" in page.locator("main").inner_text()
    _look(page, a11y, "facture")
    pdf = page.request.get(platform.base_url + page.get_by_role("link", name="Télécharger le PDF").get_attribute("href"))
    assert pdf.ok and pdf.body().startswith(b"%PDF")

    page.get_by_role("link", name="Paiements", exact=True).click()
    _look(page, a11y, "paiements")
    page.get_by_label("Numéro de facture").fill(number)
    page.get_by_role("button", name="Continuer").click()
    page.wait_for_url(re.compile(r".*/paiements/nouveau.*"))
    _look(page, a11y, "paiement")
    page.get_by_label("Moyen de paiement").select_option("cheque")
    page.get_by_label("Montant reçu (en euros)").fill("abc")
    page.get_by_role("button", name="Enregistrer le paiement").click()
    assert "Saisissez un montant en euros" in page.locator("main").inner_text()
    a11y(page)
    page.get_by_label("Moyen de paiement").select_option("cheque")
    page.get_by_label("Montant reçu (en euros)").fill(due)
    page.get_by_label("Référence (facultatif)").fill("Chèque n° 7654321")
    page.get_by_role("button", name="Enregistrer le paiement").click()
    page.wait_for_url(re.compile(r".*/agent/facturation/paiements\?famille=.*"))
    text = page.locator("main").inner_text()
    assert "enregistré" in text and number in text and "Chèque" in text
    _look(page, a11y, "paiement-enregistre")
    csv_text = page.request.get(f"{platform.base_url}{FACT}/paiements/export.csv").text()
    assert csv_text.startswith("\ufeff") and "7654321" in csv_text

    # --- the parent sees it paid ----------------------------------------------------------------------
    context = browser.new_context(locale="fr-FR", viewport={"width": 390, "height": 844})
    parent = context.new_page()
    parent.set_default_timeout(30000)
    try:
        parent.goto(f"{platform.base_url}/auth/login?next=/factures")
        identity_login(parent, *DEMO_PARENT)
        parent.wait_for_url("**/factures")
        a11y(parent)
        paid = parent.locator("main").inner_text().split("Factures payées", 1)[1]
        assert number in paid, parent.locator("main").inner_text()
    finally:
        context.close()
