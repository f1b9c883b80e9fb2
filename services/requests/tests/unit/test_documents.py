"""Document rules: names, content (by libmagic, never the name), polyglots, validity, completeness;
clamd's answers; the file store."""
from datetime import date

import pytest

from demandes.domain import documents as rules
from demandes.domain.documents import DocumentRefused, DocumentType, HeldDocument
from demandes.family_documents import detect_media_type
from demandes.scanner import ScannerUnavailable, parse_answer
from demandes.storage import FileStore

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PROOF = DocumentType("justificatif_domicile", "Justificatif de domicile", ("pdf", "jpeg", "png"), 100_000, "months_3")


def check(name, content, doc_type=PROOF):
    return rules.check_content(name, content, detect_media_type(content), doc_type)


def test_names():
    assert rules.clean_filename("  Facture: EDF?.pdf ") == "Facture_ EDF_.pdf"
    assert rules.clean_filename(".cache.pdf") == "cache.pdf"
    for bad in ("../x.pdf", "a\\b.pdf", "..", "x%2fy.pdf", "a\x00.pdf", "a%0a.pdf", "é" * 256, "", None):
        with pytest.raises(DocumentRefused):
            rules.clean_filename(bad)


def test_content_decides():
    assert check("a.pdf", PDF) == "pdf"
    assert check("A.PDF", PDF) == "pdf"
    with pytest.raises(DocumentRefused) as err:
        check("a.png", PDF)
    assert err.value.status == 415 and ".pdf" in err.value.detail
    with pytest.raises(DocumentRefused):
        check("a.pdf", b"MZ\x90\x00" + b"\x00" * 60 + PDF)  # an executable first
    pdf_only = DocumentType("j", "Jugement", ("pdf",), 100_000)
    with pytest.raises(DocumentRefused, match="PDF valide"):
        check("a.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 40, pdf_only)


def test_size_bounds():
    with pytest.raises(DocumentRefused) as err:
        check("a.pdf", PDF + b"0" * 100_000)
    assert err.value.status == 413 and "Ko" in err.value.detail
    with pytest.raises(DocumentRefused, match="vide"):
        check("a.pdf", b"%PDF-1.4")


def _zip() -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("evil.js", "alert(1)")
    return buffer.getvalue()


@pytest.mark.parametrize("extra, words", [(_zip(), "ZIP"), (b"<SCRIPT>x", "script"),
                                          (b"\x7fELF\x02\x01\x01\x00", "exécutable"), (b"<?php echo 1;", "PHP"),
                                          (b"<svg width='1' xmlns='http://www.w3.org/2000/svg'>", "SVG"),
                                          (b"/S /Launch", "actif"), (b"/S /JavaScript", "actif")])
def test_polyglots(extra, words):
    with pytest.raises(DocumentRefused, match=words):
        check("a.pdf", PDF + extra)


def test_short_signatures_in_compressed_data_are_not_polyglots():
    # Bytes a photo or a compressed stream may hold by chance.
    noise = b"PK\x03\x04" + b"\x7fELF" + b"<svg" + b"/JS" + b"<htm"
    assert check("a.pdf", PDF + noise) == "pdf"


def test_validity():
    assert rules.expires_on("months_3", date(2026, 11, 30)) == date(2027, 2, 28)
    assert rules.expires_on("calendar_year", date(2026, 3, 1)) == date(2026, 12, 31)
    assert rules.expires_on("school_year", date(2026, 9, 1)) == date(2027, 8, 31)
    assert rules.expires_on("school_year", date(2027, 3, 1)) == date(2027, 8, 31)
    assert rules.expires_on("none", date(2026, 1, 1)) is None
    today = date(2026, 12, 1)
    assert rules.check_issued_on(PROOF, None, today) == today
    with pytest.raises(DocumentRefused, match="futur"):
        rules.check_issued_on(PROOF, date(2026, 12, 2), today)
    with pytest.raises(DocumentRefused, match="3 mois"):
        rules.check_issued_on(PROOF, date(2026, 8, 31), today)


def test_missing_documents():
    cert = DocumentType("certificat_medical", "Certificat médical", ("pdf",), 1000, per_child=True)
    today = date(2026, 12, 1)
    held = [HeldDocument("1", "justificatif_domicile", None, date(2026, 11, 30)),
            HeldDocument("2", "certificat_medical", "lea", None)]
    missing = rules.missing_documents([PROOF, cert], held, today, child_id="hugo")
    assert [(m["doc_type"], m["reason"]) for m in missing] == [("justificatif_domicile", "expired"),
                                                              ("certificat_medical", "missing")]
    assert rules.missing_documents([cert], held, today, child_id="lea") == []


def test_document_type_definitions():
    assert rules.check_document_type({"code": "x", "label": "X", "formats": ["pdf"], "max_bytes": 2048}, 4096)[
        "validity"] == "none"
    with pytest.raises(Exception) as err:
        rules.check_document_type({"code": "X!", "label": "", "formats": ["exe"], "max_bytes": 10, "validity": "forever",
                                   "per_child": "yes"}, 4096)
    assert set(err.value.errors) == {"code", "label", "formats", "max_bytes", "validity", "per_child"}


def test_clamd_answers():
    assert parse_answer("stream: OK").clean
    verdict = parse_answer("stream: Eicar-Test-Signature FOUND")
    assert not verdict.clean and verdict.signature == "Eicar-Test-Signature"
    with pytest.raises(ScannerUnavailable):
        parse_answer("INSTREAM size limit exceeded. ERROR")


def test_file_store(tmp_path):
    store = FileStore(tmp_path / "docs")
    key = store.put(b"contenu")
    assert store.get(key) == b"contenu" and store.keys() == [key]
    path = tmp_path / "docs" / key[:2] / key
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    with pytest.raises(ValueError):
        store.get("../../etc/passwd")
    store.delete(key)
    assert store.keys() == []
