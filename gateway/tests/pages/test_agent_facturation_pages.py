"""The agents' "Facturation" pages (/agent/facturation) against a fake of billing's agent API
(agent_facturation_fakebilling.py: same paths and shapes, scoped by the service token's commune)."""
from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

import pytest

from agent_facturation_fakebilling import FAMILY, PDF, FakeBilling, make_app
from helpers import gateway_app, serve
from pageflows import csrf_token, field_error, flashes, sign_in, text

SECRET = "agent-facturation-pages-secret-" + secrets.token_hex(8)
AGENT = {"sub": "agent-h", "email": "agent@heillecourt.fr", "name": "Alex Agent", "family_id": None, "communes": [],
         "agent_of": [{"slug": "heillecourt", "name": "Heillecourt", "role": "agent"}], "platform_role": "parent"}
LUDRES_AGENT = {**AGENT, "sub": "agent-l", "agent_of": [{"slug": "ludres", "name": "Ludres", "role": "agent"}]}
PARENT = {**AGENT, "sub": "parent-1", "agent_of": [], "family_id": FAMILY,
          "communes": [{"slug": "heillecourt", "name": "Heillecourt"}]}


@pytest.fixture(scope="module")
def fake():
    return FakeBilling(SECRET)


@pytest.fixture(scope="module")
def app(fake, tmp_path_factory):
    var = tmp_path_factory.mktemp("gateway-agent-facturation")
    with serve(make_app(fake)) as billing_url, \
            gateway_app(var, BILLING_URL=billing_url, SERVICE_TOKEN_SECRET=SECRET) as application:
        yield application


@pytest.fixture
def client(app, fake):
    fake.__init__(SECRET)
    with app.test_client() as c:
        sign_in(c, AGENT, "heillecourt")
        yield c


def plain(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def post(client, page: str, action: str, **form):
    return client.post(action, data={"csrf_token": csrf_token(client, page), **form})


def sent(fake, method: str, path: str) -> list:
    return [c for c in fake.calls if c[0] == method and c[1] == path]


# --- navigation and runs ------------------------------------------------------------------------------------
def test_the_agent_home_links_to_facturation(client):
    assert 'href="/agent/facturation">Facturation</a>' in text(client.get("/agent"))
    html = text(client.get("/agent/facturation"))
    assert "Préparer la facturation d'un mois" in html and 'aria-current="page">Facturations</a>' in html


def test_draft_review_then_finalise_with_confirmation(client, fake):
    resp = post(client, "/agent/facturation", "/agent/facturation/campagnes", mois="2026-09")
    assert resp.status_code == 302 and sent(fake, "POST", "/internal/agent/runs")[-1][4] == {"month": "2026-09"}
    run_page = resp.headers["Location"]
    html = plain(text(client.get(run_page)))
    assert "Le brouillon de facturation de septembre 2026 est prêt" in html
    assert "Brouillon à vérifier" in html and "54,50 €" in html  # 12,50 + 0 + 42,00
    # The warnings in words, counted per kind, each with billing's detail.
    assert "Réservations sans présence enregistrée : 1" in html
    assert "Familles sans quotient familial (tarif de la tranche la plus haute) : 1" in html
    assert "Léa Martin, Repas du 08/09/2026 : présence non enregistrée." in html
    assert "saisir le quotient familial" in html
    assert "Martin" in html and "Durand" in html and "3 documents" in html
    # No confirmation: nothing finalised, said next to the box.
    resp = post(client, run_page, run_page + "/finaliser")
    assert resp.status_code == 422 and not sent(fake, "POST", f"{run_page.replace('/agent/facturation/campagnes', '/internal/agent/runs')}/finalise")
    assert field_error(text(resp), "confirmation") == "Cochez la case pour confirmer la finalisation."
    resp = post(client, run_page, run_page + "/finaliser", confirmation="1")
    assert resp.status_code == 302
    html = plain(text(client.get(run_page)))
    assert "Facturation de septembre 2026 finalisée : 3 documents publiés." in html
    assert "Finalisée" in html and "Finaliser la facturation" not in html and "F-2026-09-0000001" in html
    listing = plain(text(client.get("/agent/facturation")))
    assert "septembre 2026" in listing and "Finalisée" in listing


def test_finalising_twice_shows_billings_refusal(client, fake):
    run = fake.run()
    page = f"/agent/facturation/campagnes/{run['id']}"
    token = csrf_token(client, page)
    assert client.post(page + "/finaliser", data={"csrf_token": token, "confirmation": "1"}).status_code == 302
    resp = client.post(page + "/finaliser", data={"csrf_token": token, "confirmation": "1"})
    assert resp.status_code == 409 and "Cette facturation est déjà finalisée." in text(resp)


def test_a_bad_or_refused_month_is_said_next_to_the_field(client, fake):
    resp = post(client, "/agent/facturation", "/agent/facturation/campagnes", mois="septembre")
    assert resp.status_code == 422 and "mois à facturer" in field_error(text(resp), "mois")
    assert not sent(fake, "POST", "/internal/agent/runs")
    resp = post(client, "/agent/facturation", "/agent/facturation/campagnes", mois="2031-01")
    assert resp.status_code == 422
    assert field_error(text(resp), "mois").startswith("Ce mois n'est pas encore terminé")


def test_a_draft_can_be_discarded(client, fake):
    run = fake.run()
    page = f"/agent/facturation/campagnes/{run['id']}"
    resp = post(client, page, page + "/abandonner")
    assert resp.status_code == 302 and fake.runs[run["id"]]["state"] == "discarded"
    assert "rien n'a été publié" in text(client.get(resp.headers["Location"]))


def test_documents_and_warnings_are_paged(client, fake):
    warnings = [{"code": "zero_total", "family_id": f"f{i}", "day_key": None, "message": f"Famille n°{i} : 0 €."}
                for i in range(60)]
    run = fake.run(warnings=warnings)
    for i in range(30):
        fake.invoice(family=f"fam-x{i}", family_name=f"Famille{i:02d}", status="draft", number="", run_id=run["id"])
    page = f"/agent/facturation/campagnes/{run['id']}"
    html = text(client.get(page))
    assert "33 documents" in html and "Famille00" in html and "Famille29" not in html
    assert f'href="{page}?page=2"' in html and f'href="{page}?page_alertes=2"' in html
    assert "Factures à 0 € : 60" in html
    assert "Famille29" in text(client.get(page + "?page=2"))
    assert "Famille n°59 : 0 €." in text(client.get(page + "?page_alertes=2"))
    html = text(client.get(page + "?alerte=zero_total&page=abc"))
    listed = [c[2] for c in sent(fake, "GET", f"/internal/agent/runs/{run['id']}/warnings") if c[2].get("page")]
    assert listed[-1] == {"code": "zero_total", "page": "1", "per_page": "50"} and "Toutes les alertes" in html


# --- invoices -----------------------------------------------------------------------------------------------
def test_invoice_search_detail_pdf_and_csv(client, fake):
    inv = fake.invoice(total=123456)
    fake.invoice(family="fam-9", family_name="Bernard", status="paid", total=4200)
    html = plain(text(client.get("/agent/facturation/factures")))
    assert "2 documents" in html and inv["number"] in html and "1 234,56 €" in html and "Payée" in html
    html = text(client.get(f"/agent/facturation/factures?numero={inv['number'].lower()}&statut=to_pay&mois=2026-09"))
    assert sent(fake, "GET", "/internal/agent/invoices")[-1][2] == {
        "number": inv["number"], "month": "2026-09", "status": "to_pay", "page": "1", "per_page": "25"}
    assert 'href="/agent/facturation/factures/export.csv?statut=to_pay&mois=2026-09"' in html
    html = plain(text(client.get("/agent/facturation/factures?nom=bern")))
    assert sent(fake, "GET", "/internal/agent/invoices")[-1][2]["family_name"] == "bern"
    assert "1 document" in html and "Bernard" in html and inv["number"] not in html
    resp = client.get("/agent/facturation/factures?numero=F-12")
    assert resp.status_code == 422 and "numéro complet" in field_error(text(resp), "numero")
    html = plain(text(client.get(f"/agent/facturation/factures/{inv['id']}")))
    assert "Léa Martin" in html and "Absence non justifiée" in html and "Reste dû 1 234,56 €" in html
    assert "Télécharger le PDF" in html
    page = text(client.get(f"/agent/facturation/factures/{inv['id']}"))  # the lines' table, as on the parents' page
    assert '<table class="facturation-lines">\n    <caption class="visually-hidden">Lignes de Léa Martin</caption>' in page
    pdf = client.get(f"/agent/facturation/factures/{inv['id']}/pdf")
    assert pdf.status_code == 200 and pdf.data == PDF and "attachment" in pdf.headers["Content-Disposition"]
    csv = client.get("/agent/facturation/factures/export.csv?statut=to_pay")
    assert csv.status_code == 200 and csv.mimetype == "text/csv" and "attachment" in csv.headers["Content-Disposition"]
    assert csv.get_data(as_text=True).startswith("\ufeffnumero;famille;") and inv["number"] in csv.get_data(as_text=True)


def test_a_corrective_run_from_an_invoice(client, fake):
    inv = fake.invoice()
    page = f"/agent/facturation/factures/{inv['id']}"
    resp = post(client, page, page + "/correction")
    assert resp.status_code == 422 and "au moins une journée" in text(resp)
    resp = post(client, page, page + "/correction", **{"motif:k2": "absent_justified", "qf": "abc"})
    assert resp.status_code == 422 and "quotient familial en euros" in field_error(text(resp), "qf")
    resp = post(client, page, page + "/correction", **{"motif:k1": "present"})
    assert resp.status_code == 422 and "rien à émettre" in text(resp)
    resp = post(client, page, page + "/correction", **{"motif:k2": "absent_justified", "qf": "650"})
    assert resp.status_code == 302
    assert sent(fake, "POST", f"/internal/agent/invoices/{inv['id']}/corrections")[-1][4] == {
        "lines": [{"day_key": "k2", "reason": "absent_justified"}], "qf": 650}
    html = plain(text(client.get(resp.headers["Location"])))
    assert "Facturation corrective de septembre 2026" in html and "facture d'origine" in html


# --- payments -----------------------------------------------------------------------------------------------
def test_a_cheque_typed_french_style_is_recorded_once(client, fake):
    older = fake.invoice(total=700)
    inv = fake.invoice(total=2500)
    receipt = fake.invoice(total=900)
    receipt["cart_id"] = "cart-1"  # paid from the cart only: not offered here
    resp = client.get(f"/agent/facturation/paiements/nouveau?numero={inv['number']}")
    assert resp.status_code == 200
    html = text(resp)
    # The invoice the agent came from is ticked; the family's other one is offered, not ticked.
    assert f'name="facture" value="{inv["id"]}" id="facture-2" checked' in html
    assert f'name="facture" value="{older["id"]}" id="facture-1">' in html and receipt["id"] not in html
    # From the family (no invoice chosen): every open invoice is ticked.
    assert f'value="{older["id"]}" id="facture-1" checked' in text(client.get(
        f"/agent/facturation/paiements/nouveau?famille={FAMILY}"))
    key = re.search(r'name="idempotency_key" value="([^"]+)"', html).group(1)
    form = {"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', html).group(1), "idempotency_key": key,
            "famille": FAMILY, "facture": inv["id"], "method": "cheque", "amount": "12,50",
            "received_on": "2026-10-05", "reference": "Chèque n° 1234567"}
    first = client.post("/agent/facturation/paiements", data=form)
    again = client.post("/agent/facturation/paiements", data=form)  # a double click
    assert first.status_code == again.status_code == 302
    calls = sent(fake, "POST", "/internal/agent/payments")
    assert calls[0][3] == key and calls[0][4] == {
        "family_id": FAMILY, "method": "cheque", "amount_cents": 1250, "received_on": "2026-10-05",
        "reference": "Chèque n° 1234567", "invoice_ids": [inv["id"]]}
    assert calls[1][3] == key and len(fake.payments) == 1
    html = plain(text(client.get(first.headers["Location"])))
    assert "Paiement P-2026-10-" in html and "enregistré" in html and "Chèque" in html and "12,50 €" in html
    assert f'href="/agent/facturation/paiements?famille={FAMILY}">Martin<' in text(client.get(first.headers["Location"]))
    assert inv["number"] in html
    assert "12,50 €" in plain(text(client.get(f"/agent/facturation/factures/{inv['id']}")))


@pytest.mark.parametrize("typed,message", [
    ("", "Saisissez le montant reçu"),
    ("douze", "Saisissez un montant en euros"),
    ("12,555", "deux chiffres après la virgule"),
    ("-3", "Saisissez un montant en euros"),
    ("0,00", "supérieur à 0 €"),
    ("1 000 000", "ne peut pas dépasser"),
])
def test_bad_amounts_are_refused_in_french_before_billing(client, fake, typed, message):
    inv = fake.invoice()
    page = f"/agent/facturation/paiements/nouveau?famille={FAMILY}"
    resp = post(client, page, "/agent/facturation/paiements", famille=FAMILY, facture=inv["id"], method="cash",
                amount=typed)
    assert resp.status_code == 422 and message in field_error(text(resp), "amount")
    assert 'value="' + typed + '"' in text(resp) or not typed
    assert not sent(fake, "POST", "/internal/agent/payments")


def test_billings_refusal_of_a_payment_is_shown_and_no_method_is_said(client, fake):
    fake.invoice(total=1000)
    page = f"/agent/facturation/paiements/nouveau?famille={FAMILY}"
    resp = post(client, page, "/agent/facturation/paiements", famille=FAMILY, method="cash", amount="20")
    assert resp.status_code == 422 and "dépasse ce que la famille doit" in field_error(text(resp), "amount")
    resp = post(client, page, "/agent/facturation/paiements", famille=FAMILY, method="bitcoin", amount="5",
                received_on="2999-01-01")
    assert resp.status_code == 422 and field_error(text(resp), "method") == "Choisissez le moyen de paiement."
    assert "futur" in field_error(text(resp), "received_on")
    resp = post(client, page, "/agent/facturation/paiements", famille=FAMILY, method="cash", amount="20", excess="1")
    assert resp.status_code == 302 and sent(fake, "POST", "/internal/agent/payments")[-1][4]["excess"] == "credit"


def test_unknown_invoice_number_and_payment_list_filters_and_csv(client, fake):
    resp = client.get("/agent/facturation/paiements/nouveau?numero=F-2026-09-9999999")
    assert resp.status_code == 302 and "Aucune facture F-2026-09-9999999" in flashes(client)[-1][1]
    resp = client.get("/agent/facturation/paiements/nouveau?numero=n'importe")
    assert resp.status_code == 302
    resp = client.get("/agent/facturation/paiements?du=31-12-2026")
    assert resp.status_code == 422 and "saisissez une date" in field_error(text(resp), "du")
    html = text(client.get("/agent/facturation/paiements?moyen=cheque&du=2026-10-01"))
    assert sent(fake, "GET", "/internal/agent/payments")[-1][2] == {
        "method": "cheque", "received_from": "2026-10-01", "page": "1", "per_page": "25"}
    assert 'href="/agent/facturation/paiements/export.csv?moyen=cheque&du=2026-10-01"' in html
    csv = client.get("/agent/facturation/paiements/export.csv?moyen=cheque")
    assert csv.status_code == 200 and csv.get_data(as_text=True).startswith("\ufeffnumero;moyen;montant")


def test_parse_euros():
    from gateway.web.agent_facturation_caisse import parse_euros

    assert parse_euros("12,50") == 1250
    assert parse_euros("12,5") == 1250
    assert parse_euros("12") == 1200
    assert parse_euros(" 1 234,05 € ") == 123405
    assert parse_euros("1\u202f234,05") == 123405
    assert parse_euros("0,01") == 1
    assert parse_euros("12.50") == 1250
    for bad in ("", "1,2,3", "12,", ",50", "1 23,00", "1e3", "12,50 EUR"):
        with pytest.raises(ValueError):
            parse_euros(bad)


# --- QF -----------------------------------------------------------------------------------------------------
def test_the_family_qf_is_entered_checked_and_cleared(client, fake):
    fake.invoice()
    page = f"/agent/facturation/familles/{FAMILY}/quotient"
    assert "Non justifié" in text(client.get(page))
    resp = post(client, page, page, qf="12 ans")
    assert resp.status_code == 422 and "nombre entier" in field_error(text(resp), "qf")
    resp = post(client, page, page, qf="650", direct_debit="1")
    assert resp.status_code == 302
    assert sent(fake, "PUT", f"/internal/agent/families/{FAMILY}/account")[-1][4] == {"qf": 650, "direct_debit": True}
    html = plain(text(client.get(page)))
    assert "Quotient familial enregistré" in html and "650 €" in html and "Saisi par un agent" in html
    post(client, page, page, qf="")
    assert sent(fake, "PUT", f"/internal/agent/families/{FAMILY}/account")[-1][4] == {"qf": None, "direct_debit": False}


# --- tenancy and access -------------------------------------------------------------------------------------
def test_another_communes_agent_sees_nothing_and_a_parent_is_refused(app, fake):
    fake.__init__(SECRET)
    run, inv = fake.run(), fake.invoice()
    with app.test_client() as c:
        sign_in(c, LUDRES_AGENT, "ludres")
        for path in (f"/agent/facturation/campagnes/{run['id']}", f"/agent/facturation/factures/{inv['id']}",
                     f"/agent/facturation/factures/{inv['id']}/pdf", f"/agent/facturation/familles/{FAMILY}/quotient",
                     f"/agent/facturation/paiements/nouveau?numero={inv['number']}"):
            resp = c.get(path)
            assert resp.status_code in (404, 302), path
            if resp.status_code == 302:
                assert resp.headers["Location"] == "/agent/facturation/paiements"
        assert "0 facturation" in text(c.get("/agent/facturation"))
        assert "0 document" in text(c.get("/agent/facturation/factures"))
        token = csrf_token(c, "/agent/facturation")
        resp = c.post(f"/agent/facturation/campagnes/{run['id']}/finaliser", data={"csrf_token": token,
                                                                                   "confirmation": "1"})
        assert resp.status_code == 404 and fake.runs[run["id"]]["state"] == "draft"
        sign_in(c, PARENT)
        assert c.get("/agent/facturation").status_code == 403


def test_forms_need_the_csrf_token(client, fake):
    run = fake.run()
    resp = client.post(f"/agent/facturation/campagnes/{run['id']}/finaliser", data={"confirmation": "1"})
    assert resp.status_code == 400 and fake.runs[run["id"]]["state"] == "draft"


# --- in a real browser --------------------------------------------------------------------------------------
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")
def test_pages_have_no_serious_axe_violation_at_360_and_1280_px(app, client, fake):
    """Every page: axe-core at 360 and 1280 px, nothing wider than the screen. With SCREENSHOTS=<dir>,
    each page is also saved there as a PNG to look at."""
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import sync_playwright

    run = fake.run(warnings=[{"code": "attendance_missing", "family_id": FAMILY, "day_key": "k1",
                              "message": "Léa Martin, Repas du 08/09/2026 : présence non enregistrée."},
                             {"code": "family_without_qf", "family_id": "fam-3", "day_key": None,
                              "message": "Famille Petit : aucun quotient familial."}])
    inv = fake.invoice(total=123456)
    client.post("/agent/facturation/paiements", data={
        "csrf_token": csrf_token(client, "/agent/facturation"), "famille": FAMILY, "method": "cheque",
        "amount": "12,50", "reference": "Chèque 1234567"})
    pages = {"campagnes": "/agent/facturation", "campagne": f"/agent/facturation/campagnes/{run['id']}",
             "factures": "/agent/facturation/factures", "facture": f"/agent/facturation/factures/{inv['id']}",
             "paiements": "/agent/facturation/paiements",
             "paiement": f"/agent/facturation/paiements/nouveau?famille={FAMILY}",
             "quotient": f"/agent/facturation/familles/{FAMILY}/quotient"}
    shots = os.environ.get("SCREENSHOTS")
    cookie = client.get_cookie("ef_session").value
    with serve(app) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"])
        try:
            for width in (360, 1280):
                context = browser.new_context(viewport={"width": width, "height": 800})
                context.add_cookies([{"name": "ef_session", "value": cookie, "url": url}])
                page = context.new_page()
                for name, path in pages.items():
                    page.goto(url + path)
                    bad = [v["id"] for v in Axe().run(page).response["violations"]
                           if v.get("impact") in ("serious", "critical")]
                    assert not bad, f"{path} at {width} px: {bad}"
                    assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{path} at {width} px"
                    if shots:
                        page.screenshot(path=str(Path(shots) / f"facturation-{name}-{width}.png"), full_page=True)
                context.close()
        finally:
            browser.close()
