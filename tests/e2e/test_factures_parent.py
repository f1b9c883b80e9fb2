"""The parents' "Mes factures" on the real platform (issue 9), as the demo parent of Heillecourt: a
prepaid Wednesday's cart paid (then another refused) through the simulated bank (devtools/fakebank),
from the booking pages' "Payer en ligne" to "Paiement reçu" / "Paiement refusé", with axe-core on
every page of ours."""
from __future__ import annotations

import datetime as dt

DEMO_PARENT = ("parent.demo@example.org", "Demo-Famille-2026")


def _awaiting_payment(page, platform) -> bool:
    page.goto(f"{platform.base_url}/reservations/panier")
    return "État du panier : En attente de paiement" in page.locator("main").inner_text()


def _hold_a_wednesday(page, platform) -> None:
    """Book one prepaid Wednesday and validate the cart (unless a cart already awaits payment)."""
    if _awaiting_payment(page, platform):
        return
    page.goto(f"{platform.base_url}/reservations")
    action = page.locator("li.card").filter(has=page.get_by_role(
        "heading", name="Accueil de loisirs du mercredi", exact=True)).locator("form").get_attribute("action")
    service_url = "/reservations/services/" + action.rstrip("/").rsplit("/", 1)[1]
    month = dt.date.today().replace(day=1)
    for _ in range(3):
        page.goto(f"{platform.base_url}{service_url}?mois={month:%Y-%m}")
        boxes = page.locator("section.reservations-child").first.locator("input[name=ligne][value$='|book']")
        if boxes.count():
            boxes.first.check()
            break
        month = (month + dt.timedelta(days=32)).replace(day=1)
    else:
        raise AssertionError("a bookable Wednesday within three months")
    with page.expect_navigation():
        page.get_by_role("button", name="Ajouter au panier").click()
    page.goto(f"{platform.base_url}/reservations/panier")
    page.get_by_role("button", name="Valider le panier").click()
    page.wait_for_url("**/reservations/panier/valider")


def _pay_the_cart_at_the_bank(platform, page, a11y, identity_login, bank_button: str, outcome: str) -> str:
    page.goto(f"{platform.base_url}/auth/login?next=/reservations")
    identity_login(page, *DEMO_PARENT)
    page.wait_for_url("**/reservations")
    _hold_a_wednesday(page, platform)
    assert _awaiting_payment(page, platform), page.locator("main").inner_text()
    page.get_by_role("link", name="Payer en ligne").click()
    page.wait_for_url("**/factures/paniers/*/paiement")
    # Billing may still be receiving the cart: the page refreshes itself until the button is there.
    page.get_by_role("button", name="Payer en ligne").wait_for(timeout=30_000)
    a11y(page)
    page.get_by_role("button", name="Payer en ligne").click()
    # Our page auto-submits the signed form to the bank; the bank's page has Payer / Refuser / Abandonner.
    choice = page.locator("button[name=decision]").filter(has_text=bank_button)
    choice.first.wait_for(timeout=30_000)
    choice.first.click()
    page.wait_for_url("**/factures/paiements/**", timeout=30_000)
    try:  # the processing page polls billing until the bank's signed notification has arrived
        page.get_by_role("heading", name=outcome).wait_for(timeout=30_000)
    except Exception as exc:
        raise AssertionError(f"{page.url}: {page.locator('main').inner_text()}") from exc
    a11y(page)
    return page.locator("main").inner_text()


def test_a_prepaid_cart_is_paid_through_the_simulated_bank(platform, page, a11y, identity_login):
    text = _pay_the_cart_at_the_bank(platform, page, a11y, identity_login, "Payer", "Paiement reçu")
    assert "Merci : votre paiement" in text


def test_a_refused_payment_says_so_and_takes_nothing(platform, page, a11y, identity_login):
    text = _pay_the_cart_at_the_bank(platform, page, a11y, identity_login, "Refuser", "Paiement refusé")
    assert "Aucun montant n'a été prélevé" in text
