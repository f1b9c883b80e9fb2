"""A family's request from draft to decision, through the real API on PostgreSQL: drafts,
"Ajouter un fichier existant", submission rules, the agents' queue, decisions with history and
events, bulk handling, reply templates, CSV export, the summary, effects announced once."""
from __future__ import annotations

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest

from requests_testkit import outbox_events, pdf_bytes

pytestmark = pytest.mark.integration

ADDRESS = {"street": "4 rue des Tilleuls", "postcode": "54180", "city": "Heillecourt", "moving_date": "2026-11-20"}


def test_pickup_authorisation_with_a_reused_document(world, client):
    family = world.family()
    identity_card = world.document(family, "piece_identite")
    category = world.category("autorisation_recuperation")
    assert category["template"].startswith("Je souhaiterais autoriser")

    listed = client.get("/internal/me/documents", params={"commune": world.commune, "doc_type": "piece_identite"},
                        headers=family.headers).json()["items"]
    assert [d["id"] for d in listed] == [identity_card["id"]]

    data = {"child": family.child_id, "person_name": "Jeanne Martin", "person_phone": "06 11 22 33 44",
            "from_date": "2026-12-07"}
    draft = world.draft(family, "autorisation_recuperation", data)
    assert draft["status"] == "brouillon" and draft["reference"] is None

    # The template text is missing, then the document: each refusal says what to do.
    r = client.post(f"/internal/me/requests/{draft['id']}/submit", headers=family.headers)
    assert r.status_code == 422 and "texte" in r.json()["errors"]["text"]
    client.put(f"/internal/me/requests/{draft['id']}", headers=family.headers,
               json={"text": "Je souhaiterais autoriser Jeanne Martin, sa grand-mère, à venir récupérer Léa."})
    r = client.post(f"/internal/me/requests/{draft['id']}/submit", headers=family.headers)
    assert r.status_code == 422 and "documents.piece_identite" in r.json()["errors"]

    r = client.post(f"/internal/me/requests/{draft['id']}/documents", json={"document_id": identity_card["id"]},
                    headers=family.headers)
    assert r.status_code == 200 and [d["id"] for d in r.json()["documents"]] == [identity_card["id"]]
    sent = client.post(f"/internal/me/requests/{draft['id']}/submit", headers=family.headers).json()
    assert sent["status"] == "envoyee" and sent["reference"].startswith("D-")
    assert [(h["from_status"], h["to_status"]) for h in sent["history"]] == [(None, "brouillon"),
                                                                           ("brouillon", "envoyee")]
    # A sent request is no longer a draft.
    r = client.put(f"/internal/me/requests/{draft['id']}", json={"text": "autre"}, headers=family.headers)
    assert r.status_code == 409
    assert client.delete(f"/internal/me/requests/{draft['id']}", headers=family.headers).status_code == 409

    queue = client.get("/internal/agent/requests", params={"status": "envoyee"}, headers=world.agent_headers).json()
    assert [i["id"] for i in queue["items"]] == [draft["id"]]
    seen = client.get(f"/internal/agent/requests/{draft['id']}", headers=world.agent_headers).json()
    assert seen["family_name"] == "Martin" and seen["documents"][0]["id"] == identity_card["id"]
    content = client.get(seen["documents"][0]["content_path"], headers=world.agent_headers)
    assert content.status_code == 200 and content.headers["content-type"] == "application/pdf"
    assert content.headers["x-content-type-options"] == "nosniff"

    assert world.decide(draft["id"], "en_cours").status_code == 200
    done = world.decide(draft["id"], "acceptee", "Autorisation enregistrée.").json()
    assert done["status"] == "acceptee" and done["decision_message"] == "Autorisation enregistrée."
    history = client.get(f"/internal/me/requests/{draft['id']}", headers=family.headers).json()["history"]
    assert [h["to_status"] for h in history] == ["brouillon", "envoyee", "en_cours", "acceptee"]
    assert history[-1]["message"] == "Autorisation enregistrée."

    changes = [e for e in outbox_events(world.db, "request.status_changed.v1") if e["request_id"] == draft["id"]]
    assert [(e["old_status"], e["new_status"]) for e in changes] == [("brouillon", "envoyee"),
                                                                     ("envoyee", "en_cours"), ("en_cours", "acceptee")]
    assert changes[-1]["link"] == f"https://famille.example.org/demandes/{draft['id']}"
    assert changes[-1]["requested_by"] == family.caller.sub and changes[-1]["status_label"] == "Acceptée"

    history_page = client.get("/internal/me/requests", headers=family.headers).json()
    assert history_page["items"][0]["status_label"] == "Acceptée"


def test_refusal_needs_a_message_and_final_states_do_not_move(world, client):
    family = world.family()
    request = world.sent(family)
    r = world.decide(request["id"], "refusee")
    assert r.status_code == 409 and "motivé" in r.json()["detail"]
    template = client.post("/internal/agent/reply-templates", headers=world.agent_headers,
                           json={"label": "Incomplet", "body": "Votre demande est incomplète."}).json()
    r = client.post(f"/internal/agent/requests/{request['id']}/decision", headers=world.agent_headers,
                    json={"status": "refusee", "reply_template_id": template["id"]})
    assert r.status_code == 200 and r.json()["decision_message"] == "Votre demande est incomplète."
    again = world.decide(request["id"], "acceptee")
    assert again.status_code == 409 and "déjà refusée" in again.json()["detail"]
    # The parent cannot decide, nor send it again.
    r = client.post(f"/internal/me/requests/{request['id']}/submit", headers=family.headers)
    assert r.status_code == 409


def test_address_change_accepted_announces_its_effect_once(world, client):
    family = world.family()
    proof = world.document(family, "justificatif_domicile")
    request = world.sent(family, "changement_adresse", ADDRESS, [proof["id"]])
    assert world.decide(request["id"], "acceptee").status_code == 200
    assert world.decide(request["id"], "acceptee").status_code == 409  # a second click changes nothing
    effects = [e for e in outbox_events(world.db, "address_change.accepted.v1") if e["request_id"] == request["id"]]
    assert len(effects) == 1
    assert effects[0]["guardian_sub"] == family.caller.sub and effects[0]["child_id"] is None
    assert (effects[0]["street"], effects[0]["postcode"], effects[0]["city"]) == (
        "4 rue des Tilleuls", "54180", "Heillecourt")


def test_qf_and_absence_effects(world, client):
    family = world.family()
    attestation = world.document(family, "attestation_caf")
    qf = world.sent(family, "mise_a_jour_qf", {"quotient": 742}, [attestation["id"]])
    certificate = world.document(family, "certificat_medical", child_id=family.child_id)
    absence = world.sent(family, "justification_absence",
                         {"child": family.child_id, "first_day": "2026-11-23", "last_day": "2026-11-24",
                          "reason": "Maladie"}, [certificate["id"]])
    refused = world.sent(family, "mise_a_jour_qf", {"quotient": 100}, [attestation["id"]])
    for request in (qf, absence):
        assert world.decide(request["id"], "acceptee").status_code == 200
    assert world.decide(refused["id"], "refusee", "Attestation d'une autre famille.").status_code == 200
    qf_events = [e for e in outbox_events(world.db, "quotient_update.accepted.v1") if e["family_id"] == family.family_id]
    assert [e["quotient_familial"] for e in qf_events] == [742]
    assert qf_events[0]["valid_until"].endswith("-12-31")
    absences = [e for e in outbox_events(world.db, "absence_justification.accepted.v1")
                if e["family_id"] == family.family_id]
    assert [(e["child_id"], e["first_day"], e["last_day"], e["reason"]) for e in absences] == [
        (family.child_id, "2026-11-23", "2026-11-24", "Maladie")]


def test_form_rules_on_submission(world, client):
    family = world.family()
    certificate = world.document(family, "certificat_medical", child_id=family.child_id)
    other = world.family()
    # Another family's child cannot be named, even in a draft.
    r = client.post("/internal/me/requests", headers=family.headers, json={
        "category_id": world.category("justification_absence")["id"], "data": {"child": other.child_id}})
    assert r.status_code == 422 and "enfant" in r.json()["errors"]["child"]
    draft = world.draft(family, "justification_absence", {"child": family.child_id, "first_day": "2026-11-24",
                                                         "last_day": "2026-11-20", "reason": "Maladie"},
                        [certificate["id"]])
    r = client.post(f"/internal/me/requests/{draft['id']}/submit", headers=family.headers)
    assert r.status_code == 422 and "précéder" in r.json()["errors"]["last_day"]
    r = client.put(f"/internal/me/requests/{draft['id']}", headers=family.headers,
                   json={"data": {"child": family.child_id, "first_day": "2026-11-20", "reason": "Grippe"}})
    assert r.status_code == 422 and "options" in r.json()["errors"]["reason"]
    r = client.put(f"/internal/me/requests/{draft['id']}", headers=family.headers,
                   json={"data": {"child": family.child_id, "first_day": "2026-11-20"}})
    assert r.status_code == 200
    r = client.post(f"/internal/me/requests/{draft['id']}/submit", headers=family.headers)
    assert r.status_code == 422 and set(r.json()["errors"]) == {"last_day", "reason"}


def test_expired_document_does_not_count(world, client):
    family = world.family()
    r = world.upload(family, [("vieux.pdf", pdf_bytes())], "justificatif_domicile", issued_on="2020-01-15")
    assert r.status_code == 422 and "plus valable" in r.json()["detail"]


def test_queue_filters_bulk_csv_and_summary(world, client):
    martin, durand = world.family("Martin"), world.family("=Durand")
    first, second = world.sent(martin), world.sent(durand)
    third = world.sent(martin, "autre", {"subject": "Cantine", "message": "Menu"})
    by_family = client.get("/internal/agent/requests", params={"family_id": martin.family_id},
                           headers=world.agent_headers).json()
    assert {i["id"] for i in by_family["items"]} == {first["id"], third["id"]}
    category = world.category("autre")["id"]
    assert client.get("/internal/agent/requests", params={"category_id": category, "reference": second["reference"]},
                      headers=world.agent_headers).json()["total"] == 1
    # The filter's days are Paris days (the agent's): between 23:00 and midnight UTC they differ.
    today = dt.datetime.fromisoformat(first["submitted_at"]).astimezone(ZoneInfo("Europe/Paris")).date().isoformat()
    assert client.get("/internal/agent/requests", params={"submitted_from": today, "submitted_to": today},
                      headers=world.agent_headers).json()["total"] == 3
    assert client.get("/internal/agent/requests", params={"submitted_to": "2020-01-01"},
                      headers=world.agent_headers).json()["total"] == 0

    summary = client.get("/internal/agent/requests/summary", headers=world.agent_headers).json()
    assert (summary["pending"], summary["sent"], summary["in_progress"]) == (3, 3, 0)

    refused_first = world.decide(first["id"], "acceptee")
    assert refused_first.status_code == 200
    bulk = client.post("/internal/agent/requests/bulk", headers=world.agent_headers,
                       json={"request_ids": [first["id"], second["id"], third["id"]], "status": "en_cours"}).json()
    assert bulk["done"] == 2 and [r["ok"] for r in bulk["results"]] == [False, True, True]
    assert "déjà acceptée" in bulk["results"][0]["error"]
    summary = client.get("/internal/agent/requests/summary", headers=world.agent_headers).json()
    assert (summary["pending"], summary["sent"], summary["in_progress"]) == (2, 0, 2)

    export = client.get("/internal/agent/requests/export.csv", headers=world.agent_headers)
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert export.text.startswith("\ufeff")  # the BOM: Excel reads the accents
    rows = list(csv.reader(io.StringIO(export.text.removeprefix("\ufeff")), delimiter=";"))
    assert rows[0][0] == "reference" and len(rows) == 4
    assert "'=Durand" in [r[1] for r in rows]  # no formula injection in a spreadsheet


def test_drafts_are_deleted_by_the_parent_or_after_retention(world, client):
    from datetime import timedelta

    from servicekit.types import utcnow

    from demandes import jobs

    family = world.family()
    kept = world.draft(family, "autre", {"subject": "Brouillon"})
    gone = world.draft(family, "autre", {"subject": "À supprimer"})
    assert client.delete(f"/internal/me/requests/{gone['id']}", headers=family.headers).status_code == 204
    assert client.get(f"/internal/me/requests/{gone['id']}", headers=family.headers).status_code == 404
    sent = world.sent(family)
    assert jobs.purge_drafts(world.db, 100, now=utcnow() + timedelta(days=99)) == 0
    assert jobs.purge_drafts(world.db, 100, now=utcnow() + timedelta(days=101)) >= 1
    assert client.get(f"/internal/me/requests/{kept['id']}", headers=family.headers).status_code == 404
    assert client.get(f"/internal/me/requests/{sent['id']}", headers=family.headers).status_code == 200


def test_daily_summary_is_published_once_per_commune_and_day(world, client, app):
    from datetime import datetime, timezone

    from demandes import jobs

    world.sent(world.family())
    morning = datetime(2026, 12, 2, 7, 30, tzinfo=timezone.utc)  # 08:30 in Paris
    night = datetime(2026, 12, 2, 4, 0, tzinfo=timezone.utc)
    assert world.commune not in jobs.publish_summaries(world.db, app.settings, now=night)
    assert world.commune in jobs.publish_summaries(world.db, app.settings, now=morning)
    assert world.commune not in jobs.publish_summaries(world.db, app.settings, now=morning)
    mine = [e for e in outbox_events(world.db, "pending_requests.summarised.v1") if e["commune"] == world.commune]
    assert len(mine) == 1 and mine[0]["pending"] == 1 and mine[0]["by_category"][0]["code"] == "autre"


def test_agents_manage_categories_and_document_types(world, client):
    headers = world.agent_headers
    r = client.put("/internal/agent/document-types/attestation_employeur", headers=headers,
                   json={"label": "Attestation d'employeur", "formats": ["pdf"], "max_bytes": 512 * 1024})
    assert r.status_code == 200 and r.json()["formats_label"] == "PDF"
    body = {"code": "garde_horaires", "label": "Accueil élargi", "template": "Je travaille de … à … .",
            "fields": [{"key": "child", "label": "Enfant", "type": "child", "required": True},
                       {"key": "hours", "label": "Horaires", "type": "choice", "required": True,
                        "options": ["7h30", "8h00"]}],
            "documents": [{"doc_type": "attestation_employeur", "required": True}]}
    r = client.post("/internal/agent/categories", json=body, headers=headers)
    assert r.status_code == 201, r.text
    created = r.json()
    assert client.post("/internal/agent/categories", json=body, headers=headers).status_code == 409
    bad = {**body, "code": "mauvaise", "fields": [{"key": "x", "label": "X", "type": "choice", "required": True}],
           "effect": "address_change"}
    r = client.post("/internal/agent/categories", json=bad, headers=headers)
    assert r.status_code == 422 and "options" in r.json()["errors"]["fields[0]"]
    r = client.post("/internal/agent/categories", json={**body, "code": "sans_adresse", "effect": "address_change"},
                    headers=headers)
    assert r.status_code == 422 and "street (text)" in r.json()["errors"]["effect"]
    update = {k: v for k, v in body.items() if k != "code"}
    r = client.put(f"/internal/agent/categories/{created['id']}", json={**update, "active": False}, headers=headers)
    assert r.status_code == 200 and r.json()["active"] is False
    family = world.family()
    codes = [c["code"] for c in client.get("/internal/me/categories", params={"commune": world.commune},
                                           headers=family.headers).json()["items"]]
    assert "garde_horaires" not in codes and "changement_adresse" in codes


def test_dossier_complete_before_an_enrolment(world, client):
    family = world.family()
    r = client.put("/internal/agent/enrolment-requirements/svc-cantine", headers=world.agent_headers,
                   json={"doc_types": ["fiche_sanitaire", "assurance"]})
    assert r.status_code == 200 and len(r.json()["documents"]) == 2
    params = {"service_id": "svc-cantine", "child_id": family.child_id, "family_id": family.family_id}
    status = client.get("/internal/dossier-status", params=params, headers=world.agent_headers).json()
    assert status["complete"] is False and {m["doc_type"] for m in status["missing"]} == {"fiche_sanitaire",
                                                                                         "assurance"}
    world.document(family, "fiche_sanitaire", child_id=family.child_id)
    world.document(family, "assurance")
    from servicekit import tokens

    from requests_testkit import auth

    booking = tokens.Caller(sub="booking", role="system")
    status = client.get("/internal/dossier-status", params={**params, "commune": world.commune},
                        headers=auth(booking)).json()
    assert status["complete"] is True and status["missing"] == []
    own = client.get("/internal/dossier-status", params={"service_id": "svc-cantine", "child_id": family.child_id,
                                                         "commune": world.commune}, headers=family.headers).json()
    assert own["complete"] is True


def test_booking_asks_about_a_family_this_service_has_not_learned_yet(world, client):
    """identity's family.registered may reach requests after booking enrols the child: the family
    holds nothing here yet, so its dossier is complete only where nothing is required."""
    from servicekit import tokens

    from requests_testkit import auth

    booking = auth(tokens.Caller(sub="booking", role="system"))
    client.put("/internal/agent/enrolment-requirements/svc-vacances", headers=world.agent_headers,
               json={"doc_types": ["fiche_sanitaire"]})
    params = {"child_id": "00000000-0000-4000-8000-0000000000aa", "family_id": "00000000-0000-4000-8000-0000000000bb",
              "commune": world.commune}
    r = client.get("/internal/dossier-status", params={**params, "service_id": "svc-vacances"}, headers=booking)
    assert r.status_code == 200 and r.json()["complete"] is False
    assert [m["message"] for m in r.json()["missing"]] == ["« Fiche sanitaire de liaison » est à fournir."]
    r = client.get("/internal/dossier-status", params={**params, "service_id": "svc-other"}, headers=booking)
    assert r.status_code == 200 and r.json()["complete"] is True


def test_two_agents_accepting_at_once_make_one_effect(world, client):
    import threading

    from demandes import flow
    from demandes.domain.states import IllegalTransition

    family = world.family()
    proof = world.document(family, "justificatif_domicile")
    request = world.sent(family, "changement_adresse", ADDRESS, [proof["id"]])
    barrier, outcomes = threading.Barrier(2), []

    def accept():
        barrier.wait()
        try:
            with world.db.transaction() as s:
                flow.decide(s, world.agent, request["id"], {"status": "acceptee"}, "https://x")
            outcomes.append("ok")
        except IllegalTransition:
            outcomes.append("refused")

    threads = [threading.Thread(target=accept) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["ok", "refused"]
    effects = [e for e in outbox_events(world.db, "address_change.accepted.v1") if e["request_id"] == request["id"]]
    assert len(effects) == 1


def test_removing_documents_and_pending_requests_for_sibling_portals(world, client, storage_dir):
    from demandes.storage import FileStore

    family = world.family()
    unused, used = world.document(family), world.document(family)
    sent = world.sent(family, "changement_adresse", ADDRESS, [used["id"]])
    draft = world.draft(family, "autre", {"subject": "Brouillon"})
    before = set(FileStore(storage_dir).keys())

    assert client.delete(f"/internal/me/documents/{unused['id']}", headers=family.headers).status_code == 204
    assert client.delete(f"/internal/me/documents/{used['id']}", headers=family.headers).status_code == 204
    assert len(before - set(FileStore(storage_dir).keys())) == 1  # the unused file is gone from disk
    listed = client.get("/internal/me/documents", params={"commune": world.commune}, headers=family.headers).json()
    assert listed["items"] == []
    assert client.get(used["content_path"], headers=family.headers).status_code == 404
    # The commune keeps what was sent to it.
    assert client.get(used["content_path"], headers=world.agent_headers).status_code == 200
    dossier = client.get("/internal/agent/documents", params={"family_id": family.family_id},
                         headers=world.agent_headers).json()["items"]
    assert [(d["id"], d["removed"]) for d in dossier] == [(used["id"], True)]

    pending = client.get("/internal/me/requests/pending", headers=family.headers).json()
    assert [i["id"] for i in pending["items"]] == [sent["id"]]
    assert draft["id"] not in [i["id"] for i in pending["items"]]
