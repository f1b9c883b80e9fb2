"""The agents' families page: register, statuses, search and filter, pages, CSV, re-send, tenancy."""
from __future__ import annotations

import csv
import io
import re

from pageflows import (activate, field_error, flashes, input_value, login_target, post_form, register_family,
                       sign_in, sign_out, text, unique_email)


def _row(html: str, email: str) -> str:
    match = re.search(r"<tr>(?:(?!</tr>).)*" + re.escape(email) + r"(?:(?!</tr>).)*</tr>", html, re.S)
    assert match, f"no row for {email}"
    return match.group(0)


def _family_id(row: str) -> str:
    return re.search(r"/agent/familles/([0-9a-f-]{36})", row).group(1)


def test_agent_registers_a_family_then_sees_it_with_its_status(client, identity, agent, commune):
    email = unique_email()
    resp = register_family(client, agent, commune, "Lefèvre", email)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/agent/familles")
    assert any(f"Un e-mail d'activation va être envoyé à {email}" in m for _c, m in flashes(client))

    page = text(client.get("/agent/familles"))
    assert "Un e-mail d'activation va être envoyé à " + email in page  # the flash, shown once
    row = _row(page, email)
    assert "Lefèvre" in row and "En attente d'envoi" in row and "Renvoyer le lien" in row

    identity.mark_sent(email)
    row = _row(text(client.get("/agent/familles")), email)
    assert re.search(r"Lien envoyé le \d\d/\d\d/\d{4} à \d\d:\d\d", row)

    activate(client, identity, identity.link_for(email), email)
    sign_in(client, agent, commune["slug"])
    row = _row(text(client.get("/agent/familles")), email)
    assert re.search(r"Compte activé le \d\d/\d\d/\d{4}", row)
    assert "Renvoyer le lien" not in row

    detail = text(client.get(f"/agent/familles/{_family_id(row)}"))
    assert "Famille Lefèvre" in detail and "Camille" in detail and "Utilisé" in detail
    # Its billing: QF, invoices and payments in "Facturation".
    assert f'href="/agent/facturation/familles/{_family_id(row)}/quotient"' in detail
    assert f'href="/agent/facturation/factures?famille={_family_id(row)}"' in detail


def test_expired_link_status_and_resend(client, identity, agent, commune):
    email = unique_email()
    register_family(client, agent, commune, "Bernard", email)
    identity.expire_links(email)
    row = _row(text(client.get("/agent/familles")), email)
    assert "Lien expiré" in row
    old = identity.link_for(email)

    resend = post_form(client, "/agent/familles", f"/agent/familles/{_family_id(row)}/renvoyer",
                       {"next": "/agent/familles?q=Bernard"})
    assert resend.status_code == 302 and resend.headers["Location"].endswith("/agent/familles?q=Bernard")
    assert any("Un nouveau lien d'activation va être envoyé à " + email in m for _c, m in flashes(client))
    assert identity.link_for(email) != old
    assert "En attente d'envoi" in _row(text(client.get("/agent/familles")), email)


def test_resend_for_an_active_family_is_refused_with_a_message(client, identity, agent, commune):
    email = unique_email()
    register_family(client, agent, commune, "Petit", email)
    activate(client, identity, identity.link_for(email), email)
    sign_in(client, agent, commune["slug"])
    fid = _family_id(_row(text(client.get("/agent/familles")), email))
    resp = post_form(client, "/agent/familles", f"/agent/familles/{fid}/renvoyer", {"next": "https://evil.example/"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/agent/familles")  # no open redirect
    assert any(cat == "error" and "déjà activé" in m for cat, m in flashes(client))


def test_registration_errors_in_french_with_values_kept(client, identity, agent, commune):
    sign_in(client, agent, commune["slug"])
    resp = post_form(client, "/agent/familles", "/agent/familles", {"family_name": "", "email": "pas-une-adresse"})
    html = text(resp)
    assert resp.status_code == 422
    assert field_error(html, "family_name") and field_error(html, "email")
    assert '<a href="#family_name">' in html and '<a href="#email">' in html
    assert input_value(html, "email") == "pas-une-adresse"

    email = unique_email()
    register_family(client, agent, commune, "Roux", email)
    again = post_form(client, "/agent/familles", "/agent/familles", {"family_name": "Roux", "email": email})
    assert again.status_code == 409
    assert "déjà enregistrée" in text(again)


def test_search_status_filter_and_pagination(client, identity, agent, commune):
    marker = unique_email("x").split("@")[0][2:]  # unique text in names
    emails = []
    for i in range(27):
        email = f"p{i:02d}-{marker}@example.org"
        emails.append(email)
        assert register_family(client, agent, commune, f"Famille {marker} {i:02d}", email).status_code == 302
    activate(client, identity, identity.link_for(emails[0]), emails[0])
    sign_in(client, agent, commune["slug"])

    first = text(client.get("/agent/familles", query_string={"q": marker}))
    assert "27 familles correspondant à votre recherche — page 1 sur 2" in first
    assert first.count("<tr>") == 26  # header + 25 rows
    assert 'rel="next"' in first and 'rel="prev"' not in first
    second = text(client.get("/agent/familles", query_string={"q": marker, "page": 2}))
    assert second.count("<tr>") == 3 and 'rel="prev"' in second

    active = text(client.get("/agent/familles", query_string={"q": marker, "status": "active"}))
    assert "1 famille correspondant" in active and emails[0] in active
    pending = text(client.get("/agent/familles", query_string={"q": marker, "status": "pending"}))
    assert "26 familles correspondant" in pending and emails[0] not in pending

    by_email = text(client.get("/agent/familles", query_string={"q": emails[5]}))
    assert "1 famille correspondant" in by_email and emails[5] in by_email

    # Bad query values never break the page.
    for qs in ({"page": "abc"}, {"page": "-4"}, {"status": "nimporte"}, {"q": "x" * 5000}):
        assert client.get("/agent/familles", query_string=qs).status_code == 200


def test_csv_export(client, identity, agent, commune):
    emails = [unique_email() for _ in range(3)]
    for name, email in zip(["Durand", "=HYPERLINK(1)", "Nguyen"], emails):
        register_family(client, agent, commune, name, email)
    activate(client, identity, identity.link_for(emails[2]), emails[2])
    sign_in(client, agent, commune["slug"])

    resp = client.get("/agent/familles.csv")
    assert resp.status_code == 200
    assert resp.mimetype == "text/csv"
    assert f"familles-{commune['slug']}-" in resp.headers["Content-Disposition"]
    body = resp.get_data(as_text=True)
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff")), delimiter=";"))
    assert rows[0][:3] == ["Nom de la famille", "E-mail de connexion", "Statut"]
    by_email = {r[1]: r for r in rows[1:]}
    assert set(emails) <= set(by_email)
    assert by_email[emails[0]][0] == "Durand" and by_email[emails[0]][2] == "En attente d'envoi"
    assert by_email[emails[1]][0] == "'=HYPERLINK(1)"  # never a live formula
    assert by_email[emails[2]][2].startswith("Compte activé le")

    filtered = client.get("/agent/familles.csv", query_string={"status": "active"}).get_data(as_text=True)
    assert emails[2] in filtered and emails[0] not in filtered
    # The page links to the export with the same filters.
    page = text(client.get("/agent/familles", query_string={"status": "active"}))
    assert 'href="/agent/familles.csv?status=active"' in page


def test_agent_of_commune_a_cannot_see_a_family_of_commune_b(client, identity, agent, commune):
    other = identity.commune("Ludres")
    other_agent = identity.agent(other)
    email_b = unique_email()
    register_family(client, other_agent, other, "Famille de Ludres", email_b)
    fid_b = _family_id(_row(text(client.get("/agent/familles")), email_b))

    sign_in(client, agent, commune["slug"])
    listing = text(client.get("/agent/familles", query_string={"q": email_b}))
    assert "<tr>" not in listing and "0 famille correspondant" in listing
    assert email_b not in client.get("/agent/familles.csv").get_data(as_text=True)
    assert client.get(f"/agent/familles/{fid_b}").status_code == 404
    resend = post_form(client, "/agent/familles", f"/agent/familles/{fid_b}/renvoyer", {})
    assert resend.status_code == 404

    # Choosing commune B in the session does not help: the agent is not one of its agents.
    sign_in(client, agent, other["slug"])
    assert client.get("/agent/familles").status_code == 403
    # Nor does forging the session's agent_of: identity checks its own records.
    forged = {**agent, "agent_of": [{**other, "role": "agent"}]}
    sign_in(client, forged, other["slug"])
    assert client.get("/agent/familles").status_code == 403
    assert client.get(f"/agent/familles/{fid_b}").status_code == 403


def test_parents_and_visitors_do_not_reach_the_back_office(client, identity, agent, commune):
    assert login_target(client.get("/agent/familles")) == "/agent/familles"
    assert login_target(client.get("/agent/familles.csv")) == "/agent/familles.csv"
    email = unique_email()
    register_family(client, agent, commune, "Garcia", email)
    activate(client, identity, identity.link_for(email), email)
    sign_in(client, identity.user(email))
    for url in ("/agent", "/agent/familles", "/agent/familles.csv"):
        assert client.get(url).status_code == 403
    sign_out(client)


def test_agent_home_links_to_families(client, agent, commune):
    sign_in(client, agent, commune["slug"])
    page = text(client.get("/agent"))
    assert 'href="/agent/familles"' in page and commune["name"] in page


def test_failed_sending_is_shown_so_the_agent_checks_the_address(client, identity, agent, commune):
    email = unique_email()
    register_family(client, agent, commune, "Moreau", email)
    identity.mark_failed(email)
    row = _row(text(client.get("/agent/familles")), email)
    assert re.search(r"Échec de l'envoi le \d\d/\d\d/\d{4} à \d\d:\d\d \(vérifiez l'adresse\)", row)
    assert "Renvoyer le lien" in row
    detail = text(client.get(f"/agent/familles/{_family_id(row)}"))
    assert "Échec de l'envoi le" in detail
