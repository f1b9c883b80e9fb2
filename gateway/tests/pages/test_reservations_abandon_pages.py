""""Abandonner ce paiement" on the payment step: a confirmation in words, a CSRF-protected POST to
booking, then the cart with a French message (reservations_fakebooking.py fakes booking)."""
from __future__ import annotations

import os

import pytest

from pageflows import browser_pages, csrf_token, serious_violations, text
from reservations_fakebooking import LEA, MERCREDI
from test_reservations_pages import (CHROMIUM, _fill_cart, _validate, app, client, fake, plain, post,  # noqa: F401
                                     prices)

ABANDON = "/reservations/panier/abandonner"


def _awaiting(client, fake):
    _fill_cart(fake)
    fake.outcomes[(LEA, MERCREDI, "2027-03-10")] = ("held", None)
    _validate(client)
    assert fake.cart["state"] == "awaiting_payment"


def test_the_payment_step_offers_to_give_up_with_a_confirmation_in_words(client, fake):
    _awaiting(client, fake)
    html = text(client.get("/reservations/panier"))
    assert f'<a href="{ABANDON}">Abandonner ce paiement</a>' in html
    page = client.get(ABANDON)
    assert page.status_code == 200
    words = plain(text(page))
    assert "Abandonner ce paiement ?" in words
    assert "1 place gardée pour vous jusqu'au mardi 1er décembre 2026 à 16 h 20 est libérée tout de suite" in words
    assert "mercredi 10 mars" in words and "Les dates reviennent dans votre panier" in words
    assert "Oui, abandonner ce paiement</button>" in text(page)
    assert 'href="/factures/paniers/cart-1/paiement">Non, revenir au paiement</a>' in text(page)
    assert fake.cart["state"] == "awaiting_payment"  # looking at the page changes nothing


def test_confirming_releases_the_places_and_comes_back_to_the_cart_with_a_message(client, fake):
    _awaiting(client, fake)
    resp = post(client, ABANDON, ABANDON, {})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/reservations/panier")
    assert ("POST", "/internal/parent/cart/abandon", None) in fake.calls
    html = text(client.get("/reservations/panier"))
    assert "Paiement abandonné." in html
    assert "État du panier : <strong>Paiement non effectué</strong>" in html
    assert "Le paiement n'a pas été fait : les places gardées pour vous ont été libérées" in html
    assert "Valider le panier</button>" in html  # the dates are back, to validate again
    # a second click (an old tab): nothing awaits payment any more, said in words
    again = client.get(ABANDON, follow_redirects=True)
    assert "Votre panier n'attend aucun paiement : il n'y a rien à abandonner." in text(again)


def test_giving_up_without_the_form_token_is_refused(client, fake):
    _awaiting(client, fake)
    resp = client.post(ABANDON, data={})
    assert resp.status_code == 400
    assert ("POST", "/internal/parent/cart/abandon", None) not in fake.calls
    assert fake.cart["state"] == "awaiting_payment"


def test_a_refusal_from_booking_is_said_on_the_cart(client, fake):
    _awaiting(client, fake)
    token = csrf_token(client, ABANDON)
    fake.cart["state"] = "validated"  # paid meanwhile, the confirmation page still open
    resp = client.post(ABANDON, data={"csrf_token": token}, follow_redirects=True)
    assert "Votre panier n'attend aucun paiement : il n'y a rien à abandonner." in text(resp)


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")
def test_abandon_pages_have_no_serious_axe_violation_at_360_and_1280_px(app, client, fake, tmp_path):
    _awaiting(client, fake)
    shots = os.environ.get("EF_SCREENSHOTS_DIR") or str(tmp_path)
    for width, page, url in browser_pages(app, client.get_cookie("ef_session").value):
        for name, path in (("panier-paiement", "/reservations/panier"), ("abandonner", ABANDON)):
            page.goto(url + path)
            assert not serious_violations(page), f"{path} at {width} px"
            assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{path} at {width} px"
            page.screenshot(path=os.path.join(shots, f"{name}-{width}.png"), full_page=True)
        if width == 1280:  # confirmed: back on the cart, the message said
            page.click("text=Oui, abandonner ce paiement")
            assert page.url.endswith("/reservations/panier") and "Paiement abandonné" in page.content()
            assert not serious_violations(page), "the cart after giving up"
            page.screenshot(path=os.path.join(shots, f"apres-abandon-{width}.png"), full_page=True)
    assert fake.cart["state"] == "failed"
    for width, page, url in browser_pages(app, client.get_cookie("ef_session").value):  # the failed cart, later
        page.goto(url + "/reservations/panier")
        assert "Paiement non effectué" in page.content()
        assert not serious_violations(page), f"the failed cart at {width} px"
        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"the failed cart at {width} px"
        page.screenshot(path=os.path.join(shots, f"panier-echoue-{width}.png"), full_page=True)
