"""The parents' requests pages (Mes demandes) against a fake of the requests service's parent API
(demandes_fakerequests.py: same paths and shapes, tenancy by the service token)."""
from __future__ import annotations

import io
import re
import secrets

import pytest

from demandes_fakerequests import COMMUNE, FAMILY, ID_CARD, LEA, OTHER_FAMILY, PDF, PICKUP, FakeRequests, make_app
from helpers import closed_port, gateway_app, serve
from pageflows import csrf_token, field_error, sign_in, text

SECRET = "demandes-pages-secret-" + secrets.token_hex(8)
PARENT = {"sub": "parent-1", "email": "camille@example.org", "name": "Camille Martin", "family_id": FAMILY,
          "communes": [{"slug": COMMUNE, "name": "Heillecourt"}], "agent_of": [], "platform_role": "parent"}
FORM = f"/demandes/nouvelle/{PICKUP}"


@pytest.fixture(scope="module")
def fake():
    return FakeRequests(SECRET)


@pytest.fixture(scope="module")
def app(fake, tmp_path_factory):
    var = tmp_path_factory.mktemp("gateway-demandes")
    with serve(make_app(fake)) as requests_url, \
            gateway_app(var, REQUESTS_URL=requests_url, SERVICE_TOKEN_SECRET=SECRET) as application:
        yield application


@pytest.fixture
def client(app, fake):
    fake.__init__(SECRET)  # a fresh family state for each test
    with app.test_client() as c:
        sign_in(c, PARENT)
        yield c


def plain(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def summary(html: str) -> str:
    match = re.search(r'<div class="error-summary".*?</div>', html, re.S)
    return plain(match.group(0)) if match else ""


def answers(**extra) -> dict:
    return {"champ_child": LEA, "champ_person_name": "Jean Dupont", "champ_from_date": "2026-12-07",
            "texte": "Je souhaiterais autoriser Jean Dupont à venir récupérer Léa.", **extra}


def send(client, data: dict, action: str = "envoyer", path: str = FORM, upload: tuple | None = None):
    page = text(client.get(path))
    form = {"csrf_token": csrf_token(client, path), "action": action, **data}
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page)
    if key:
        form["idempotency_key"] = key.group(1)
    action_url = re.search(r'<form method="post" enctype="multipart/form-data"[^>]*action="([^"]+)"', page, re.S)
    if upload:
        form[f"fichier_{ID_CARD}"] = (io.BytesIO(upload[1]), upload[0])
    return client.post(action_url.group(1), data=form, content_type="multipart/form-data")


def test_choose_a_category_then_its_form_with_template_and_documents(client, fake):
    fake.add_document(name="cni-jean.pdf")
    fake.add_document(name="perimee.pdf", valid=False)
    page = text(client.get("/demandes/nouvelle"))
    assert "Autorisation de récupération d'un enfant" in page and f'href="{FORM}"' in page
    assert "Pièce d'identité de la personne autorisée" in plain(page)

    form = text(client.get(FORM))
    assert 'enctype="multipart/form-data"' in form
    assert "Je souhaiterais autoriser … à venir récupérer mon enfant" in form     # template pre-filled
    assert '<option value="child-lea">Léa Martin</option>' in form
    assert 'type="date" id="champ_from_date"' in form
    assert 'type="file" id="fichier_piece_identite"' in form and "Charger un fichier" in form
    assert "Ou ajouter un fichier existant" in form and "cni-jean.pdf" in form
    assert "perimee.pdf" not in form                                             # only still-valid ones
    assert "Formats acceptés : PDF, JPEG, PNG, 5 Mo au plus." in plain(form)


def test_send_with_an_uploaded_pdf(client, fake):
    resp = send(client, answers(), upload=("cni.pdf", PDF))
    assert resp.status_code == 302, text(resp)
    (sent_form, files), = fake.uploads
    assert sent_form == {"commune": COMMUNE, "doc_type": ID_CARD} and files == [("cni.pdf", PDF)]
    (request,) = fake.requests.values()
    assert request["status"] == "envoyee" and request["data"]["person_name"] == "Jean Dupont"
    assert fake.documents[request["document_ids"][0]]["name"] == "cni.pdf"
    detail = text(client.get(resp.headers["Location"]))
    assert "est envoyée à la mairie" in detail and request["reference"] in detail
    assert "Jean Dupont" in detail and "Léa Martin" in detail and "07/12/2026" in detail
    assert "cni.pdf" in detail and "Envoyée" in detail


def test_a_document_about_one_child_is_filed_under_the_child_of_the_form(client, fake):
    fake.per_child = True
    resp = send(client, answers(), upload=("certificat.pdf", PDF))
    assert resp.status_code == 302
    (sent_form, _files), = fake.uploads
    assert sent_form == {"commune": COMMUNE, "doc_type": ID_CARD, "child_id": LEA}


def test_send_reusing_an_existing_document(client, fake):
    doc = fake.add_document(name="cni-jean.pdf")
    resp = send(client, answers(**{f"existant_{ID_CARD}": doc}))
    assert resp.status_code == 302
    (request,) = fake.requests.values()
    assert request["document_ids"] == [doc] and request["status"] == "envoyee" and not fake.uploads


def test_missing_fields_and_document_shown_next_to_them_and_summarised(client, fake):
    resp = send(client, {"champ_child": LEA, "texte": ""})
    html = text(resp)
    assert resp.status_code == 422 and not fake.requests
    assert field_error(html, "champ_person_name") == "« Nom et prénom de la personne autorisée » est obligatoire."
    assert "Complétez le texte de la demande." in field_error(html, "texte")
    assert "Joignez : Pièce d'identité de la personne autorisée." in html
    assert "est obligatoire" in summary(html) and 'href="#champ_person_name"' in html
    assert 'value="child-lea" selected' in html                                   # what was typed stays


def test_refused_upload_shows_the_services_french_message(client, fake):
    fake.refuse_upload = (415, "Ce fichier n'est pas un PDF, un JPEG ou un PNG : son contenu ne correspond pas.")
    resp = send(client, answers(), upload=("cni.pdf", b"MZ\x90\x00 not a pdf"))
    html = text(resp)
    assert resp.status_code == 422 and not fake.requests
    assert "son contenu ne correspond pas" in field_error(html, f"fichier_{ID_CARD}")
    assert "son contenu ne correspond pas" in summary(html)
    assert 'value="Jean Dupont"' in html


def test_scanner_down_refuses_the_file_in_french(client, fake):
    fake.refuse_upload = (503, "L'analyse antivirus est momentanément indisponible.")
    html = text(send(client, answers(), upload=("cni.pdf", PDF)))
    assert "analyse antivirus des fichiers est momentanément indisponible" in field_error(html, f"fichier_{ID_CARD}")
    assert not fake.requests


def test_too_big_file_message(client, fake):
    fake.refuse_upload = (413, "Ce fichier dépasse 5 Mo, la taille maximale pour ce document.")
    html = text(send(client, answers(), upload=("cni.pdf", PDF)))
    assert "dépasse 5 Mo" in field_error(html, f"fichier_{ID_CARD}")


def test_upload_kept_then_field_refused_offers_the_file_again(client, fake):
    resp = send(client, answers(champ_person_name=""), upload=("cni.pdf", PDF))
    html = text(resp)
    assert resp.status_code == 422 and not fake.requests
    (doc_id,) = fake.documents
    assert f'<option value="{doc_id}" selected>cni.pdf' in html                    # no need to upload it again


def test_draft_saved_then_completed_and_sent(client, fake):
    resp = send(client, {"champ_child": LEA}, action="brouillon")
    assert resp.status_code == 302
    (draft,) = fake.requests.values()
    assert draft["status"] == "brouillon"
    detail = text(client.get(resp.headers["Location"]))
    assert "Votre brouillon est enregistré" in detail and "Compléter et envoyer le brouillon" in detail
    edit = f"/demandes/{draft['id']}/modifier"
    assert 'value="child-lea" selected' in text(client.get(edit))
    resp = send(client, answers(), path=edit, upload=("cni.pdf", PDF))
    assert resp.status_code == 302 and draft["status"] == "envoyee"


def test_history_lists_requests_with_status_in_words_and_the_agents_message(client, fake):
    accepted = fake.add_request(status="acceptee", message="Autorisation enregistrée.")
    fake.add_request(status="en_cours")
    fake.add_request(family_id=OTHER_FAMILY, status="refusee")
    html = plain(text(client.get("/demandes")))
    assert "Historique des demandes" in html and "Acceptée" in html and "En cours de traitement" in html
    assert "Refusée" not in html
    detail = text(client.get(f"/demandes/{accepted}"))
    assert "Message de la mairie" in detail and "Autorisation enregistrée." in detail
    assert "Historique" in detail


def test_another_familys_request_and_document_are_404_pages(client, fake):
    other = fake.add_request(family_id=OTHER_FAMILY)
    resp = client.get(f"/demandes/{other}")
    assert resp.status_code == 404 and "Cette demande est introuvable." in text(resp)
    other_doc = fake.requests[other]["document_ids"][0]
    assert client.get(f"/demandes/documents/{other_doc}").status_code == 404
    assert client.get(f"/demandes/{other}/modifier").status_code == 404


def test_document_is_streamed_as_an_attachment(client, fake):
    doc = fake.add_document(name="cni-jean.pdf")
    resp = client.get(f"/demandes/documents/{doc}")
    assert resp.status_code == 200 and resp.data == PDF
    assert resp.headers["Content-Type"] == "application/pdf"
    assert resp.headers["Content-Disposition"] == 'attachment; filename="cni-jean.pdf"'
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_a_sent_request_cannot_be_edited(client, fake):
    sent = fake.add_request(status="envoyee")
    resp = client.get(f"/demandes/{sent}/modifier")
    assert resp.status_code == 409 and "ne peut plus être modifiée" in text(resp)


def test_account_without_family_gets_a_french_page(app):
    with app.test_client() as c:
        sign_in(c, {**PARENT, "family_id": None})
        resp = c.get("/demandes")
        assert resp.status_code == 404 and "pas encore d'espace famille" in text(resp)


def test_a_body_over_the_gateways_limit_shows_the_form_again_with_the_reason(client, fake, app):
    limit = app.config["MAX_CONTENT_LENGTH"]
    resp = send(client, answers(), upload=("enorme.pdf", PDF + b"0" * limit))
    html = text(resp)
    assert resp.status_code == 413 and not fake.uploads and not fake.requests
    assert "dépassent 25 Mo au total" in field_error(html, f"fichier_{ID_CARD}")
    assert "dépassent 25 Mo au total" in summary(html)


def test_a_draft_can_be_deleted(client, fake):
    draft = fake.add_request(status="brouillon")
    edit = f"/demandes/{draft}/modifier"
    resp = client.post(f"/demandes/{draft}/supprimer", data={"csrf_token": csrf_token(client, edit)})
    assert resp.status_code == 302 and draft not in fake.requests
    assert "Le brouillon est supprimé." in text(client.get(resp.headers["Location"]))
