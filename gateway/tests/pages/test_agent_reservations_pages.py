"""The agents' booking back office (/agent/reservations) against a fake of booking's agent API
(agent_reservations_fakebooking.py: same paths and shapes, tenancy by the service token's commune).
Catalogue, closures, enrolments, attendance; the desk pages are in test_agent_reservations_desk.py."""
from __future__ import annotations

import re
import secrets

import pytest

from agent_reservations_fakebooking import (CANTINE, HUGO, LEA, LUDRES_REPAS, OTHER_CHILD, REPAS, SOIR, TODAY, ZOE,
                                            FakeAgentBooking, make_app)
from helpers import closed_port, gateway_app, serve
from pageflows import csrf_token, sign_in, text

SECRET = "agent-resa-pages-secret-" + secrets.token_hex(8)
AGENT = {"sub": "agent-h", "email": "agent@heillecourt.fr", "name": "Alex Agent", "family_id": None, "communes": [],
         "agent_of": [{"slug": "heillecourt", "name": "Heillecourt", "role": "agent"}], "platform_role": "parent"}
LUDRES_AGENT = {**AGENT, "sub": "agent-l", "agent_of": [{"slug": "ludres", "name": "Ludres", "role": "agent"}]}
PARENT = {"sub": "parent-1", "email": "camille@example.org", "name": "Camille Martin", "family_id": "fam-martin",
          "communes": [{"slug": "heillecourt", "name": "Heillecourt"}], "agent_of": [], "platform_role": "parent"}
BASE = "/agent/reservations"


@pytest.fixture(scope="module")
def fake():
    return FakeAgentBooking(SECRET)


@pytest.fixture(scope="module")
def app(fake, tmp_path_factory):
    var = tmp_path_factory.mktemp("gateway-agent-reservations")
    with serve(make_app(fake)) as booking_url, \
            gateway_app(var, BOOKING_URL=booking_url, SERVICE_TOKEN_SECRET=SECRET) as application:
        yield application


@pytest.fixture
def client(app, fake, monkeypatch):
    fake.__init__(SECRET)  # fresh commune data for each test
    monkeypatch.setattr("gateway.web.agent_reservations.today", lambda: TODAY)
    monkeypatch.setattr("gateway.web.agent_reservations_daily.today", lambda: TODAY)
    monkeypatch.setattr("gateway.web.agent_reservations_desk.today", lambda: TODAY)
    with app.test_client() as c:
        sign_in(c, AGENT, "heillecourt")
        yield c


def post(client, page: str, action: str, data: dict):
    return client.post(action, data={"csrf_token": csrf_token(client, page), **data})


def plain(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def summary(html: str) -> str:
    match = re.search(r'<div class="error-summary".*?</div>', html, re.S)
    return plain(match.group(0)) if match else ""


def field_error(html: str, name: str) -> str:
    match = re.search(rf'<p class="field-error" id="{re.escape(name)}-erreur">(.*?)</p>', html, re.S)
    return plain(match.group(1)).replace("Erreur : ", "").strip() if match else ""


def flashes(client) -> list[str]:
    with client.session_transaction() as sess:
        return [m for _c, m in sess.get("_flashes", [])]


PRESTATION_FORM = {
    "service_id": CANTINE, "code": "etude", "label": "Étude surveillée", "first": "2027-03-01", "last": "2027-07-02",
    "weekdays": ["0", "1", "3"], "opens_during": "periode_scolaire", "starts_at": "16:30", "ends_at": "18:00",
    "payment_mode": "end_of_month", "price_ref": "ETUDE", "capacity": "24", "horizon_days": "",
    "bd_preset": "veille-12h", "cd_preset": "personnalise", "cd_kind": "working_days", "cd_days": "2", "cd_at": "12:00",
    "refund_on_cancellation": "none", "cancellation_auto_accept": "1",
}


# --- access ------------------------------------------------------------------------------------------------
def test_a_parent_is_refused_and_a_visitor_sent_to_sign_in(app, client):
    sign_in(client, PARENT)
    for path in ("", "/catalogue", "/pointage", "/annulations", "/journal", "/exports/reservations.csv"):
        assert client.get(BASE + path).status_code == 403, path
    with app.test_client() as anonymous:
        resp = anonymous.get(BASE + "/catalogue")
        assert resp.status_code == 302 and "/auth/login" in resp.headers["Location"]


def test_an_agent_of_another_commune_sees_only_theirs(client, fake):
    sign_in(client, LUDRES_AGENT, "ludres")
    catalogue = text(client.get(BASE + "/catalogue"))
    assert "Cantine de Ludres" in catalogue and "Restauration scolaire" not in catalogue
    # Heillecourt's prestation, child and booking by URL: 404 pages, nothing changed.
    assert client.get(f"{BASE}/catalogue/prestations/{REPAS}").status_code == 404
    assert client.get(f"{BASE}/catalogue/prestations/{REPAS}/seances").status_code == 404
    assert client.get(f"{BASE}/pointage?prestation={REPAS}&date={TODAY}").status_code == 404
    assert client.get(f"{BASE}/inscriptions/{LEA}").status_code == 404
    resp = post(client, BASE + "/annulations", f"{BASE}/annulations/b-hugo", {"decision": "accept"})
    assert resp.status_code == 404 and fake.bookings["b-hugo"]["status"] == "cancellation_requested"
    resp = post(client, BASE + "/pointage", BASE + "/pointage",
                {"prestation": REPAS, "date": TODAY.isoformat(), f"mark-{LEA}": "present"})
    assert resp.status_code == 404 and not fake.attendance
    # Their own works.
    assert client.get(f"{BASE}/catalogue/prestations/{LUDRES_REPAS}").status_code == 200


def test_home_counts_what_waits_and_the_agent_home_links_here(client):
    page = plain(text(client.get(BASE)))
    assert "1 demande d'annulation à traiter" in page
    assert "2 enfants sur liste d'attente ou places à confirmer" in page
    assert f'href="{BASE}"' in text(client.get("/agent"))


# --- catalogue -------------------------------------------------------------------------------------------
def test_catalogue_shows_services_prestations_and_rules_in_words(client):
    page = plain(text(client.get(BASE + "/catalogue")))
    assert "Restauration scolaire" in page and "Périscolaire" in page and "Repas de Ludres" not in page
    assert "1 jour ouvré avant à 10 h (week-ends et jours fériés exclus)" in page
    assert "La veille à 18 h" in page
    assert "lundi, mardi, jeudi et vendredi" in page and "Facturé en fin de mois" in page


def test_the_commune_calendar_zone_and_school_days(client, fake):
    assert "Zone B ; classe le lundi, mardi, jeudi et vendredi" in plain(text(client.get(BASE + "/catalogue")))
    resp = post(client, BASE + "/catalogue", BASE + "/catalogue/calendrier", {"zone": "D"})
    html = text(resp)
    assert resp.status_code == 422 and "Le calendrier n'a pas pu être enregistré" in summary(html)
    assert field_error(html, "zone") and field_error(html, "school_weekdays") == "Cochez au moins un jour de classe."
    resp = post(client, BASE + "/catalogue", BASE + "/catalogue/calendrier",
                {"zone": "A", "school_weekdays": ["0", "1", "2", "3", "4"]})
    assert resp.status_code == 302
    assert fake.calendars["heillecourt"] == {"zone": "A", "school_weekdays": [0, 1, 2, 3, 4]}
    assert "Zone A ; classe le lundi, mardi, mercredi, jeudi et vendredi" in plain(text(client.get(BASE + "/catalogue")))


def test_create_a_service_and_refusals(client, fake):
    resp = post(client, BASE + "/catalogue", BASE + "/catalogue/services", {"code": "Bad Code", "label": ""})
    html = text(resp)
    assert resp.status_code == 422
    assert "minuscules" in field_error(html, "code") and field_error(html, "label") == "Indiquez le nom du service."
    assert "Indiquez le nom du service." in summary(html) and 'href="#code"' in html

    resp = post(client, BASE + "/catalogue", BASE + "/catalogue/services", {"code": "cantine", "label": "Autre"})
    assert resp.status_code == 409 and "déjà utilisé" in field_error(text(resp), "code")

    resp = post(client, BASE + "/catalogue", BASE + "/catalogue/services", {"code": "alsh", "label": "Accueil de loisirs"})
    assert resp.status_code == 302
    assert any(s["label"] == "Accueil de loisirs" and s["commune"] == "heillecourt" for s in fake.services.values())
    assert "Accueil de loisirs" in text(client.get(resp.headers["Location"]))


def test_create_a_prestation_with_a_preset_and_a_custom_rule(client, fake):
    page = text(client.get(f"{BASE}/catalogue/prestations/nouvelle?service={CANTINE}"))
    assert "La veille à 12 h" in page and "2 jours ouvrés avant à 12 h" in page and "Personnalisé" in page
    resp = post(client, f"{BASE}/catalogue/prestations/nouvelle?service={CANTINE}", BASE + "/catalogue/prestations",
                PRESTATION_FORM)
    assert resp.status_code == 302 and "/seances" in resp.headers["Location"]
    sent = [b for m, p, b in fake.bodies if m == "POST" and p == "/internal/agent/prestations"][-1]
    assert sent["booking_deadline"] == {"kind": "calendar_days", "days": 1, "at": "12:00"}
    assert sent["cancellation_deadline"] == {"kind": "working_days", "days": 2, "at": "12:00"}
    assert sent["schedule"] == {"first": "2027-03-01", "last": "2027-07-02", "weekdays": [0, 1, 3],
                                "opens_during": "periode_scolaire"}
    assert sent["capacity"] == 24 and sent["horizon_days"] is None and sent["cancellation_auto_accept"] is True
    assert sent["waiting_list"] is False and sent["price_ref"] == "ETUDE" and sent["code"] == "etude"
    assert any("Générez maintenant ses dates d'ouverture" in m for m in flashes(client))


def test_prestation_form_refusals_next_to_fields_and_summarised(client, fake):
    bad = {**PRESTATION_FORM, "label": "", "first": "01/03/2027", "weekdays": [], "capacity": "beaucoup",
           "cd_days": "", "cd_at": "25:00", "price_ref": ""}
    resp = post(client, f"{BASE}/catalogue/prestations/nouvelle?service={CANTINE}", BASE + "/catalogue/prestations", bad)
    html = text(resp)
    assert resp.status_code == 422
    assert field_error(html, "label") == "Indiquez le libellé de la prestation."
    assert "JJ/MM/AAAA" in field_error(html, "first")
    assert field_error(html, "weekdays") == "Cochez au moins un jour d'ouverture."
    assert "nombre entier de 0 à 10000" in field_error(html, "capacity")
    assert field_error(html, "cd_days") and "HH:MM" in field_error(html, "cd_at")
    assert field_error(html, "price_ref")
    top = summary(html)
    assert "La prestation n'a pas pu être enregistrée" in top and "Cochez au moins un jour d'ouverture." in top
    assert 'value="beaucoup"' in html  # what the agent typed stays
    assert not [b for m, p, b in fake.bodies if p == "/internal/agent/prestations"]  # nothing sent

    # Booking's rule problems land next to the field they are about.
    rules = {**PRESTATION_FORM, "code": "etude2", "bd_preset": "vacances-15-jours", "waiting_list": "1", "capacity": ""}
    resp = post(client, f"{BASE}/catalogue/prestations/nouvelle?service={CANTINE}", BASE + "/catalogue/prestations", rules)
    html = text(resp)
    assert resp.status_code == 422
    assert "avant les vacances" in field_error(html, "opens_during")
    assert field_error(html, "capacity") == "Une liste d'attente demande une capacité."
    assert "Une liste d'attente demande une capacité." in summary(html)

    resp = post(client, f"{BASE}/catalogue/prestations/nouvelle?service={CANTINE}", BASE + "/catalogue/prestations",
                {**PRESTATION_FORM, "code": "cantine-repas"})
    assert resp.status_code == 409 and "déjà utilisé" in field_error(text(resp), "code")


def test_edit_a_prestation_keeps_its_code_and_edits_its_windows(client, fake):
    page = text(client.get(f"{BASE}/catalogue/prestations/{SOIR}"))
    assert "Actuellement : La veille à 18 h" in plain(page)
    assert 'id="bd_preset_4" name="bd_preset" value="ouvre-1-10h" checked' in page  # the stored rule's preset
    assert 'value="PERI-SOIR"' in page
    # The stored window, in Paris time, then an empty row to add one.
    assert 'id="w_first-0" name="w_first-0" value="2027-04-19"' in page
    assert 'id="w_opens_at-0" name="w_opens_at-0" value="2027-03-08T09:00"' in page
    assert 'id="w_first-1" name="w_first-1" value=""' in page
    form = {**PRESTATION_FORM, "label": "Accueil du soir (16 h 30)", "payment_mode": "prepaid",
            "refund_on_cancellation": "credit", "bd_preset": "72h", "cd_preset": "jeudi-9h",
            "w_first-0": "2027-04-19", "w_last-0": "2027-04-30", "w_opens_at-0": "2027-03-08T09:00",
            "w_first-1": "2027-07-05", "w_last-1": "2027-07-01", "w_opens_at-1": "",
            "w_residents_open_at-1": "2027-05-03T09:00"}
    resp = post(client, f"{BASE}/catalogue/prestations/{SOIR}", f"{BASE}/catalogue/prestations/{SOIR}", form)
    html = text(resp)
    assert resp.status_code == 422
    assert field_error(html, "w_last-1") == "Le dernier jour doit suivre le premier."
    assert "date et heure" in field_error(html, "w_opens_at-1") and 'href="#w_opens_at-1"' in html
    form.update({"w_last-1": "2027-08-27", "w_opens_at-1": "2027-05-10T09:00"})
    resp = post(client, f"{BASE}/catalogue/prestations/{SOIR}", f"{BASE}/catalogue/prestations/{SOIR}", form)
    assert resp.status_code == 302
    sent = [b for m, p, b in fake.bodies if m == "PUT" and p.endswith(SOIR)][-1]
    assert "code" not in sent and "service_id" not in sent
    assert sent["windows"] == [
        {"first": "2027-04-19", "last": "2027-04-30", "opens_at": "2027-03-08T09:00:00+01:00",
         "residents_open_at": None},
        {"first": "2027-07-05", "last": "2027-08-27", "opens_at": "2027-05-10T09:00:00+02:00",  # summer time
         "residents_open_at": "2027-05-03T09:00:00+02:00"}]
    assert sent["booking_deadline"] == {"kind": "hours_before_start", "hours": 72}
    assert sent["cancellation_deadline"] == {"kind": "weekly_cutoff", "weekday": 3, "at": "09:00", "weeks_before": 1}
    page = plain(text(client.get(resp.headers["Location"])))
    assert "Actuellement : 72 heures avant le début de la séance" in page
    assert "Le jeudi à 9 h de la semaine précédente, pour toute la semaine" in page
    # Emptying a row removes that window.
    form.update({"w_first-0": "", "w_last-0": "", "w_opens_at-0": ""})
    assert post(client, f"{BASE}/catalogue/prestations/{SOIR}", f"{BASE}/catalogue/prestations/{SOIR}",
                form).status_code == 302
    assert [w["first"] for w in fake.prestations[SOIR]["windows"]] == ["2027-07-05"]


def test_delete_a_prestation_only_when_nothing_was_booked(client, fake):
    page = f"{BASE}/catalogue/prestations/{REPAS}"
    resp = post(client, page, page + "/supprimer", {})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(page) and REPAS in fake.prestations
    assert any("a des réservations" in m for m in flashes(client))
    fake.bookings.clear()
    resp = post(client, page, page + "/supprimer", {})
    assert resp.status_code == 302 and REPAS not in fake.prestations
    assert any("« Repas » est supprimée" in m for m in flashes(client))
    sign_in(client, LUDRES_AGENT, "ludres")  # another commune's: 404, nothing deleted
    resp = client.post(f"{BASE}/catalogue/prestations/{SOIR}/supprimer", data={"csrf_token": csrf_token(client, BASE)})
    assert resp.status_code == 404 and SOIR in fake.prestations


def test_generate_dates_list_a_month_and_set_one_capacity(client, fake):
    url = f"{BASE}/catalogue/prestations/{REPAS}/seances"
    resp = post(client, url, url + "/generer", {"first": "2027-03-01", "last": "2027-03-31"})
    assert resp.status_code == 302 and fake.generated[REPAS]
    assert any("18 dates d'ouverture du 01/03/2027 au 31/03/2027" in m for m in flashes(client))
    page = plain(text(client.get(url + "?mois=2027-04")))
    assert "lundi 19 avril 2027" in page and "Fermée : Vacances scolaires" in page
    assert "mercredi 21 avril" not in page  # no service that weekday: not listed
    resp = post(client, url, f"{url}/2027-04-20/capacite", {"capacity": "12"})
    assert resp.status_code == 302 and fake.session_capacity[(REPAS, "2027-04-20")] == 12
    resp = post(client, url, f"{url}/2027-04-20/capacite", {"capacity": "-3"})
    assert resp.status_code == 302 and any("nombre entier" in m for m in flashes(client))

    resp = post(client, url, url + "/generer", {"first": "2027-03-31", "last": "2027-03-01"})
    assert resp.status_code == 422 and field_error(text(resp), "last") == "Le dernier jour doit suivre le premier."
    resp = post(client, url, url + "/generer", {"first": "2027-01-01", "last": "2028-06-30"})
    assert resp.status_code == 422 and "au plus 366 jours" in summary(text(resp))
    # A month booking cannot compute is said on the page, not an error page.
    page = client.get(url + "?mois=2029-01")
    assert page.status_code == 200 and "pas encore connu" in text(page)


# --- closures ------------------------------------------------------------------------------------------------
def test_closures_add_list_remove_and_refusals(client, fake):
    resp = post(client, BASE + "/fermetures", BASE + "/fermetures", {"closed_on": "", "label": "", "prestation_id": ""})
    html = text(resp)
    assert resp.status_code == 422 and field_error(html, "closed_on") and field_error(html, "label")
    resp = post(client, BASE + "/fermetures", BASE + "/fermetures",
                {"closed_on": "2027-03-18", "label": "Grève", "prestation_id": REPAS})
    assert resp.status_code == 302
    closure = next(iter(fake.closures.values()))
    assert closure["prestation_id"] == REPAS and closure["commune"] == "heillecourt"
    page = plain(text(client.get(BASE + "/fermetures")))
    assert "jeudi 18 mars 2027" in page and "Grève" in page and "Restauration scolaire — Repas" in page
    resp = post(client, BASE + "/fermetures", f"{BASE}/fermetures/{closure['id']}/supprimer", {})
    assert resp.status_code == 302 and not fake.closures
    # Another commune's prestation: booking's 404 shown on the form.
    resp = post(client, BASE + "/fermetures", BASE + "/fermetures",
                {"closed_on": "2027-03-18", "label": "Grève", "prestation_id": LUDRES_REPAS})
    assert resp.status_code == 404 and not fake.closures


# --- enrolments --------------------------------------------------------------------------------------------
def test_find_a_child_and_enrol_with_fixed_weekdays(client, fake):
    page = plain(text(client.get(BASE + "/inscriptions?q=mart")))
    assert "2 enfants trouvés" in page and "Léa Martin" in page and "Hugo Martin" in page and "Zoé" not in page
    assert "Jules" not in plain(text(client.get(BASE + "/inscriptions?q=petit")))  # another commune's child

    url = f"{BASE}/inscriptions/{LEA}?q=mart"
    resp = post(client, url, f"{BASE}/inscriptions/{LEA}",
                {"service_id": CANTINE, "first": "2027-03-15", "last": "2027-07-02", "weekdays": ["0", "3"], "q": "mart"})
    assert resp.status_code == 302
    sent = [b for m, p, b in fake.bodies if p == "/internal/agent/enrolments"][-1]
    assert sent == {"child_id": LEA, "service_id": CANTINE, "first": "2027-03-15", "last": "2027-07-02",
                    "fixed_weekdays": [0, 3]}
    message = next(m for m in flashes(client) if "Inscription enregistrée" in m)
    assert "Repas : 30 dates confirmées" in message and "2 dates refusées (délai de réservation dépassé)" in message
    page = plain(text(client.get(resp.headers["Location"])))
    assert "Restauration scolaire" in page and "lundi et jeudi" in page

    resp = post(client, url, f"{BASE}/inscriptions/{LEA}",
                {"service_id": CANTINE, "first": "2027-03-15", "last": "2027-07-02"})
    assert resp.status_code == 409 and "déjà inscrit" in summary(text(resp))
    resp = post(client, url, f"{BASE}/inscriptions/{LEA}", {"service_id": "", "first": "x", "last": ""})
    html = text(resp)
    assert resp.status_code == 422 and field_error(html, "service_id") == "Choisissez le service."
    assert field_error(html, "first") and field_error(html, "last")

    enrolment = next(iter(fake.enrolments))
    resp = post(client, url, f"{BASE}/inscriptions/{LEA}/{enrolment}/supprimer", {})
    assert resp.status_code == 302 and not fake.enrolments


def test_an_incomplete_dossier_refuses_the_enrolment_with_booking_s_reason(client, fake, monkeypatch):
    detail = ("Inscription refusée : le dossier de Léa est incomplet pour « Restauration scolaire ». "
              "« Fiche sanitaire de liaison » est à fournir. « Attestation d'assurance extrascolaire » n'est plus "
              "valable : ajoutez un document de l'année scolaire en cours. "
              "La famille peut les déposer dans son espace (Mes demandes).")
    missing = [{"doc_type": "fiche_sanitaire", "label": "Fiche sanitaire de liaison", "reason": "missing"},
               {"doc_type": "assurance", "label": "Attestation d'assurance extrascolaire", "reason": "expired"}]
    monkeypatch.setitem(fake.dossier_refusals, LEA, {"detail": detail, "missing": missing})
    url = f"{BASE}/inscriptions/{LEA}"
    form = {"service_id": CANTINE, "first": "2027-03-15", "last": "2027-07-02", "weekdays": ["0"]}
    resp = post(client, url, url, form)
    html = text(resp)
    assert resp.status_code == 422
    assert summary(html).strip() == f"L'inscription n'a pas pu être enregistrée {detail}"
    assert not fake.enrolments and "Inscription enregistrée" not in html

    # requests down: booking refuses (503); the agent is told nothing was recorded, on the form
    monkeypatch.setitem(fake.dossier_refusals, LEA, None)
    resp = post(client, url, url, form)
    html = text(resp)
    assert resp.status_code == 503 and not fake.enrolments
    assert "L'inscription n'est pas enregistrée" in summary(html) and "dossier de l'enfant" in summary(html)
    assert 'value="2027-03-15"' in html  # what the agent typed is kept


def test_enrolment_page_finds_the_child_without_a_search_hint(client):
    page = plain(text(client.get(f"{BASE}/inscriptions/{ZOE}")))
    assert "Zoé Durand" in page and "n'est inscrit(e) à aucun service" in page
    assert client.get(f"{BASE}/inscriptions/{OTHER_CHILD}").status_code == 404


# --- attendance ------------------------------------------------------------------------------------------
def test_day_list_records_every_mark_in_one_submit(client, fake):
    url = f"{BASE}/pointage?prestation={REPAS}&date={TODAY}"
    html = text(client.get(url))
    page = plain(html)
    assert "Restauration scolaire — Repas" in page and "mardi 9 mars 2027" in page
    assert "Léa Martin" in page and "Hugo Martin" in page and "(annulation demandée)" in page
    assert 'role="radiogroup"' in html and "Absent non justifié" in html and "@media print" not in html
    resp = post(client, url, BASE + "/pointage", {"prestation": REPAS, "date": TODAY.isoformat(),
                                                  f"mark-{LEA}": "present", f"mark-{HUGO}": "absent_justified"})
    assert resp.status_code == 302
    assert fake.attendance == {(REPAS, TODAY.isoformat(), LEA): "present",
                               (REPAS, TODAY.isoformat(), HUGO): "absent_justified"}
    page = plain(text(client.get(url)))
    assert "1 présent, 1 absent, 0 non pointé" in page


def test_everyone_present_and_present_without_booking(client, fake):
    url = f"{BASE}/pointage?prestation={REPAS}&date={TODAY}&chercher=zo"
    html = text(client.get(url))
    assert "Zoé Durand" in html and "Présent sans réservation" in html
    resp = post(client, url, BASE + "/pointage", {"prestation": REPAS, "date": TODAY.isoformat(), "tous": "present",
                                                  "booked": [LEA, HUGO], f"mark-{HUGO}": "absent_unjustified",
                                                  f"mark-{ZOE}": "present"})
    assert resp.status_code == 302
    marks = {c: s for (_p, _d, c), s in fake.attendance.items()}
    assert marks == {LEA: "present", HUGO: "absent_unjustified", ZOE: "present"}
    page = plain(text(client.get(f"{BASE}/pointage?prestation={REPAS}&date={TODAY}")))
    assert "Zoé Durand" in page and "Sans réservation" in page


def test_attendance_refusals_locked_and_future(client, fake):
    url = f"{BASE}/pointage?prestation={REPAS}&date={TODAY}"
    resp = post(client, url, BASE + "/pointage", {"prestation": REPAS, "date": TODAY.isoformat()})
    assert resp.status_code == 422 and "Choisissez au moins un pointage" in summary(text(resp))

    fake.locked.add(TODAY.isoformat())
    html = text(client.get(url))
    assert "Lecture seule" in html and "cette période est facturée" in html and 'type="radio"' not in html
    # A form opened before the lock: booking's refusal shown on the page.
    resp = client.post(BASE + "/pointage", data={"csrf_token": csrf_token(client, BASE), "prestation": REPAS,
                                                 "date": TODAY.isoformat(), f"mark-{LEA}": "present"})
    assert resp.status_code == 409 and "ne peut plus être modifié" in summary(text(resp))

    future = text(client.get(f"{BASE}/pointage?prestation={REPAS}&date=2027-03-11"))
    assert "Liste prévisionnelle" in future and 'type="radio"' not in future
    resp = client.post(BASE + "/pointage", data={"csrf_token": csrf_token(client, BASE), "prestation": REPAS,
                                                 "date": "2027-03-11", f"mark-{LEA}": "present"})
    assert resp.status_code == 422 and "du jour ou passée" in summary(text(resp))
    assert not fake.attendance


def test_attendance_page_is_printable(client):
    html = text(client.get(f"{BASE}/pointage?prestation={REPAS}&date={TODAY}"))
    assert "css/agent-reservations.css" in html and "agent-resa-noprint" in html
    assert f"/exports/pointage.csv?first={TODAY}&last={TODAY}" in html
    css = client.get("/static/css/agent-reservations.css").get_data(as_text=True)
    assert "@media print" in css and ".agent-resa-noprint" in css


def test_bad_query_values_never_break_a_page(client):
    for path in ("/pointage?date=hier&prestation=", "/pointage?prestation=nimporte", "/suivi?page=abc&status=x",
                 "/suivi?first=2027-02-30", "/listes-attente?date=31/12&page=-3", "/journal?page=zz",
                 f"/catalogue/prestations/{REPAS}/seances?mois=13-2027", "/catalogue/prestations/nouvelle?service=",
                 "/inscriptions?q=" + "x" * 500, "/derogations?q=%00", "/exports?first=x&last=y",
                 "/annulations?page=999999999"):
        resp = client.get(BASE + path)
        assert resp.status_code in (200, 404, 422), (path, resp.status_code)
        assert "Erreur technique" not in text(resp), path
