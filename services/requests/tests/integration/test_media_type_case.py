"""Media types are case-insensitive (RFC 9110): an upload sent as `Multipart/Form-Data` is served
as one sent in lowercase, and a media type the operation does not take is a 415 problem, never a 500."""
from __future__ import annotations

import pytest
import httpx

from requests_testkit import pdf_bytes, stored_documents

pytestmark = pytest.mark.integration


def _multipart(world, media_type, parameter):
    request = httpx.Request("POST", "http://x/internal/me/documents",
                            data={"commune": world.commune, "doc_type": "justificatif_domicile"},
                            files=[("file", ("justificatif.pdf", pdf_bytes(), "application/pdf"))])
    body = request.read()
    boundary = request.headers["content-type"].partition("boundary=")[2]
    return body, f"{media_type}; {parameter}={boundary}"


@pytest.mark.parametrize("media_type, parameter", [("Multipart/Form-Data", "boundary"),
                                                   ("MULTIPART/FORM-DATA", "boundary"),
                                                   ("multipart/form-data", "Boundary")])
def test_an_upload_in_capitals_is_kept(world, client, media_type, parameter):
    family = world.family()
    body, content_type = _multipart(world, media_type, parameter)
    r = client.post("/internal/me/documents", content=body, headers={**family.headers, "Content-Type": content_type})
    assert r.status_code == 201, (content_type, r.status_code, r.text)
    assert stored_documents(world.db, family.family_id) == 1


@pytest.mark.parametrize("content_type", ["Application/X-WWW-Form-Urlencoded", "text/plain", "Text/Plain"])
def test_another_media_type_is_a_415_problem(world, client, content_type):
    family = world.family()
    r = client.post("/internal/me/documents", content=b"commune=x&doc_type=y",
                    headers={**family.headers, "Content-Type": content_type})
    assert r.status_code == 415, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
