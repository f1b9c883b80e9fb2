"""The parents' booking pages on the real platform (issue 8), as the demo parent of Heillecourt
(identity's and booking's demo seeds: Léa and Hugo Martin enrolled in every service):

- book a period (two weeks of evenings) for both children and validate: confirmed at once;
- see it in the month calendar, in words;
- cancel one of those dates before the deadline through the cart;
- a prepaid Wednesday: its place is held and the payment step is shown;
- the iCal feed: a secret link, served publicly, then revoked;
with axe-core on every page.
"""
from __future__ import annotations

import datetime as dt
import re

import requests

DEMO_PARENT = ("parent.demo@example.org", "Demo-Famille-2026")


def _sign_in(platform, page, identity_login) -> None:
    page.goto(f"{platform.base_url}/auth/login?next=/reservations")
    identity_login(page, *DEMO_PARENT)
    page.wait_for_url("**/reservations")


def _service_card(page, label: str):
    return page.locator("li.card").filter(has=page.get_by_role("heading", name=label, exact=True))


def _validate(page, a11y) -> str:
    page.goto(page.url.split("/reservations", 1)[0] + "/reservations/panier")
    a11y(page)
    page.get_by_role("button", name="Valider le panier").click()
    page.wait_for_url("**/reservations/panier/valider")
    a11y(page)
    return page.locator("main").inner_text()


def test_period_for_two_children_calendar_and_cancellation(platform, page, a11y, identity_login):
    _sign_in(platform, page, identity_login)
    a11y(page)
    card = _service_card(page, "Périscolaire matin et soir")
    assert "Léa Martin" in card.inner_text() and "Hugo Martin" in card.inner_text()

    # Period view: Monday and Tuesday evenings over four weeks, both children.
    card.get_by_role("link", name=re.compile("Réserver une période")).click()
    a11y(page)
    today = dt.date.today()
    first = today + dt.timedelta(days=7 + (7 - today.weekday()) % 7)
    last = first + dt.timedelta(days=27)
    assert page.get_by_label("Léa Martin").is_checked() and page.get_by_label("Hugo Martin").is_checked()
    page.get_by_label("Accueil du soir").check()
    page.get_by_label("Lundi").check()
    page.get_by_label("Mardi").check()
    page.get_by_label("Premier jour").fill(first.isoformat())
    page.get_by_label("Dernier jour").fill(last.isoformat())
    page.get_by_role("button", name="Voir les dates").click()
    a11y(page)
    preview = page.locator("#periode").inner_text()
    total = int(re.search(r"Aperçu : (\d+) dates? à réserver", preview).group(1))
    lea = int(re.search(r"Léa Martin : (\d+) date", preview).group(1))
    hugo = int(re.search(r"Hugo Martin : (\d+) date", preview).group(1))
    assert lea > 0 and hugo > 0 and total == lea + hugo
    page.get_by_role("button", name=f"Ajouter {total} dates au panier").click()
    page.wait_for_url("**/reservations/panier")
    assert f"{total} réservations ajoutées à votre panier" in page.locator("main").inner_text()
    result = _validate(page, a11y)
    assert "Votre panier est validé" in result
    assert f"Réservations confirmées ({total})" in result  # invoiced at the end of the month: confirmed at once
    assert "Refusées" not in result

    # The month calendar of both children shows those evenings booked, in words, cancellable.
    page.goto(f"{platform.base_url}/reservations")
    _service_card(page, "Périscolaire matin et soir").get_by_role("button", name=re.compile("Voir le calendrier")).click()
    page.wait_for_url(re.compile(r".*/reservations/services/[^/?]+\?enfant=.*"))
    page.goto(page.url + f"&mois={first:%Y-%m}")
    assert page.locator("h2", has_text="Léa Martin").count() == 1 and page.locator("h2", has_text="Hugo Martin").count() == 1
    a11y(page)
    booked = page.locator("li.reservations-day").filter(has_text="Réservé")
    assert booked.count() >= 1
    first_booked = booked.first.inner_text()
    assert "Annulable jusqu'au" in first_booked

    # Cancel one evening before its deadline: tick it, add to the cart, validate.
    cancel_box = page.locator("input[name=ligne][value$='|cancel']").first
    cancelled_value = cancel_box.get_attribute("value")
    cancel_box.check()
    assert "1 date cochée" in page.locator("#reservations-selection").inner_text()
    with page.expect_navigation():
        page.get_by_role("button", name="Ajouter au panier").click()
    assert "1 annulation ajoutée à votre panier" in page.locator("main").inner_text()
    a11y(page)
    result = _validate(page, a11y)
    decided = re.search(r"Annulations (acceptées|transmises au service) \(1\)", result)
    assert decided

    child_id, prestation_id, day, _ = cancelled_value.split("|")
    service_id = _service_id(page, platform, "Périscolaire matin et soir")
    page.goto(f"{platform.base_url}/reservations/services/{service_id}?mois={day[:7]}&enfant={child_id}")
    a11y(page)
    assert page.locator(f"input[value='{cancelled_value}']").count() == 0  # no longer booked
    if decided.group(1) == "acceptées":
        # Cancelled before the deadline: the evening can be booked again.
        assert page.locator(f"input[value='{child_id}|{prestation_id}|{day}|book']").count() == 1
    else:
        assert page.locator("li.reservations-day").filter(has_text="Annulation demandée").count() == 1


def _service_id(page, platform, label: str) -> str:
    page.goto(f"{platform.base_url}/reservations")
    action = _service_card(page, label).locator("form").get_attribute("action")
    return action.rstrip("/").rsplit("/", 1)[1]


def test_ical_feed_link_served_then_revoked(platform, page, a11y, identity_login):
    _sign_in(platform, page, identity_login)
    page.get_by_role("link", name="Gérer les liens d'agenda").click()
    a11y(page)
    with page.expect_navigation():
        page.get_by_role("button", name="Créer le lien d'agenda de Léa Martin").click()
    a11y(page)
    url = page.get_by_label("Lien d'abonnement").input_value()
    assert url.startswith(platform.base_url + "/calendrier/") and url.endswith(".ics")
    feed = requests.get(url, timeout=10)
    assert feed.status_code == 200 and feed.headers["Content-Type"].startswith("text/calendar")
    assert "BEGIN:VCALENDAR" in feed.text
    page.goto(f"{platform.base_url}/reservations/agenda")
    assert url not in page.content()  # shown once
    with page.expect_navigation():
        page.get_by_role("button", name="Révoquer le lien de Léa Martin").click()
    a11y(page)
    assert "Le lien d'abonnement est révoqué" in page.locator("main").inner_text()
    assert requests.get(url, timeout=10).status_code == 404


def test_calendar_and_cart_work_without_javascript(platform, browser):
    context = browser.new_context(locale="fr-FR", viewport={"width": 360, "height": 740}, java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(30000)
    try:
        page.goto(f"{platform.base_url}/auth/login?next=/reservations")
        page.wait_for_url(re.compile(r".*/oidc/login.*"))
        page.locator("#email").fill(DEMO_PARENT[0])
        page.locator("#password").fill(DEMO_PARENT[1])
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_url("**/reservations")
        service_id = _service_id(page, platform, "Restauration scolaire")
        month = (dt.date.today().replace(day=1) + dt.timedelta(days=32)).replace(day=1)
        page.goto(f"{platform.base_url}/reservations/services/{service_id}?mois={month:%Y-%m}")
        hugo = page.locator("section.reservations-child").filter(has=page.get_by_role("heading", name="Hugo Martin"))
        box = hugo.locator("input[name=ligne][value$='|book']").first
        value = box.get_attribute("value")
        label = page.locator(f"label[for='{box.get_attribute('id')}']").inner_text()
        assert label.startswith("Réserver") and "Hugo" in label
        box.check()
        with page.expect_navigation():
            page.get_by_role("button", name="Ajouter au panier").click()
        assert "1 réservation ajoutée à votre panier" in page.locator("main").inner_text()
        assert page.locator(f"input[value='{value}']").count() == 0  # now "Dans le panier"
        # (axe-core runs as a script: these pages are checked with JavaScript on in the other tests)
        page.goto(f"{platform.base_url}/reservations/panier")
        with page.expect_navigation():
            page.get_by_role("button", name=re.compile(r"^Retirer")).first.click()
        assert "La ligne est retirée du panier." in page.locator("main").inner_text()
        assert "Votre panier est vide." in page.locator("main").inner_text()
    finally:
        context.close()


def test_prepaid_wednesday_is_held_with_the_payment_step(platform, page, a11y, identity_login):
    """Last: the cart then awaits payment (an hour) and cannot change meanwhile."""
    _sign_in(platform, page, identity_login)
    service_id = _service_id(page, platform, "Accueil de loisirs du mercredi")
    month = dt.date.today().replace(day=1)
    box = None
    for _ in range(3):
        page.goto(f"{platform.base_url}/reservations/services/{service_id}?mois={month:%Y-%m}")
        boxes = page.locator("section.reservations-child").first.locator("input[name=ligne][value$='|book']")
        if boxes.count():
            box = boxes.first
            break
        month = (month + dt.timedelta(days=32)).replace(day=1)
    assert box is not None, "a bookable Wednesday within three months"
    a11y(page)
    box.check()
    with page.expect_navigation():
        page.get_by_role("button", name="Ajouter au panier").click()
    result = _validate(page, a11y)
    assert "En attente de paiement (1)" in result
    assert "Étape suivante : paiement en ligne" in result
    page.goto(f"{platform.base_url}/reservations/panier")
    a11y(page)
    cart = page.locator("main").inner_text()
    # Billing answers the held cart on its own (a payment to make, or a failure when the commune
    # has no price for it): the cart page says which, in words.
    if "État du panier : En attente de paiement" in cart:
        assert "Étape suivante : paiement en ligne" in cart
        assert page.get_by_role("button", name="Valider le panier").count() == 0
    else:
        assert "État du panier : Paiement non effectué" in cart and "Le paiement n'a pas été fait" in cart
        assert page.get_by_role("button", name="Valider le panier").count() == 1
