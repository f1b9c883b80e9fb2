"""A commune requires documents before an enrolment (issue 10), on the real platform: requests'
seed-demo makes Heillecourt's holiday centre ("Accueil de loisirs des vacances") require the
health form and the insurance, which the demo family has not sent. The demo agent tries to enrol
Hugo Martin there: booking asks requests, refuses, and the enrolment page says why, naming each
missing document; the canteen, which requires nothing, still enrols him. axe-core on each page;
with EF_SCREENSHOT_DIR set, the refusal is saved at 360 and 1280 px wide."""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

HUGO = "00000000-0000-4000-8000-00000000c002"  # identity's demo child, in every service's seed
BASE = "/agent/reservations"
SCREENSHOTS = os.environ.get("EF_SCREENSHOT_DIR")


def _enrol(page, service: str, first: dt.date, last: dt.date) -> None:
    page.locator("#service_id").select_option(label=service)
    page.locator("#first").fill(first.isoformat())
    page.locator("#last").fill(last.isoformat())
    page.get_by_role("button", name="Inscrire Hugo Martin").click()
    page.wait_for_load_state()


def test_an_incomplete_dossier_refuses_the_enrolment_and_names_the_documents(platform, page, a11y, sign_in_agent):
    sign_in_agent(page)
    page.goto(f"{platform.base_url}{BASE}/inscriptions/{HUGO}")
    a11y(page)
    first = dt.date(2027, 9, 1)  # after the demo season: no enrolment to overlap

    _enrol(page, "Accueil de loisirs des vacances", first, dt.date(2027, 12, 31))
    summary = page.locator(".error-summary").inner_text()
    assert "L'inscription n'a pas pu être enregistrée" in summary
    assert "le dossier de Hugo est incomplet pour « Accueil de loisirs des vacances »" in summary
    assert "« Fiche sanitaire de liaison » est à fournir." in summary
    assert "« Attestation d'assurance extrascolaire » est à fournir." in summary
    a11y(page)
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        for width in (360, 1280):
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(path=f"{SCREENSHOTS}/dossier-refused-{width}.png", full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})
    # only the seed's enrolment (2026-2027) in the list: nothing was written
    assert page.locator("main table tbody tr", has_text="Accueil de loisirs des vacances").count() == 1

    # A service that requires nothing: enrolled.
    page.goto(f"{platform.base_url}{BASE}/inscriptions/{HUGO}")
    _enrol(page, "Restauration scolaire", first, dt.date(2027, 12, 31))
    assert "Inscription enregistrée du 01/09/2027 au 31/12/2027." in page.locator("main").inner_text()
    a11y(page)
