"""The requests service's internal HTTP API: thin async adapters from openapi.yaml operations to
the use cases (catalogue, flow, family_documents, dossiers), run with `Database.run_read/run_write`
in a worker thread. Refusals become problem+json with a French detail, never a 500: a form's
errors (422, per field), an illegal move (409), a refused file (413/415/422, or 503 when the
virus scanner is down), a concurrent write that lost (409).
"""
from __future__ import annotations

from datetime import date
from urllib.parse import quote

from connexion import NoContent, request
from starlette.concurrency import run_in_threadpool

from servicekit import idempotency, web
from servicekit.operations import Operations
from servicekit.web import Problem, current_caller

from demandes import catalogue, dossiers, family_documents, flow, scanner
from demandes.domain.documents import DocumentRefused
from demandes.domain.forms import FormError
from demandes.domain.states import IllegalTransition
from demandes.family_documents import Incoming
from demandes.models import idempotency_keys
from demandes.storage import FileStore

CSV = {"Content-Type": "text/csv; charset=utf-8"}

ops = Operations({
    FormError: lambda exc: Problem(422, exc.detail, errors=exc.errors),
    IllegalTransition: lambda exc: Problem(409, str(exc)),
    DocumentRefused: lambda exc: Problem(exc.status, exc.detail),
})
_problems, _read, _write, _ok = ops.problems, ops.read, ops.write, ops.ok


def _settings():
    return web.state()["settings"]


def _store() -> FileStore:
    return FileStore(_settings().storage_dir)


def _link_base() -> str:
    return _settings().public_url


# --- parents: categories, document types ----------------------------------------------------------
@_problems
async def list_categories_for_family(commune=None):
    return _ok(await _read(catalogue.parent_list_categories, current_caller(), commune))


@_problems
async def list_document_types_for_family(commune):
    return _ok(await _read(catalogue.parent_list_document_types, current_caller(), commune))


# --- parents: documents -----------------------------------------------------------------------------
@_problems
async def list_my_documents(commune, doc_type=None, valid_only=False):
    return _ok(await _read(family_documents.list_family_documents, current_caller(), commune, doc_type, valid_only))


async def _receive_files(caller, commune: str, doc_type: str, child_id, issued_on, files) -> list[dict]:
    """Check, scan, store and record uploaded files; nothing is kept on any refusal."""
    incoming = [Incoming(getattr(f, "filename", None), await f.read(_settings().requests_max_file_bytes + 1))
                for f in (files or [])]
    issued = _date(issued_on, "issued_on")
    ctx = await _read(family_documents.upload_context, caller, commune, doc_type, child_id)
    prepared, issued = await run_in_threadpool(family_documents.inspect, incoming, ctx, issued,
                                               family_documents.paris_today(), scanner.from_settings(_settings()),
                                               _settings().requests_max_file_bytes)
    store = _store()
    keys = await run_in_threadpool(lambda: [store.put(p.content) for p in prepared])
    try:
        return await _write(family_documents.record, caller, ctx, prepared, keys, issued)
    except BaseException:
        await run_in_threadpool(lambda: [store.delete(k) for k in keys])
        raise


def _date(value, name: str) -> date | None:
    if value in (None, ""):
        return None
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise FormError({name: "Une date au format AAAA-MM-JJ est attendue."}) from None


def _form(body) -> dict:
    return body if isinstance(body, dict) else {}


@_problems
async def upload_documents(body=None, file=None):
    form = _form(body)
    items = await _receive_files(current_caller(), form.get("commune"), form.get("doc_type"), form.get("child_id"),
                                 form.get("issued_on"), file)
    return _ok({"items": items}, 201)


@_problems
async def delete_my_document(document_id):
    key = await _write(family_documents.delete_family_document, current_caller(), document_id)
    if key:
        await run_in_threadpool(_store().delete, key)
    return NoContent, 204


@_problems
async def get_document_content(document_id):
    key, media_type, name = await _read(family_documents.content_of, current_caller(), document_id)
    try:
        content = await run_in_threadpool(_store().get, key)
    except FileNotFoundError:
        raise Problem(404, "Le fichier de ce document est introuvable.") from None
    disposition = f"attachment; filename=\"document\"; filename*=UTF-8''{quote(name, safe='')}"
    return content, 200, {"Content-Type": media_type, "Content-Disposition": disposition,
                          "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"}


# --- parents: requests --------------------------------------------------------------------------------
@_problems
async def list_my_requests(status=None, page=1, per_page=25):
    return _ok(await _read(flow.list_my_requests, current_caller(), status, page, per_page))


@_problems
async def list_my_pending_requests():
    return _ok(await _read(flow.pending_for_family, current_caller()))


@_problems
async def create_request(body):
    # A form sent twice (double click, resend) makes one request: the gateway's Idempotency-Key.
    key = idempotency.key_from(request)
    return _ok(await _write(idempotency.once, idempotency_keys, current_caller().sub, "create_request", key, body,
                            flow.create_request, current_caller(), body, _link_base()), 201)


@_problems
async def get_my_request(request_id):
    return _ok(await _read(flow.get_my_request, current_caller(), request_id))


@_problems
async def update_my_request(request_id, body):
    return _ok(await _write(flow.update_draft, current_caller(), request_id, body))


@_problems
async def delete_my_request(request_id):
    await _write(flow.delete_draft, current_caller(), request_id)
    return NoContent, 204


@_problems
async def submit_my_request(request_id):
    return _ok(await _write(flow.submit_request, current_caller(), request_id, _link_base()))


@_problems
async def attach_document(request_id, body):
    return _ok(await _write(flow.attach_document, current_caller(), request_id, body["document_id"]))


@_problems
async def detach_document(request_id, document_id):
    return _ok(await _write(flow.detach_document, current_caller(), request_id, document_id))


@_problems
async def upload_to_request(request_id, body=None, file=None):
    """"Charger un fichier" on a draft: the files become family documents and are attached."""
    caller = current_caller()
    form = _form(body)
    commune = await _read(flow.draft_upload_room, caller, request_id, len(file or []))
    items = await _receive_files(caller, commune, form.get("doc_type"), form.get("child_id"), form.get("issued_on"),
                                 file)
    return _ok(await _write(flow.attach_documents, caller, request_id, [item["id"] for item in items]), 201)


# --- agents ----------------------------------------------------------------------------------------------
@_problems
async def agent_list_categories():
    return _ok(await _read(catalogue.agent_list_categories, current_caller()))


@_problems
async def agent_create_category(body):
    return _ok(await _write(catalogue.create_category, current_caller(), body), 201)


@_problems
async def agent_get_category(category_id):
    return _ok(await _read(catalogue.agent_get_category, current_caller(), category_id))


@_problems
async def agent_update_category(category_id, body):
    return _ok(await _write(catalogue.update_category, current_caller(), category_id, body))


@_problems
async def agent_list_document_types():
    return _ok(await _read(catalogue.agent_list_document_types, current_caller()))


@_problems
async def agent_put_document_type(code, body):
    return _ok(await _write(catalogue.put_document_type, current_caller(), code, body,
                            _settings().requests_max_file_bytes))


@_problems
async def agent_list_reply_templates():
    return _ok(await _read(catalogue.list_reply_templates, current_caller()))


@_problems
async def agent_create_reply_template(body):
    return _ok(await _write(catalogue.create_reply_template, current_caller(), body), 201)


@_problems
async def agent_update_reply_template(template_id, body):
    return _ok(await _write(catalogue.update_reply_template, current_caller(), template_id, body))


@_problems
async def agent_delete_reply_template(template_id):
    await _write(catalogue.delete_reply_template, current_caller(), template_id)
    return NoContent, 204


def _filters(status, category_id, family_id, submitted_from, submitted_to, reference) -> dict:
    return {"status": status, "category_id": category_id, "family_id": family_id,
            "submitted_from": _date(submitted_from, "submitted_from"),
            "submitted_to": _date(submitted_to, "submitted_to"), "reference": reference}


@_problems
async def agent_queue(status=None, category_id=None, family_id=None, submitted_from=None, submitted_to=None,
                      reference=None, page=1, per_page=25):
    filters = _filters(status, category_id, family_id, submitted_from, submitted_to, reference)
    return _ok(await _read(flow.agent_queue, current_caller(), page, per_page, **filters))


@_problems
async def agent_export_requests(status=None, category_id=None, family_id=None, submitted_from=None,
                                submitted_to=None, reference=None):
    filters = _filters(status, category_id, family_id, submitted_from, submitted_to, reference)
    text = await _read(flow.export_csv, current_caller(), **filters)
    return text, 200, {**CSV, "Content-Disposition": 'attachment; filename="demandes.csv"'}


@_problems
async def agent_get_request(request_id):
    return _ok(await _read(flow.agent_get_request, current_caller(), request_id))


@_problems
async def agent_decide(request_id, body):
    return _ok(await _write(flow.decide, current_caller(), request_id, body, _link_base()))


@_problems
async def agent_bulk_decide(body):
    return _ok(await _write(flow.bulk_decide, current_caller(), body, _link_base()))


@_problems
async def agent_summary():
    return _ok(await _read(flow.agent_summary, current_caller()))


@_problems
async def agent_list_documents(family_id, doc_type=None, child_id=None):
    return _ok(await _read(family_documents.agent_list_documents, current_caller(), family_id, doc_type, child_id))


@_problems
async def agent_get_enrolment_requirements(service_id):
    return _ok(await _read(catalogue.get_enrolment_requirements, current_caller(), service_id))


@_problems
async def agent_put_enrolment_requirements(service_id, body):
    return _ok(await _write(catalogue.put_enrolment_requirements, current_caller(), service_id, body))


# --- dossier completeness (booking, the gateway) -------------------------------------------------------------
@_problems
async def dossier_status(service_id, child_id, family_id=None, commune=None):
    return _ok(await _read(dossiers.dossier_status, current_caller(), service_id, child_id, family_id, commune))
