"""The parents' booking pages (Mes réservations) against a fake of booking's parent API
(reservations_fakebooking.py: same paths and shapes, tenancy by the service token)."""
from __future__ import annotations

import datetime as dt
import os
import re
import secrets

import pytest

from flask import Flask, request

from helpers import closed_port, gateway_app, serve
from servicekit import tokens
from pageflows import browser_pages, csrf_token, login_target, serious_violations, sign_in, text
from reservations_fakebooking import (ALSH, CANTINE, FAMILY, HUGO, LEA, MERCREDI, OTHER_CHILD, REPAS, FakeBooking,
                                      make_app)

SECRET = "reservations-pages-secret-" + secrets.token_hex(8)
PARENT = {"sub": "parent-1", "email": "camille@example.org", "name": "Camille Martin", "family_id": FAMILY,
          "communes": [{"slug": "heillecourt", "name": "Heillecourt"}], "agent_of": [], "platform_role": "parent"}
# A month in the future of the fake's deadlines: every opening date is bookable unless set.
MONTH = "2027-03"
MONDAY = "2027-03-08"


@pytest.fixture(scope="module")
def fake():
    return FakeBooking(SECRET)


class FakePrices:
    """billing's GET /internal/parent/prices: the family's price per price reference (or down)."""

    def __init__(self):
        self.prices = {"CANTINE-REPAS": 350, "ALSH-JOURNEE": 1275}
        self.down = False
        self.calls: list[tuple[tokens.Caller, list[tuple[str, str]]]] = []


@pytest.fixture(scope="module")
def prices():
    return FakePrices()


def prices_app(prices: FakePrices) -> Flask:
    app = Flask("fakeprices")

    @app.get("/internal/parent/prices")
    def family_prices():
        caller = tokens.verify(request.headers["Authorization"].removeprefix("Bearer "), "billing", SECRET)
        prices.calls.append((caller, list(request.args.items(multi=True))))
        if prices.down:
            return {"detail": "indisponible"}, 503
        refs = request.args.getlist("price_ref")
        return {"commune": request.args["commune"], "qf_known": True,
                "prices": [{"price_ref": r, "label": r, "price_cents": c} for r, c in prices.prices.items() if r in refs]}

    return app


@pytest.fixture(scope="module")
def app(fake, prices, tmp_path_factory):
    var = tmp_path_factory.mktemp("gateway-reservations")
    with serve(make_app(fake)) as booking_url, serve(prices_app(prices)) as billing_url, \
            gateway_app(var, BOOKING_URL=booking_url, BILLING_URL=billing_url, SERVICE_TOKEN_SECRET=SECRET,
                        PUBLIC_URL="https://famille.example.org") as application:
        yield application


@pytest.fixture
def client(app, fake, prices, monkeypatch):
    fake.__init__(SECRET)  # a fresh family state for each test
    prices.__init__()
    # Dates of this year are written without the year: the pages' "today" is fixed.
    monkeypatch.setattr("gateway.web.reservations.today", lambda: dt.date(2027, 2, 20))
    with app.test_client() as c:
        sign_in(c, PARENT)
        yield c


def calendar_url(service=CANTINE, month=MONTH, children=(LEA,)):
    kids = "".join(f"&enfant={c}" for c in children)
    return f"/reservations/services/{service}?mois={month}{kids}"


def post(client, page: str, action: str, data: dict):
    return client.post(action, data={"csrf_token": csrf_token(client, page), **data})


def plain(html: str) -> str:
    """The page's words, tags removed and spaces collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def summary(html: str) -> str:
    match = re.search(r'<div class="error-summary".*?</div>', html, re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(0))) if match else ""


def day_block(html: str, iso: str, index: int = 1) -> str:
    """The calendar cell of one date (first child, first prestation unless told)."""
    match = re.search(rf'<li class="reservations-day[^"]*"[^>]*>\s*(?:(?!</li>).)*?d-{index}-1-{iso}(?:(?!</li>).)*</li>',
                      html, re.S)
    if match:
        return match.group(0)
    cells = re.findall(r'<li class="reservations-day.*?</li>', html, re.S)
    day = dt.date.fromisoformat(iso)
    from gateway.web.reservations_view import day_long
    found = [c for c in cells if day_long(day, dt.date(day.year, 1, 1)) in c]
    assert found, f"no cell for {iso}"
    return found[index - 1]


# --- access -----------------------------------------------------------------------------------
def test_signed_out_visitors_are_sent_to_sign_in(app):
    with app.test_client() as anonymous:
        for url in ("/reservations", calendar_url(), "/reservations/panier", "/reservations/agenda",
                    f"/reservations/services/{CANTINE}/periode"):
            assert login_target(anonymous.get(url)) == url.rstrip("?")


def test_an_account_without_family_gets_a_french_page(app):
    with app.test_client() as c:
        sign_in(c, {**PARENT, "family_id": None})
        resp = c.get("/reservations")
        assert resp.status_code == 404 and "Vous n'avez pas encore d'espace famille" in text(resp)


def test_navigation_shows_mes_reservations(client):
    html = text(client.get("/reservations"))
    assert '<a href="/reservations" aria-current="page">Mes réservations</a>' in html


# --- choose a service, then children ----------------------------------------------------------
def test_index_lists_services_with_enrolled_children_and_the_cart(client, fake):
    html = text(client.get("/reservations"))
    assert "Restauration scolaire" in html and "Accueil de loisirs du mercredi" in html
    assert "Repas" in html and "Facturé en fin de mois" in html and "Payé à la réservation" in html
    # Both children for the canteen, only Léa for Wednesdays; another family's child never.
    canteen = html.split("Restauration scolaire", 1)[1].split("Accueil de loisirs", 1)[0]
    assert f'value="{LEA}"' in canteen and f'value="{HUGO}"' in canteen
    wednesday = html.split("Accueil de loisirs du mercredi", 2)[-1]
    assert f'value="{HUGO}"' not in wednesday and f'value="{LEA}"' in wednesday
    assert "Zoé" not in html
    assert "Votre panier est vide." in html
    fake.cart["lines"] = [{"child_id": LEA, "prestation_id": REPAS, "session_date": MONDAY, "action": "book"}]
    assert "Votre panier contient 1 date à valider" in plain(text(client.get("/reservations")))


# --- the month calendar -------------------------------------------------------------------------
def test_calendar_shows_each_state_in_words_with_icon_and_deadline(client, fake):
    fake.states.update({(LEA, REPAS, "2027-03-09"): "booked", (LEA, REPAS, "2027-03-11"): "waiting_list",
                        (LEA, REPAS, "2027-03-12"): "full", (LEA, REPAS, "2027-03-01"): "present",
                        (LEA, REPAS, "2027-03-02"): "absent_justified", (LEA, REPAS, "2027-03-04"): "absent_unjustified",
                        (LEA, REPAS, "2027-03-05"): "past_deadline", (LEA, REPAS, "2027-03-15"): "cancelled"})
    fake.closures["2027-03-16"] = "public_holiday"
    resp = client.get(calendar_url())
    html = text(resp)
    assert resp.status_code == 200
    assert "<h1>Restauration scolaire" in html and "mars 2027" in html
    assert "<h2 id=\"enfant-1\">Léa Martin</h2>" in html
    # Bookable: the deadline in words (the fake's deadline is the day before at 08:00 UTC = 9 h in Paris).
    assert "Réservable jusqu'au dimanche 7 mars à 9 h" in day_block(html, MONDAY)
    cells = {iso: day_block(html, iso) for iso in ("2027-03-09", "2027-03-11", "2027-03-12", "2027-03-01",
                                                   "2027-03-02", "2027-03-04", "2027-03-05", "2027-03-15",
                                                   "2027-03-16")}
    assert "Réservé" in cells["2027-03-09"] and "Annulable jusqu'au lundi 8 mars à 9 h" in cells["2027-03-09"]
    assert "Annuler cette date" in cells["2027-03-09"]
    assert "Sur liste d'attente" in cells["2027-03-11"]
    assert "Complet" in cells["2027-03-12"] and "Liste d'attente" in cells["2027-03-12"]
    assert "Présent" in cells["2027-03-01"] and 'name="ligne"' not in cells["2027-03-01"]
    assert "Absent (absence justifiée)" in cells["2027-03-02"]
    assert "Absent (absence non justifiée)" in cells["2027-03-04"]
    assert "Délai dépassé" in cells["2027-03-05"] and 'name="ligne"' not in cells["2027-03-05"]
    assert "Annulé" in cells["2027-03-15"]
    assert "Fermé : Jour férié" in cells["2027-03-16"]
    # Every state has an icon beside its words (never colour alone).
    for cell in cells.values():
        assert re.search(r'<span class="reservations-icon" aria-hidden="true">[^<]+</span>', cell)
    # Wednesdays (no canteen) are left out, with one sentence saying so; the family's price is shown.
    assert "Pas d'accueil le mercredi, le samedi et le dimanche" in html
    assert "mercredi 10 mars" not in html
    assert "Facturé en fin de mois · 3,50 € la séance · de 11 h 45 à 13 h 30" in plain(html)
    assert "CANTINE-REPAS" not in html  # a code means nothing to parents


def test_calendar_checkboxes_have_labels_naming_date_prestation_and_child(client):
    html = text(client.get(calendar_url()))
    box = re.search(rf'<input type="checkbox" name="ligne" value="{LEA}\|{REPAS}\|{MONDAY}\|book" id="([^"]+)">', html)
    assert box, "a bookable date has a checkbox"
    label = re.search(rf'<label for="{box.group(1)}">(.*?)</label>', html, re.S).group(1)
    assert "Réserver" in label and "lundi 8 mars" in label and "Repas" in label and "Léa" in label
    assert 'aria-live="polite"' in html and "Ajouter au panier" in html


def test_calendar_month_navigation(client):
    html = text(client.get(calendar_url()))
    assert "mois=2027-02" in html and "février 2027" in html
    assert "mois=2027-04" in html and "avril 2027" in html
    # A malformed month falls back to the current month rather than failing.
    assert client.get(f"/reservations/services/{CANTINE}?mois=pas-un-mois&enfant={LEA}").status_code == 200


def test_calendar_of_both_children_one_after_the_other(client):
    html = text(client.get(calendar_url(children=(LEA, HUGO))))
    assert "Léa Martin" in html and "Hugo Martin" in html
    assert html.index("Léa Martin</h2>") < html.index("Hugo Martin</h2>")
    assert f"{HUGO}|{REPAS}|{MONDAY}|book" in html


def test_calendar_of_another_familys_child_is_refused(client):
    resp = client.get(calendar_url(children=(OTHER_CHILD,)))
    assert resp.status_code == 404 and "Zoé" not in text(resp)
    assert client.get("/reservations/services/inconnu").status_code == 404


def test_a_month_booking_refuses_is_said_on_the_page(client):
    resp = client.get(calendar_url(month="2031-01"))
    assert resp.status_code == 200
    assert "Léa Martin : Ce mois est en dehors du calendrier de la commune." in summary(text(resp))


def test_ticked_dates_go_to_the_cart_and_show_in_the_calendar(client, fake):
    fake.states[(LEA, REPAS, "2027-03-09")] = "booked"
    resp = post(client, calendar_url(), f"/reservations/services/{CANTINE}/panier",
                {"mois": MONTH, "enfant": LEA,
                 "ligne": [f"{LEA}|{REPAS}|{MONDAY}|book", f"{LEA}|{REPAS}|2027-03-09|cancel"]})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(calendar_url().split("?", 1)[1].replace(
        f"mois={MONTH}&enfant={LEA}", f"enfant={LEA}&mois={MONTH}"))
    assert [(l["session_date"], l["action"]) for l in fake.cart["lines"]] == [(MONDAY, "book"), ("2027-03-09", "cancel")]
    html = text(client.get(calendar_url()))
    assert "1 réservation et 1 annulation ajoutées à votre panier" in html
    assert "Dans le panier : réservation" in day_block(html, MONDAY)
    assert "Dans le panier : annulation" in day_block(html, "2027-03-09")
    assert "Voir le panier (2 dates)" in html


def test_adding_nothing_or_a_refused_line_is_explained(client, fake):
    resp = post(client, calendar_url(), f"/reservations/services/{CANTINE}/panier", {"mois": MONTH, "enfant": LEA})
    assert resp.status_code == 422 and "Cochez au moins une date" in summary(text(resp))
    fake.cart["state"] = "awaiting_payment"
    resp = post(client, calendar_url(), f"/reservations/services/{CANTINE}/panier",
                {"mois": MONTH, "enfant": LEA, "ligne": f"{LEA}|{REPAS}|{MONDAY}|book"})
    assert resp.status_code == 409 and "Votre panier attend son paiement" in summary(text(resp))
    # While the cart awaits payment the calendar offers no checkbox.
    assert 'name="ligne"' not in text(client.get(calendar_url()))


def test_a_line_for_another_familys_child_is_refused(client, fake):
    resp = post(client, calendar_url(), f"/reservations/services/{CANTINE}/panier",
                {"mois": MONTH, "enfant": LEA, "ligne": f"{OTHER_CHILD}|{REPAS}|{MONDAY}|book"})
    assert resp.status_code == 404 and fake.cart["lines"] == []


def test_forged_checkbox_values_are_ignored(client, fake):
    resp = post(client, calendar_url(), f"/reservations/services/{CANTINE}/panier",
                {"mois": MONTH, "enfant": LEA, "ligne": ["a|b", f"{LEA}|{REPAS}|pas-une-date|book",
                                                        f"{LEA}|{REPAS}|{MONDAY}|voler"]})
    assert resp.status_code == 422 and fake.cart["lines"] == []


# --- period view --------------------------------------------------------------------------------
def test_period_form_validates_every_field_in_french(client):
    resp = client.get(f"/reservations/services/{CANTINE}/periode?voir=1&debut=2027-03-20&fin=2027-03-01")
    html = text(resp)
    assert resp.status_code == 422
    for message in ("Choisissez au moins un enfant.", "Choisissez une prestation.",
                    "Choisissez au moins un jour de la semaine.", "La date de fin doit être après la date de début."):
        assert message in summary(html)
    assert 'id="jours-erreur"' in html and 'href="#jours"' in html and 'id="fin-erreur"' in html
    long = client.get(f"/reservations/services/{CANTINE}/periode?voir=1&enfant={LEA}&prestation={REPAS}&jour=0"
                      "&debut=2026-09-01&fin=2027-12-01")
    assert "Choisissez une période d'au plus un an." in text(long)
    bad = client.get(f"/reservations/services/{CANTINE}/periode?voir=1&enfant={LEA}&prestation={REPAS}&jour=0"
                     "&debut=demain&fin=")
    assert "Indiquez la date de début" in text(bad) and "Indiquez la date de fin" in text(bad)


def test_period_preview_then_add_for_two_children(client, fake):
    fake.closures["2027-03-16"] = "public_holiday"
    query = (f"voir=1&enfant={LEA}&enfant={HUGO}&prestation={REPAS}&jour=0&jour=1"
             "&debut=08/03/2027&fin=2027-03-19&action=book")
    html = text(client.get(f"/reservations/services/{CANTINE}/periode?{query}"))
    assert "Aperçu : 6 dates à réserver" in html
    assert "Léa Martin : 3 dates" in html and "Hugo Martin : 3 dates" in html
    assert "<strong>Mars 2027</strong> : lundi 8, mardi 9, lundi 15" in html
    assert "1 date écartée, avec la raison" in html and "Jour férié" in html and "mardi 16 mars" in html
    assert 'value="2027-03-08"' in html  # dd/mm/yyyy shown back as an ISO date input
    assert fake.cart["lines"] == []  # a preview adds nothing

    page = f"/reservations/services/{CANTINE}/periode?{query}"
    resp = post(client, page, f"/reservations/services/{CANTINE}/periode",
                {"enfant": [LEA, HUGO], "prestation": REPAS, "jour": ["0", "1"], "debut": "2027-03-08",
                 "fin": "2027-03-19", "action": "book"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/reservations/panier")
    assert len(fake.cart["lines"]) == 6
    assert {l["child_id"] for l in fake.cart["lines"]} == {LEA, HUGO}
    adds = [c for c in fake.calls if c[1] == "/internal/parent/cart/lines"]
    assert len(adds) == 1  # both children's dates in one call: all or nothing


def test_period_cancellation_and_too_many_dates(client, fake, monkeypatch):
    query = f"voir=1&enfant={LEA}&prestation={REPAS}&jour=0&debut=2027-03-01&fin=2027-03-31&action=cancel"
    html = text(client.get(f"/reservations/services/{CANTINE}/periode?{query}"))
    assert "Aperçu : 5 dates à annuler" in html and 'id="action-cancel" name="action" value="cancel" checked' in html
    form = {"enfant": LEA, "prestation": REPAS, "jour": "0", "debut": "2027-03-01", "fin": "2027-03-31",
            "action": "cancel"}
    resp = post(client, f"/reservations/services/{CANTINE}/periode?{query}", f"/reservations/services/{CANTINE}/periode", form)
    assert resp.status_code == 302 and {l["action"] for l in fake.cart["lines"]} == {"cancel"}
    assert "5 annulations ajoutées à votre panier" in text(client.get("/reservations/panier"))

    # More dates than one request to booking may carry: refused whole, never cut short.
    monkeypatch.setattr("gateway.web.reservations.MAX_LINES", 10)
    big = {"enfant": [LEA, HUGO], "prestation": REPAS, "jour": ["0", "1", "3", "4"], "debut": "2027-04-01",
           "fin": "2027-04-30", "action": "book"}
    resp = post(client, "/reservations/panier", f"/reservations/services/{CANTINE}/periode", big)
    assert resp.status_code == 422 and "plus de 10 dates à la fois" in summary(text(resp))
    assert len(fake.cart["lines"]) == 5


def test_period_for_a_child_not_enrolled_is_not_offered(client):
    html = text(client.get(f"/reservations/services/{ALSH}/periode"))
    assert f'value="{LEA}"' in html and f'value="{HUGO}"' not in html
    resp = client.get(f"/reservations/services/{ALSH}/periode?voir=1&enfant={HUGO}&prestation={MERCREDI}&jour=2"
                      "&debut=2027-03-01&fin=2027-03-31")
    assert resp.status_code == 422 and "Choisissez au moins un enfant." in summary(text(resp))


def test_period_refused_by_booking_is_said_on_the_page(client, fake):
    fake.refuse["/internal/parent/period-preview"] = (422, "La fin de la période précède son début")
    resp = client.get(f"/reservations/services/{CANTINE}/periode?voir=1&enfant={LEA}&prestation={REPAS}&jour=0"
                      "&debut=2027-03-01&fin=2027-03-31")
    assert resp.status_code == 422 and "La fin de la période précède son début" in summary(text(resp))


# --- cart, validation, result -----------------------------------------------------------------
def _fill_cart(fake):
    fake.cart.update(id="cart-1", lines=[
        {"child_id": LEA, "prestation_id": REPAS, "session_date": MONDAY, "action": "book"},
        {"child_id": LEA, "prestation_id": REPAS, "session_date": "2027-03-09", "action": "cancel"},
        {"child_id": HUGO, "prestation_id": REPAS, "session_date": MONDAY, "action": "book"},
        {"child_id": LEA, "prestation_id": MERCREDI, "session_date": "2027-03-10", "action": "book"},
        {"child_id": HUGO, "prestation_id": REPAS, "session_date": "2027-03-11", "action": "book"},
    ])


def test_cart_groups_lines_by_child_and_prestation_and_removes_one(client, fake):
    _fill_cart(fake)
    html = text(client.get("/reservations/panier"))
    headings = re.findall(r'<h2 id="groupe-\d+">(.*?)</h2>', html, re.S)
    headings = [re.sub(r"<[^>]+>", " ", h).split() for h in headings]
    assert [" ".join(h) for h in headings] == ["Hugo Martin Repas", "Léa Martin Journée (avec repas)", "Léa Martin Repas"]
    assert "Annulation</strong> — mardi 9 mars" in html and "Réservation</strong> — lundi 8 mars" in html
    assert 'name="idempotency_key"' in html and "Valider le panier" in html

    resp = post(client, "/reservations/panier", "/reservations/panier/retirer",
                {"ligne": f"{HUGO}|{REPAS}|2027-03-11|book"})
    assert resp.status_code == 302
    assert len(fake.cart["lines"]) == 4
    assert "La ligne est retirée du panier." in text(client.get("/reservations/panier"))
    bad = post(client, "/reservations/panier", "/reservations/panier/retirer", {"ligne": "n'importe quoi"})
    assert bad.status_code == 400 and "Cette ligne du panier est introuvable." in summary(text(bad))


def test_empty_cart(client):
    html = text(client.get("/reservations/panier"))
    assert "Votre panier est vide." in html and "Valider le panier" not in html


def _validate(client, key: str | None = None):
    page = text(client.get("/reservations/panier"))
    key = key or re.search(r'name="idempotency_key" value="([^"]+)"', page).group(1)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return client.post("/reservations/panier/valider", data={"csrf_token": token, "idempotency_key": key}), key


def test_validate_shows_each_outcome_and_the_payment_step(client, fake):
    _fill_cart(fake)
    fake.outcomes.update({
        (LEA, MERCREDI, "2027-03-10"): ("held", None),
        (LEA, REPAS, "2027-03-09"): ("cancellation_requested", None),
        (HUGO, REPAS, "2027-03-11"): ("refused", "full"),
        (HUGO, REPAS, MONDAY): ("waiting_listed", None),
    })
    resp, key = _validate(client)
    html = text(resp)
    assert resp.status_code == 200
    assert "Votre panier est validé" in html
    assert "Réservations confirmées (1)" in html
    assert "En attente de paiement (1)" in html
    assert "Sur liste d'attente (1)" in html
    assert "Annulations transmises au service (1)" in html
    assert "Refusées (1)" in html and "Refusé : Complet" in html
    # The cart's payment is billing's page ("Mes factures"), linked from the payment step.
    assert "Étape suivante : paiement en ligne" in html
    assert '<a class="button button-large" href="/factures/paniers/cart-1/paiement">Payer en ligne</a>' in html
    assert "jusqu'au mardi 1er décembre 2026 à 16 h 20" in plain(html)  # hold expiry in Paris time
    sent = [c for c in fake.calls if c[1] == "/internal/parent/cart/validate"]
    assert sent[-1][2] == key  # the form's Idempotency-Key went to booking


def test_validating_twice_with_the_same_form_books_once(client, fake):
    _fill_cart(fake)
    first, key = _validate(client)
    again, _ = _validate(client, key)
    assert fake.validations == 1
    assert "Réservations confirmées (5)" in text(first) and "Réservations confirmées (5)" in text(again)


def test_cart_awaiting_payment_shows_the_payment_step_without_changes(client, fake):
    _fill_cart(fake)
    fake.outcomes[(LEA, MERCREDI, "2027-03-10")] = ("held", None)
    _validate(client)
    html = text(client.get("/reservations/panier"))
    assert "État du panier : <strong>En attente de paiement</strong>" in html
    assert "Étape suivante : paiement en ligne" in html
    assert "Retirer" not in html and "Valider le panier</button>" not in html


def test_failed_payment_brings_the_dates_back_without_stale_outcomes(client, fake):
    _fill_cart(fake)
    for line in fake.cart["lines"]:
        line.update(outcome="held", reason=None)
    fake.cart["state"] = "failed"
    html = text(client.get("/reservations/panier"))
    assert "État du panier : <strong>Paiement non effectué</strong>" in html
    assert "Le paiement n'a pas été fait : les places gardées pour vous ont été libérées" in html
    assert "Place réservée, en attente de paiement" not in html  # the failed hold is not shown as current
    assert "Valider le panier</button>" in html and "Retirer" in html
    assert "Dans le panier : réservation" in day_block(text(client.get(calendar_url())), MONDAY)


def test_all_refused_cart_stays_open_with_reasons(client, fake):
    fake.cart.update(id="cart-1", lines=[{"child_id": LEA, "prestation_id": REPAS, "session_date": MONDAY,
                                          "action": "book"}])
    fake.outcomes[(LEA, REPAS, MONDAY)] = ("refused", "booking_deadline_passed")
    resp, _ = _validate(client)
    html = text(resp)
    assert resp.status_code == 422
    assert "Aucune ligne du panier n'a pu être enregistrée" in summary(html)
    assert "Refusé : Le délai de réservation est dépassé" in html


def test_validating_an_empty_cart_is_explained(client):
    resp, _ = _validate(client, "k" * 20)
    assert resp.status_code == 422 and "Le panier est vide." in summary(text(resp))


def test_booking_down_is_a_french_503_page(app, monkeypatch):
    with app.test_client() as c:
        sign_in(c, PARENT)
        monkeypatch.setattr(app.config["SERVICE_SETTINGS"], "booking_url", f"http://127.0.0.1:{closed_port()}")
        for url in ("/reservations", calendar_url(), "/reservations/panier", "/reservations/agenda"):
            resp = c.get(url)
            assert resp.status_code == 503 and "momentanément indisponible" in text(resp)


# --- iCal feeds ---------------------------------------------------------------------------------
def test_feed_created_once_shown_then_served_and_revoked(client, fake, app):
    html = text(client.get("/reservations/agenda"))
    assert "Léa Martin" in html and "Hugo Martin" in html and "Pas de lien" in html
    resp = post(client, "/reservations/agenda", f"/reservations/agenda/{LEA}", {})
    html = text(resp)
    token = fake.feeds[LEA]
    url = f"https://famille.example.org/calendrier/{token}.ics"
    assert resp.status_code == 200 and f'readonly rows="3" class="reservations-copy-source" spellcheck="false">{url}</textarea>' in html
    assert f'href="webcal://famille.example.org/calendrier/{token}.ics"' in html
    assert "Sur un iPhone" in html and "Android" in html and "Copier le lien" in html
    # The URL is shown once: the list afterwards says the link is active, without it.
    html = text(client.get("/reservations/agenda"))
    assert "Lien actif" in html and token not in html

    with app.test_client() as anonymous:
        feed = anonymous.get(f"/calendrier/{token}.ics")
        assert feed.status_code == 200 and feed.mimetype == "text/calendar"
        assert b"BEGIN:VCALENDAR" in feed.data
        assert anonymous.get("/calendrier/court.ics").status_code == 404
        assert anonymous.get(f"/calendrier/{'x' * 30}.ics").status_code == 404

    resp = post(client, "/reservations/agenda", f"/reservations/agenda/{LEA}/revoquer", {})
    assert resp.status_code == 302 and LEA not in fake.feeds
    with app.test_client() as anonymous:
        assert anonymous.get(f"/calendrier/{token}.ics").status_code == 404


def test_feed_of_another_familys_child_is_refused(client, fake):
    resp = post(client, "/reservations/agenda", f"/reservations/agenda/{OTHER_CHILD}", {})
    assert resp.status_code == 404 and OTHER_CHILD not in fake.feeds


def test_closed_weeks_in_a_row_are_one_line(client, fake):
    for n in range(14):
        fake.closures[(dt.date(2027, 3, 15) + dt.timedelta(days=n)).isoformat()] = "school_holiday"
    html = text(client.get(calendar_url()))
    assert "Du lundi 15 mars au dimanche 28 mars" in html
    assert html.count("Fermé : Vacances scolaires") == 1
    assert "mardi 16 mars" not in plain(html)


def test_deadlines_in_words():
    from gateway.web.reservations_view import hour, until

    today = dt.date(2026, 9, 1)
    assert until("2026-09-08T08:00:00+00:00", today) == "jusqu'au mardi 8 septembre à 10 h"
    assert until("2026-10-27T17:30:00+00:00", today) == "jusqu'au mardi 27 octobre à 18 h 30"  # winter time
    # A midnight deadline is the whole previous day.
    assert until("2026-12-05T23:00:00+00:00", today) == "jusqu'au samedi 5 décembre inclus"
    assert until("2027-01-01T10:00:00+01:00", today) == "jusqu'au vendredi 1er janvier 2027 à 10 h"
    assert until(None, today) == "" and hour("07:30") == "7 h 30" and hour("12:00") == "12 h"


def test_wednesday_only_calendar_says_so(client):
    html = text(client.get(calendar_url(service=ALSH)))
    assert "Accueil le mercredi seulement : les autres jours ne sont pas affichés." in html
    assert "Payé à la réservation" in html and f"{LEA}|{MERCREDI}|2027-03-10|book" in html


# --- prices (billing) ----------------------------------------------------------------------------
def test_each_bookable_date_shows_its_deadline_and_the_familys_price(client, fake, prices):
    fake.states.update({(LEA, REPAS, "2027-03-09"): "booked", (LEA, REPAS, "2027-03-12"): "full",
                        (LEA, REPAS, "2027-03-05"): "past_deadline"})
    html = text(client.get(calendar_url()))
    bookable = plain(day_block(html, MONDAY))
    assert "Réservable jusqu'au dimanche 7 mars à 9 h" in bookable and "Tarif : 3,50 €" in bookable
    assert "Tarif : 3,50 €" in plain(day_block(html, "2027-03-12"))  # full: a waiting list at that price
    for iso in ("2027-03-09", "2027-03-05"):  # booked or past its deadline: nothing to book, no price
        assert "€" not in day_block(html, iso)
    # Asked once per page, as the parent, with the service's commune and its prestations' references.
    [(caller, args)] = prices.calls
    assert caller.role == "parent" and caller.family_id == FAMILY
    assert ("commune", "heillecourt") in args and ("price_ref", "CANTINE-REPAS") in args
    assert ("price_ref", "ALSH-JOURNEE") not in args  # another service's prestation


def test_prices_in_french_format_on_the_wednesday_calendar_and_the_period_view(client, prices):
    html = plain(text(client.get(calendar_url(ALSH, children=(LEA,)))))
    assert "Tarif : 12,75 €" in html
    html = plain(text(client.get(f"/reservations/services/{CANTINE}/periode")))
    assert "(Facturé en fin de mois, 3,50 € la séance)" in html


def test_without_billing_the_calendar_shows_no_price_and_no_reference(client, prices):
    prices.down = True
    resp = client.get(calendar_url())
    html = text(resp)
    assert resp.status_code == 200 and "Réservable jusqu'au dimanche 7 mars à 9 h" in day_block(html, MONDAY)
    assert "€" not in html.split("<h1>", 1)[1].split("Voir le panier")[0] and "CANTINE-REPAS" not in html
    assert "la séance" not in text(client.get(f"/reservations/services/{CANTINE}/periode"))
    prices.down, prices.prices = False, {}  # billing has no grid for the reference: nothing either
    assert "€" not in day_block(text(client.get(calendar_url())), MONDAY)


def test_billing_unreachable_is_no_price_either(client, monkeypatch):
    import requests

    from gateway import clients

    closed = clients.ServiceClient("billing", f"http://127.0.0.1:{closed_port()}", SECRET, requests.Session())
    monkeypatch.setattr("gateway.web.reservations_prices.clients.billing", lambda: closed)
    resp = client.get(calendar_url())
    assert resp.status_code == 200 and "€" not in day_block(text(resp), MONDAY)


CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")
def test_calendar_with_prices_has_no_serious_axe_violation_at_360_and_1280_px(app, client, fake, tmp_path):
    fake.states.update({(LEA, REPAS, "2027-03-09"): "booked", (LEA, REPAS, "2027-03-12"): "full"})
    shots = os.environ.get("EF_SCREENSHOTS_DIR") or str(tmp_path)
    for width, page, url in browser_pages(app, client.get_cookie("ef_session").value):
        for name, path in (("calendrier", calendar_url()), ("periode", f"/reservations/services/{CANTINE}/periode")):
            page.goto(url + path)
            assert not serious_violations(page), f"{path} at {width} px"
            assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{path} at {width} px"
            page.screenshot(path=os.path.join(shots, f"{name}-{width}.png"), full_page=True)
