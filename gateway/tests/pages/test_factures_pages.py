"""The parents' invoice pages (Mes factures) against a fake of billing's parent API
(factures_fakebilling.py: same paths and shapes, tenancy by the service token)."""
from __future__ import annotations

import os
import re
import secrets

import pytest

from factures_fakebilling import BANK, CART, OCT, OTHERS, PAID, PDF, SEPT, FakeBilling, make_app
from helpers import closed_port, gateway_app, serve
from pageflows import csrf_token, login_target, sign_in, text

SECRET = "factures-pages-secret-" + secrets.token_hex(8)
PARENT = {"sub": "parent-1", "email": "camille@example.org", "name": "Camille Martin", "family_id": "fam-1",
          "communes": [{"slug": "heillecourt", "name": "Heillecourt"}], "agent_of": [], "platform_role": "parent"}


@pytest.fixture(scope="module")
def fake():
    return FakeBilling(SECRET)


@pytest.fixture(scope="module")
def app(fake, tmp_path_factory):
    var = tmp_path_factory.mktemp("gateway-factures")
    with serve(make_app(fake)) as billing_url, \
            gateway_app(var, BILLING_URL=billing_url, BOOKING_URL=f"http://127.0.0.1:{closed_port()}",
                        SERVICE_TOKEN_SECRET=SECRET, PUBLIC_URL="https://famille.example.org") as application:
        yield application


@pytest.fixture
def client(app, fake):
    fake.__init__(SECRET)  # a fresh family state for each test
    with app.test_client() as c:
        sign_in(c, PARENT)
        yield c


def plain(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def pay(client, invoices, key=None):
    data = {"csrf_token": csrf_token(client, "/factures"), "facture": list(invoices)}
    if key:
        data["idempotency_key"] = key
    return client.post("/factures/payer", data=data)


# --- access -----------------------------------------------------------------------------------
def test_signed_out_visitors_are_sent_to_sign_in(app):
    with app.test_client() as anonymous:
        for url in ("/factures", f"/factures/{SEPT}", f"/factures/{SEPT}/pdf", f"/factures/paniers/{CART}/paiement"):
            assert login_target(anonymous.get(url)) == url


def test_an_account_without_family_gets_a_french_page(app):
    with app.test_client() as c:
        sign_in(c, {**PARENT, "family_id": None})
        resp = c.get("/factures")
        assert resp.status_code == 404 and "Vous n'avez pas encore d'espace famille" in text(resp)


def test_navigation_shows_mes_factures(client):
    assert '<a href="/factures" aria-current="page">Mes factures</a>' in text(client.get("/factures"))


# --- lists and one invoice -------------------------------------------------------------------
def test_the_page_title_is_plain_text(client):
    """The credits and attestations sections belong to the page, not inside its <title>."""
    html = text(client.get("/factures"))
    assert "<title>Mes factures — Espace Famille</title>" in html
    assert html.count('<section aria-labelledby="attestations">') == 1


def test_lists_to_pay_and_paid_with_french_amounts(client):
    resp = client.get("/factures")
    html = plain(text(resp))
    assert resp.status_code == 200
    to_pay, paid = html.split("Factures payées", 1)
    assert "Factures à payer" in to_pay and "F-2026-09-0000012" in to_pay and "F-2026-10-0000034" in to_pay
    assert "Reste à payer : 12,50 €" in to_pay and "Reste à payer : 1 224,56 €" in to_pay
    assert "Total à payer : 1 237,06 €" in to_pay
    assert "F-2026-08-0000005" in paid and "42,00 €" in paid and "F-2026-08" not in to_pay
    assert "F-2026-09-0000099" not in html  # another family's
    assert f'name="facture" value="{SEPT}"' in text(resp) and "Payer les factures sélectionnées" in html


def test_a_payer_link_ticks_only_that_invoice(client):
    # Sibling portals ("Mes factures en ligne") link "Payer" to /factures?payer=<id>.
    html = text(client.get(f"/factures?payer={OCT}"))
    assert re.search(rf'value="{OCT}" id="f-\d+" checked', html)
    assert not re.search(rf'value="{SEPT}" id="f-\d+" checked', html)
    assert re.search(rf'value="{SEPT}" id="f-\d+" checked', text(client.get("/factures")))  # default: all ticked


def test_empty_lists_say_so(client, fake):
    fake.invoices.clear()
    html = plain(text(client.get("/factures")))
    assert "Vous n'avez aucune facture à payer." in html and "Aucune facture payée pour l'instant." in html


def test_invoice_page_shows_lines_per_child_prestation_and_date(client):
    resp = client.get(f"/factures/{SEPT}")
    html = plain(text(resp))
    assert resp.status_code == 200 and "Facture F-2026-09-0000012" in html
    assert "Léa Martin" in html and "Hugo Martin" in html
    assert "08/09/2026 Repas Présent 3,50 €" in html
    assert "09/09/2026 Accueil du soir Présent 5,50 €" in html
    assert "Reste à payer 12,50 €" in html and "Ouvrir la facture en PDF" in html
    assert '<table class="factures-lines">\n    <caption class="visually-hidden">Lignes de Hugo Martin</caption>' in text(resp)


def test_another_familys_invoice_and_pdf_are_the_404_page(client):
    for url in (f"/factures/{OTHERS}", f"/factures/{OTHERS}/pdf", "/factures/inconnue"):
        resp = client.get(url)
        assert resp.status_code == 404 and "Page introuvable" in text(resp) and "F-2026-09-0000099" not in text(resp)


def test_invoice_pdf_opens_in_the_browser(client):
    assert f'href="/factures/{PAID}/pdf" type="application/pdf">Ouvrir la facture en PDF' in text(client.get(f"/factures/{PAID}"))
    resp = client.get(f"/factures/{PAID}/pdf")
    assert resp.status_code == 200 and resp.data == PDF
    assert resp.headers["Content-Type"] == "application/pdf"
    assert resp.headers["Content-Disposition"] == f'inline; filename="facture-{PAID}.pdf"'
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_yearly_attestation_is_linked_and_downloads(client, monkeypatch):
    monkeypatch.setattr("gateway.web.factures.this_year", lambda: 2026)
    html = text(client.get("/factures"))
    assert 'href="/factures/attestations/2025/pdf"' in html and "Attestation de paiement 2026 (PDF)" in html
    resp = client.get("/factures/attestations/2025/pdf")
    assert resp.status_code == 200 and resp.data == PDF + b"2025"
    assert resp.headers["Content-Disposition"] == 'attachment; filename="attestation-paiement-2025.pdf"'
    refused = client.get("/factures/attestations/2027/pdf")
    assert refused.status_code == 422 and "pas encore disponible" in text(refused)
    assert client.get("/factures/attestations/1999/pdf").status_code == 404


# --- paying -----------------------------------------------------------------------------------
def test_paying_selected_invoices_renders_the_providers_form(client, fake):
    resp = pay(client, [SEPT, OCT])
    html = text(resp)
    assert resp.status_code == 200
    assert f'<form method="post" action="{BANK}" data-auto-submit>' in html
    assert re.search(r'name="vads_trans_id" value="tx-[0-9a-f]+"', html)
    assert "Continuer vers le paiement" in html and "1 237,06 €" in html
    method, path, key, body = [c for c in fake.calls if c[1] == "/internal/parent/payments"][-1]
    assert method == "POST" and key and body["invoice_ids"] == [SEPT, OCT]
    assert body["return_url"] == "https://famille.example.org/factures/paiements/retour" and body["email"] == PARENT["email"]


def test_a_get_redirect_is_followed(client, fake):
    fake.redirect_method = "GET"
    resp = pay(client, [SEPT])
    assert resp.status_code == 303 and resp.headers["Location"].startswith(BANK + "?tx=tx-")


def test_a_double_click_sends_the_same_key_and_gets_one_attempt(client, fake):
    key = "k" * 24
    first, second = text(pay(client, [SEPT], key)), text(pay(client, [SEPT], key))
    tid = re.search(r'name="vads_trans_id" value="([^"]+)"', first).group(1)
    assert f'value="{tid}"' in second and len(fake.attempts) == 1


def test_paying_nothing_ticked_is_refused_in_french(client):
    resp = pay(client, [])
    assert resp.status_code == 422 and "Cochez au moins une facture à payer." in text(resp)


def test_billing_refusal_is_shown_on_the_list(client, fake):
    fake.refuse["/internal/parent/payments"] = (422, "Le montant est inférieur au minimum du paiement en ligne (1,00 €).")
    resp = pay(client, [SEPT])
    assert resp.status_code == 422
    assert "Le montant est inférieur au minimum du paiement en ligne (1,00 €)." in text(resp)
    fake.refuse["/internal/parent/payments"] = (503, "Le service de paiement ne répond pas, réessayez plus tard.")
    resp = pay(client, [SEPT])
    assert resp.status_code == 503 and "Réessayez dans quelques minutes" in text(resp)
    assert "Payer les factures sélectionnées" in text(resp)  # still on the list, ticks kept


def test_another_familys_invoice_cannot_be_paid(client, fake):
    resp = pay(client, [OTHERS])
    assert resp.status_code == 404 and not fake.attempts


def test_payment_without_csrf_is_refused(client, fake):
    resp = client.post("/factures/payer", data={"facture": [SEPT]})
    assert resp.status_code == 400 and not fake.attempts


def test_processing_page_polls_until_decided(client, fake):
    text(pay(client, [SEPT]))
    tid = next(iter(fake.attempts))
    back = client.get(f"/factures/paiements/retour?transaction={tid}")
    assert back.status_code == 303 and back.headers["Location"].endswith(f"/factures/paiements/{tid}")
    html = text(client.get(f"/factures/paiements/{tid}"))
    assert "Paiement en cours" in html and '<meta http-equiv="refresh" content="3">' in html
    fake.attempts[tid]["status"] = "paid"
    html = text(client.get(f"/factures/paiements/{tid}"))
    assert "Paiement reçu" in html and "12,50 €" in html and "http-equiv" not in html
    for status, title in (("refused", "Paiement refusé"), ("abandoned", "Paiement abandonné")):
        fake.attempts[tid]["status"] = status
        html = text(client.get(f"/factures/paiements/{tid}"))
        assert title in html and "Aucun montant n'a été prélevé" in html and "http-equiv" not in html


def test_credits_covering_everything_need_no_bank(client, fake):
    fake.credits_cover = True
    resp = pay(client, [SEPT])
    html = text(resp)
    assert resp.status_code == 200 and "Vos avoirs ont couvert le montant" in html and "Continuer vers" not in html


def test_credit_notes_are_listed_with_what_remains(client, fake):
    fake.invoices["avoir"] = {**fake.invoices[PAID], "id": "avoir", "kind": "credit_note", "status": "credit",
                              "number": "A-2026-09-0000002", "total_cents": 700, "remaining_credit_cents": 350}
    html = plain(text(client.get("/factures")))
    assert "Avoirs" in html and "A-2026-09-0000002" in html and "Reste utilisable : 3,50 €" in html
    assert "Avoir A-2026-09-0000002" in plain(text(client.get("/factures/avoir")))


def test_unknown_payment_is_the_404_page(client):
    assert client.get("/factures/paiements/tx-inconnu").status_code == 404
    assert client.get("/factures/paiements/retour").status_code == 404


# --- a prepaid cart ---------------------------------------------------------------------------
def test_cart_payment_link_from_booking_pages_exists(app):
    from gateway.web.reservations import CART_PAYMENT_ENDPOINT

    assert CART_PAYMENT_ENDPOINT in app.view_functions


def test_cart_payment_page_and_start(client, fake):
    html = plain(text(client.get(f"/factures/paniers/{CART}/paiement")))
    assert "Montant à payer : 7,80 €" in html and "Payer en ligne" in html
    assert 'href="/reservations/panier/abandonner">Abandonner ce paiement</a>' in text(
        client.get(f"/factures/paniers/{CART}/paiement"))  # giving up is offered on the payment step too
    resp = client.post(f"/factures/paniers/{CART}/paiement",
                       data={"csrf_token": csrf_token(client, f"/factures/paniers/{CART}/paiement")})
    assert resp.status_code == 200 and f'value="tx-cart-{CART}"' in text(resp)
    assert "Continuer vers le paiement" in text(resp)
    fake.attempts[f"tx-cart-{CART}"]["status"] = "paid"
    html = text(client.get(f"/factures/paiements/tx-cart-{CART}"))
    assert "Paiement reçu" in html and 'href="/reservations">Retour à mes réservations' in html


def test_cart_being_prepared_polls(client, fake):
    fake.cart = {"status": "preparing", "payment_needed": True}
    html = text(client.get(f"/factures/paniers/{CART}/paiement"))
    assert "Nous préparons votre paiement" in html and 'http-equiv="refresh"' in html


def test_cart_payment_refusal_is_said(client, fake):
    fake.refuse[f"/internal/parent/carts/{CART}/payment"] = (409, "Ce panier n'attend plus de paiement.")
    token = csrf_token(client, f"/factures/paniers/{CART}/paiement")
    fake.refuse[f"/internal/parent/carts/{CART}/payment"] = (409, "Ce panier n'attend plus de paiement.")
    resp = client.post(f"/factures/paniers/{CART}/paiement", data={"csrf_token": token})
    assert resp.status_code == 409 and "Ce panier n'attend plus de paiement." in text(resp)


# --- in a real browser ------------------------------------------------------------------------
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")
def test_pages_have_no_serious_axe_violation_at_360_and_1280_px(app, client):
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import sync_playwright

    cookie = client.get_cookie("ef_session").value
    with serve(app) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"])
        try:
            for width in (360, 1280):
                context = browser.new_context(viewport={"width": width, "height": 800})
                context.add_cookies([{"name": "ef_session", "value": cookie, "url": url}])
                page = context.new_page()
                for path in ("/factures", f"/factures/{SEPT}", f"/factures/paniers/{CART}/paiement"):
                    page.goto(url + path)
                    bad = [v["id"] for v in Axe().run(page).response["violations"]
                           if v.get("impact") in ("serious", "critical")]
                    assert not bad, f"{path} at {width} px: {bad}"
                    # Nothing wider than the screen (tables wrap, amounts fit).
                    assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{path} at {width} px"
                context.close()
        finally:
            browser.close()
