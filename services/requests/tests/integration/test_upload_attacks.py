"""Upload attacks, each refused with a clear French message and nothing stored (no row, no
file): oversize, content that is not what the name says (an executable renamed .pdf, polyglots),
path traversal and very long names, too many files, a virus when the scanner is on (a real clamd
with the project's own EICAR signature), a scanner that is down."""
from __future__ import annotations

import io

import pytest

from requests_testkit import (EICAR, clamd_socket, pdf_bytes, png_bytes, stored_documents, windows_exe,  # noqa: F401
                              zip_bytes)
from demandes.storage import FileStore

pytestmark = pytest.mark.integration


@pytest.fixture
def family(world):
    return world.family()


def refused(world, family, storage_dir, response, status: int, words: str):
    """The answer is the French refusal expected, and nothing of the family was kept."""
    assert response.status_code == status, response.text
    body = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert words in body["detail"], body["detail"]
    assert stored_documents(world.db, family.family_id) == 0
    return body


@pytest.fixture
def files_on_disk(storage_dir):
    before = set(FileStore(storage_dir).keys())
    yield lambda: set(FileStore(storage_dir).keys()) - before


def test_a_good_file_is_kept_under_a_random_name(world, family, storage_dir, files_on_disk, client):
    r = world.upload(family, [("Facture EDF novembre.pdf", pdf_bytes())])
    assert r.status_code == 201, r.text
    document = r.json()["items"][0]
    assert document["name"] == "Facture EDF novembre.pdf" and document["format"] == "pdf"
    [key] = files_on_disk()
    assert "Facture" not in key and len(key) == 32
    image = world.upload(family, [("photo.png", png_bytes(), "image/png")])
    assert image.status_code == 201 and image.json()["items"][0]["format"] == "png"
    assert client.get(document["content_path"], headers=family.headers).content.startswith(b"%PDF-")


def test_oversize(world, family, storage_dir, files_on_disk):
    big = pdf_bytes() + b"0" * (1024 * 1024)  # the tests' REQUESTS_MAX_FILE_BYTES is 1 Mo
    refused(world, family, storage_dir, world.upload(family, [("gros.pdf", big)]), 413, "trop volumineux")
    # A body beyond what 5 files may weigh is cut before anything parses it.
    huge = b"%PDF-" + b"0" * (6 * 1024 * 1024)
    refused(world, family, storage_dir, world.upload(family, [("enorme.pdf", huge)]), 413, "trop volumineux")
    assert files_on_disk() == set()


@pytest.mark.parametrize("name, content, words", [
    ("facture.pdf", windows_exe(), "n'est pas un fichier"),                     # an executable renamed .pdf
    ("facture.pdf", b"MZ\x90\x00" + pdf_bytes(), "n'est pas un fichier"),       # executable first, PDF after
    ("photo.pdf", png_bytes(), "ne correspond pas à son contenu"),              # a PNG named .pdf
    ("archive.pdf", pdf_bytes() + zip_bytes(), "archive ZIP"),                 # PDF + ZIP polyglot
    ("page.pdf", pdf_bytes() + b"<html><script>alert(1)</script></html>", "script"),     # PDF + HTML polyglot
    ("actif.pdf", pdf_bytes().replace(b"/Type /Catalog",
                                      b"/Type /Catalog /OpenAction << /S /JavaScript /JS (app.alert(1)) >>"),
     "contenu actif"),
    ("texte.pdf", b"Ceci n'est pas un PDF, juste du texte.", "n'est pas un fichier"),
])
def test_content_decides_not_the_name(world, family, storage_dir, files_on_disk, name, content, words):
    refused(world, family, storage_dir, world.upload(family, [(name, content)]), 415, words)
    assert files_on_disk() == set()


def test_image_with_a_pdf_inside(world, family, storage_dir, files_on_disk):
    refused(world, family, storage_dir, world.upload(family, [("photo.png", png_bytes() + pdf_bytes(), "image/png")]),
            415, "document PDF")


@pytest.mark.parametrize("name, words", [
    ("../../etc/passwd.pdf", "chemin"),
    ("..\\..\\windows\\system32.pdf", "chemin"),
    ("dossier%2F..%2Fsecret.pdf", "chemin"),
    ("a" * 300 + ".pdf", "trop long"),
    ("facture\x07.pdf", "contrôle"),
])
def test_names(world, family, storage_dir, files_on_disk, name, words):
    refused(world, family, storage_dir, world.upload(family, [(name, pdf_bytes())]), 422, words)
    assert files_on_disk() == set()


def test_raw_control_character_in_a_multipart_name(world, family, storage_dir, client):
    boundary = "ef-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"commune\"\r\n\r\n{world.commune}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"doc_type\"\r\n\r\njustificatif_domicile\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\x1bb.pdf\"\r\n"
            "Content-Type: application/pdf\r\n\r\n").encode() + pdf_bytes() + f"\r\n--{boundary}--\r\n".encode()
    r = client.post("/internal/me/documents", content=body,
                    headers={**family.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"})
    refused(world, family, storage_dir, r, 422, "contrôle")


def test_too_many_files_at_once(world, family, storage_dir, files_on_disk):
    files = [(f"piece-{n}.pdf", pdf_bytes()) for n in range(6)]
    refused(world, family, storage_dir, world.upload(family, files), 413, "Trop de fichiers")
    assert files_on_disk() == set()


def test_one_bad_file_refuses_the_whole_upload(world, family, storage_dir, files_on_disk):
    files = [("bon.pdf", pdf_bytes()), ("mauvais.pdf", windows_exe())]
    refused(world, family, storage_dir, world.upload(family, files), 415, "mauvais.pdf")
    assert files_on_disk() == set()


def test_too_many_attachments_on_one_request(world, family, client):
    docs = [world.document(family)["id"] for _ in range(11)]
    draft = world.draft(family, "autre", {"subject": "Pièces"}, docs[:10])
    r = client.post(f"/internal/me/requests/{draft['id']}/documents", json={"document_id": docs[10]},
                    headers=family.headers)
    assert r.status_code == 413 and "Trop de fichiers" in r.json()["detail"]
    held = stored_documents(world.db, family.family_id)
    r = client.post(f"/internal/me/requests/{draft['id']}/uploads", headers=family.headers,
                    data={"doc_type": "justificatif_domicile"},
                    files=[("file", ("une-de-trop.pdf", io.BytesIO(pdf_bytes()), "application/pdf"))])
    assert r.status_code == 413 and stored_documents(world.db, family.family_id) == held


def test_upload_onto_a_draft(world, family, client, files_on_disk):
    draft = world.draft(family, "changement_adresse", {"street": "1 rue Neuve"})
    r = client.post(f"/internal/me/requests/{draft['id']}/uploads", headers=family.headers,
                    data={"doc_type": "justificatif_domicile"},
                    files=[("file", ("quittance.pdf", io.BytesIO(pdf_bytes()), "application/pdf"))])
    assert r.status_code == 201, r.text
    assert [d["name"] for d in r.json()["documents"]] == ["quittance.pdf"] and len(files_on_disk()) == 1


def test_infected_file_with_the_scanner_on(world, family, storage_dir, files_on_disk, app, clamd_socket,
                                           monkeypatch):
    monkeypatch.setattr(app.settings, "requests_clamd_socket", clamd_socket)
    clean = world.upload(family, [("propre.pdf", pdf_bytes())])
    assert clean.status_code == 201, clean.text
    infected = pdf_bytes("EICAR").replace(b"trailer", EICAR + b"\ntrailer")
    r = world.upload(family, [("facture.pdf", infected)])
    assert r.status_code == 422 and "virus" in r.json()["detail"] and "EspaceFamille.Test.EICAR" in r.json()["detail"]
    assert stored_documents(world.db, family.family_id) == 1 and len(files_on_disk()) == 1


def test_scanner_down_refuses_the_upload(world, family, storage_dir, files_on_disk, app, monkeypatch, tmp_path):
    monkeypatch.setattr(app.settings, "requests_clamd_socket", str(tmp_path / "no-clamd.sock"))
    refused(world, family, storage_dir, world.upload(family, [("propre.pdf", pdf_bytes())]), 503,
            "antivirus est momentanément indisponible")
    monkeypatch.setattr(app.settings, "requests_clamd_socket", None)
    monkeypatch.setattr(app.settings, "requests_clamd_host", "127.0.0.1")
    monkeypatch.setattr(app.settings, "requests_clamd_port", 9)  # nothing listens (discard)
    refused(world, family, storage_dir, world.upload(family, [("propre.pdf", pdf_bytes())]), 503, "antivirus")
    assert files_on_disk() == set()


def test_malformed_multipart_is_a_french_400(world, family, client):
    boundary = "a222103b9b30b1f9e8be6882ecedb1d2"
    r = client.post("/internal/me/documents", content=f"--{boundary}\r\n[]--{boundary}--\r\n".encode(),
                    headers={**family.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 400 and "mal formé" in r.json()["detail"]
