"""The agents' booking desk: cancellation requests, waiting lists, deadline overrides, the bookings
of a period, the audit trail and the CSV exports (same fake booking as the other agent pages)."""
from __future__ import annotations

import csv
import io

from agent_reservations_fakebooking import CANTINE, FAMILY, FAMILY2, LEA, REPAS, SOIR
from pageflows import sign_in, text
from test_agent_reservations_pages import (BASE, LUDRES_AGENT, app, client, fake, field_error,  # noqa: F401
                                           flashes, plain, post, summary)


# --- cancellation requests -------------------------------------------------------------------------------
def test_cancellation_requests_show_the_rule_and_accept_with_a_refund_choice(client, fake):
    fake.bookings["b-lea-pending"]["status"] = "cancellation_requested"  # a prepaid evening
    html = text(client.get(BASE + "/annulations"))
    page = plain(html)
    assert "2 demandes en attente" in page and "Hugo Martin" in page and "Jules" not in page
    assert "Facturé en fin de mois : la date ne sera pas facturée" in page
    assert "Payé à la réservation : avoir sur la prochaine facture" in page
    # A refund choice only where something was paid.
    assert 'id="refund-b-lea-pending"' in html and 'id="refund-b-hugo"' not in html
    resp = post(client, BASE + "/annulations", f"{BASE}/annulations/b-lea-pending",
                {"decision": "accept", "refund": "refund"})
    assert resp.status_code == 302 and fake.bookings["b-lea-pending"]["status"] == "cancelled"
    assert [b for m, p, b in fake.bodies if p.endswith("b-lea-pending/decision")][-1] == {"decision": "accept",
                                                                                          "refund": "refund"}
    assert any(m.startswith("Annulation acceptée : Léa Martin, Accueil du soir du jeudi 11 mars 2027")
               for m in flashes(client))
    resp = post(client, BASE + "/annulations", f"{BASE}/annulations/b-hugo", {"decision": "accept"})
    assert resp.status_code == 302 and fake.bookings["b-hugo"]["status"] == "cancelled"
    assert [b for m, p, b in fake.bodies if p.endswith("b-hugo/decision")][-1] == {"decision": "accept"}
    # Decided already: booking's 409 shown on the page.
    resp = post(client, BASE + "/annulations", f"{BASE}/annulations/b-hugo", {"decision": "accept"})
    assert resp.status_code == 409 and "Aucune demande d'annulation" in summary(text(resp))


def test_refusing_needs_a_message_shown_next_to_that_row(client, fake):
    resp = post(client, BASE + "/annulations", f"{BASE}/annulations/b-hugo", {"decision": "refuse", "message": " "})
    html = text(resp)
    assert resp.status_code == 422
    assert field_error(html, "message-b-hugo") == "Expliquez le refus à la famille : ce message lui est transmis."
    assert 'href="#message-b-hugo"' in html and fake.bookings["b-hugo"]["status"] == "cancellation_requested"
    resp = post(client, BASE + "/annulations", f"{BASE}/annulations/b-hugo",
                {"decision": "refuse", "message": "Le certificat médical manque."})
    assert resp.status_code == 302 and fake.bookings["b-hugo"]["status"] == "confirmed"
    assert fake.audit[0]["details"]["message"] == "Le certificat médical manque."
    resp = post(client, BASE + "/annulations", f"{BASE}/annulations/b-hugo", {"decision": "peut-être"})
    assert resp.status_code == 400


def test_bulk_accept_reports_each_outcome(client, fake):
    fake.bookings["b-lea"]["status"] = "cancellation_requested"
    resp = post(client, BASE + "/annulations", BASE + "/annulations/selection",
                {"booking": ["b-hugo", "b-lea", "b-ludres"]})
    assert resp.status_code == 302
    assert fake.bookings["b-hugo"]["status"] == fake.bookings["b-lea"]["status"] == "cancelled"
    assert fake.bookings["b-ludres"]["status"] == "cancellation_requested"  # another commune's: untouched
    messages = flashes(client)
    assert any("2 annulations acceptées" in m for m in messages)
    assert any("Non traitée : Cette réservation est introuvable." in m for m in messages)
    resp = post(client, BASE + "/annulations", BASE + "/annulations/selection", {})
    assert resp.status_code == 422 and "Cochez au moins une demande" in summary(text(resp))


# --- waiting lists ----------------------------------------------------------------------------------------
def test_waiting_list_confirm_decline_and_filters(client, fake):
    page = plain(text(client.get(BASE + "/listes-attente")))
    assert "Zoé Durand" in page and "En attente (rang 1)" in page and "Place à confirmer" in page
    filtered = plain(text(client.get(f"{BASE}/listes-attente?prestation={REPAS}")))
    assert "Aucun enfant en liste d'attente pour ces critères" in filtered
    resp = post(client, BASE + "/listes-attente", f"{BASE}/listes-attente/b-lea-pending", {"decision": "confirm"})
    assert resp.status_code == 302 and fake.bookings["b-lea-pending"]["status"] == "confirmed"
    assert any("Place confirmée (la famille est prévenue) : Léa Martin" in m for m in flashes(client))
    resp = post(client, BASE + "/listes-attente", f"{BASE}/listes-attente/b-zoe-wait", {"decision": "confirm"})
    assert resp.status_code == 302 and fake.bookings["b-zoe-wait"]["status"] == "waiting"
    assert any("Aucune place n'attend de confirmation" in m for m in flashes(client))


def test_waiting_list_bulk_confirm(client, fake):
    resp = post(client, BASE + "/listes-attente", BASE + "/listes-attente/selection", {"booking": ["b-lea-pending"]})
    assert resp.status_code == 302 and fake.bookings["b-lea-pending"]["status"] == "confirmed"
    assert any("1 place confirmée" in m for m in flashes(client))


# --- deadline overrides -------------------------------------------------------------------------------------
def test_override_for_one_family_with_a_reason(client, fake):
    page = text(client.get(BASE + "/derogations?q=martin"))
    assert "Famille de Hugo Martin, Léa Martin" in plain(page)
    resp = post(client, BASE + "/derogations?q=martin", BASE + "/derogations",
                {"family_id": FAMILY, "prestation_id": REPAS, "session_date": "2027-03-10", "reason": "", "q": "martin"})
    html = text(resp)
    assert resp.status_code == 422 and "motif" in field_error(html, "reason") and "motif" in summary(html)
    resp = post(client, BASE + "/derogations?q=martin", BASE + "/derogations",
                {"family_id": FAMILY, "prestation_id": REPAS, "session_date": "2027-03-10",
                 "reason": "Rendez-vous médical imprévu"})
    assert resp.status_code == 302
    assert fake.overrides[0]["family_id"] == FAMILY and fake.overrides[0]["reason"] == "Rendez-vous médical imprévu"
    page = plain(text(client.get(BASE + "/derogations")))
    assert "mercredi 10 mars 2027" in page and "Rendez-vous médical imprévu" in page
    again = post(client, BASE + "/derogations", BASE + "/derogations",
                 {"family_id": FAMILY, "prestation_id": REPAS, "session_date": "2027-03-10", "reason": "Encore"})
    assert again.status_code == 409 and "existe déjà" in summary(text(again))
    other = post(client, BASE + "/derogations", BASE + "/derogations",
                 {"family_id": "fam-ludres", "prestation_id": REPAS, "session_date": "2027-03-10", "reason": "x"})
    assert other.status_code == 404 and "ne relève pas de votre commune" in summary(text(other))
    assert len(fake.overrides) == 1


def test_override_requires_every_field(client, fake):
    resp = post(client, BASE + "/derogations", BASE + "/derogations", {})
    html = text(resp)
    assert resp.status_code == 422
    for name in ("family_id", "prestation_id", "session_date", "reason"):
        assert field_error(html, name), name
    assert not fake.overrides


# --- bookings of a period, audit trail ------------------------------------------------------------------
def test_bookings_of_a_period_with_filters(client, fake):
    page = plain(text(client.get(f"{BASE}/suivi?first=2027-03-01&last=2027-03-31")))
    assert "4 réservations du 01/03/2027 au 31/03/2027" in page
    assert "Léa Martin" in page and "Sur liste d'attente" in page and "Jules" not in page
    only = plain(text(client.get(f"{BASE}/suivi?first=2027-03-01&last=2027-03-31&status=waiting&prestation={SOIR}")))
    assert "1 réservation du" in only and "Zoé Durand" in only
    bad = client.get(f"{BASE}/suivi?first=2027-03-31&last=2027-03-01")
    assert bad.status_code == 422 and field_error(text(bad), "last") == "Le dernier jour doit suivre le premier."
    assert client.get(f"{BASE}/suivi?first=nimporte&page=abc").status_code == 422


def test_audit_trail_in_words(client, fake):
    post(client, BASE + "/annulations", f"{BASE}/annulations/b-hugo", {"decision": "accept", "refund": "credit"})
    post(client, BASE + "/fermetures", BASE + "/fermetures", {"closed_on": "2027-03-18", "label": "Grève"})
    post(client, f"{BASE}/inscriptions/{LEA}", f"{BASE}/inscriptions/{LEA}",
         {"service_id": CANTINE, "first": "2027-03-15", "last": "2027-07-02", "weekdays": ["0"]})
    page = plain(text(client.get(BASE + "/journal")))
    assert "Jours fixes réservés" in page and "Dates : 30 confirmées, 2 refusées" in page
    assert "Fermeture ajoutée" in page and "Motif : Grève" not in page and "Libellé : Grève" in page
    assert "Annulation acceptée" in page and "Remboursement : Avoir sur la prochaine facture" in page
    assert "Date : mardi 9 mars 2027" in page and "Vous" in page
    sign_in(client, LUDRES_AGENT, "ludres")
    assert "Le journal est vide." in plain(text(client.get(BASE + "/journal")))


# --- CSV exports --------------------------------------------------------------------------------------------
def test_csv_exports_for_a_date_range(client, fake):
    fake.children[LEA]["given_name"] = "=HYPERLINK(\"http://evil\")"
    resp = client.get(f"{BASE}/exports/reservations.csv?first=2027-03-01&last=2027-03-31")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert 'filename="reservations-heillecourt-2027-03-01-2027-03-31.csv"' in resp.headers["Content-Disposition"]
    body = resp.get_data(as_text=True)
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff")), delimiter=";"))
    assert rows[0][:3] == ["date", "prestation", "enfant_id"] and len(rows) == 5
    assert all(r[5] in (FAMILY, FAMILY2) for r in rows[1:])  # no other commune's family
    assert "'=HYPERLINK" in body  # a formula typed as a name is neutralised
    assert client.get(f"{BASE}/exports/pointage.csv?first=2027-03-01&last=2027-03-31").status_code == 200
    assert ("GET", "/internal/agent/exports/attendance.csv?first=2027-03-01&last=2027-03-31") in fake.calls


def test_export_refusals(client):
    page = client.get(BASE + "/exports")
    assert page.status_code == 200 and 'value="2027-03-01"' in text(page) and 'value="2027-03-31"' in text(page)
    resp = client.get(f"{BASE}/exports/reservations.csv?first=2027-03-31&last=2027-03-01")
    assert resp.status_code == 422 and field_error(text(resp), "last") == "Le dernier jour doit suivre le premier."
    resp = client.get(f"{BASE}/exports/reservations.csv?first=2026-01-01&last=2027-06-30")
    assert resp.status_code == 422 and "au plus un an" in summary(text(resp))
    assert client.get(f"{BASE}/exports/reservations.csv").status_code == 422
    assert client.get(f"{BASE}/exports/factures.csv?first=2027-03-01&last=2027-03-02").status_code == 404


def test_desk_forms_refuse_a_missing_csrf_token(client, fake):
    resp = client.post(f"{BASE}/annulations/b-hugo", data={"decision": "accept"})
    assert resp.status_code == 400 and fake.bookings["b-hugo"]["status"] == "cancellation_requested"
    assert "Le formulaire a expiré" in text(resp)
