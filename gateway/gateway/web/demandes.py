"""The parents' requests pages ("Mes demandes"), on the requests service's parent API
(services/requests/demandes/openapi.yaml, /internal/me/*). They work without JavaScript.

    /demandes                           "Historique des demandes": the family's requests, status in words
    /demandes/nouvelle                  "Faire une demande": choose a category of the commune
    /demandes/nouvelle/<category_id>    its form: typed fields, the text template, the documents
    /demandes/<id>                      one request: answers, documents, history, the agent's message
    /demandes/<id>/modifier             a draft's form (same page as a new request)
    /demandes/documents/<id>            a document of the family, streamed from the service

Documents: for each document type of the category, "Charger un fichier" (the files go to the
family's documents first, `POST /internal/me/documents`) or "Ajouter un fichier existant"
(a still-valid document of the family). The request is then created (or the draft changed)
with those document ids, and sent when the parent chose "Envoyer": a refused field leaves
nothing half-made, and a file already kept is offered again as an existing document.
The requests service decides what the family may see (another family's request is a 404).
"""
from __future__ import annotations

from flask import (Blueprint, Response, current_app, flash, redirect, render_template, request, stream_with_context,
                   url_for)
from werkzeug.exceptions import RequestEntityTooLarge

from gateway import auth, clients, idempotency
from gateway.clients import ServiceError
from gateway.errors import render_error
from gateway.web.account_helpers import date_fr, register_filters
from gateway.web.demandes_forms import (FORM_STATUSES, answers_from_form, field_name, page_errors,
                                        upload_failure_message, values_from_answers)

bp = Blueprint("demandes", __name__, url_prefix="/demandes")
register_filters(bp)

UPLOAD_TIMEOUT = (2.0, 60.0)      # the service inspects and scans each file
DOWNLOAD_TIMEOUT = (2.0, 30.0)
PER_PAGE = 20
# Words for a status the service did not label (it sends `status_label`).
STATUS_WORDS = {"brouillon": "Brouillon", "envoyee": "Envoyée", "en_cours": "En cours de traitement",
                "acceptee": "Acceptée", "refusee": "Refusée"}


@bp.app_template_filter("statut_demande")
def _status_words(item: dict) -> str:
    return item.get("status_label") or STATUS_WORDS.get(item.get("status"), item.get("status") or "")


@bp.before_request
def _family_only():
    user = auth.current_user()
    if user is not None and not user.get("family_id"):
        return render_template("demandes/sans_famille.html"), 404
    return None


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(exc):
    """A body over the gateway's MAX_CONTENT_LENGTH: nothing of it can be read, so the form is
    shown again (empty) with the reason next to the files."""
    category_id = (request.view_args or {}).get("category_id")
    if request.method != "POST" or request.endpoint != "demandes.create" or not category_id:
        return render_error(413)
    category, children = _category(category_id)
    limit = current_app.config.get("MAX_CONTENT_LENGTH", 0) // (1024 * 1024)
    message = (f"Les fichiers envoyés dépassent {limit} Mo au total : rien n'a été enregistré. "
               "Choisissez un fichier plus petit (la taille maximale de chaque document est indiquée).")
    refusals = {f"fichier_{d['doc_type']}": message for d in (category.get("documents") or [])[:1]}
    return _form_page(category, children, values={"texte": category.get("template") or ""}, chosen={},
                      errors=refusals or {"formulaire": message}, status=413)


# --- history -----------------------------------------------------------------------------------
@bp.get("")
@auth.login_required
def index():
    try:
        page = max(1, min(int(request.args.get("page", "1")), 100000))
    except ValueError:
        page = 1
    listing = clients.demandes().get("/internal/me/requests", params={"page": page, "per_page": PER_PAGE})
    total = listing.get("total") or 0
    return render_template("demandes/index.html", requests=listing.get("items") or [], page=page,
                           has_next=page * PER_PAGE < total, total=total)


@bp.get("/<request_id>")
@auth.login_required
def detail(request_id: str):
    item = _request(request_id)
    children = {c["child_id"]: c for c in _categories(item.get("commune")).get("children") or []}
    return render_template("demandes/detail.html", item=item, answers=_answers_in_words(item, children))


def _request(request_id: str) -> dict:
    return clients.demandes().get(clients.internal_path("/internal/me/requests/{}", request_id))


def _answers_in_words(item: dict, children: dict) -> list[tuple[str, str]]:
    fields = (item.get("category") or {}).get("fields") or []
    data = item.get("data") or {}
    shown = []
    for field in fields:
        value = data.get(field["key"])
        if value is None or value == "":
            continue
        if field["type"] == "child":
            child = children.get(value)
            value = f"{child.get('given_name', '')} {child.get('family_name', '')}".strip() if child else value
        elif field["type"] == "checkbox":
            value = "Oui" if value else "Non"
        elif field["type"] == "date":
            value = date_fr(value) or value
        shown.append((field["label"], str(value)))
    return shown


@bp.get("/documents/<document_id>")
@auth.login_required
def document(document_id: str):
    """The file itself, streamed as the service serves it (attachment, nosniff)."""
    remote = clients.demandes().get(clients.internal_path("/internal/documents/{}/content", document_id),
                                    raw=True, stream=True, timeout=DOWNLOAD_TIMEOUT)
    headers = {"Content-Disposition": remote.headers.get("Content-Disposition", "attachment"),
               "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"}
    if remote.headers.get("Content-Length"):
        headers["Content-Length"] = remote.headers["Content-Length"]
    body = stream_with_context(remote.iter_content(64 * 1024))
    return Response(body, status=200, headers=headers,
                    content_type=remote.headers.get("Content-Type", "application/octet-stream"))


# --- "Faire une demande" -----------------------------------------------------------------------
def _categories(commune: str | None = None) -> dict:
    return clients.demandes().get("/internal/me/categories", params={"commune": commune} if commune else None)


@bp.get("/nouvelle")
@auth.login_required
def choose():
    listing = _categories()
    return render_template("demandes/choisir.html", categories=listing.get("items") or [])


def _category(category_id: str) -> tuple[dict, list[dict]]:
    listing = _categories()
    found = next((c for c in listing.get("items") or [] if c.get("id") == category_id), None)
    if found is None:
        raise ServiceError(404, "Cette thématique est introuvable.")
    return found, listing.get("children") or []


def _existing_documents(category: dict) -> dict[str, list[dict]]:
    """Per document type of the category, the family's documents still valid."""
    found = {}
    for doc in category.get("documents") or []:
        items = clients.demandes().get("/internal/me/documents", params={
            "commune": category["commune"], "doc_type": doc["doc_type"], "valid_only": "true"})["items"]
        found[doc["doc_type"]] = items
    return found


def _form_page(category: dict, children: list[dict], *, values: dict, chosen: dict, draft: dict | None = None,
               errors: dict | None = None, summary=None, status: int = 200):
    return render_template("demandes/formulaire.html", category=category, children=children, values=values,
                           chosen=chosen, existing=_existing_documents(category), draft=draft,
                           errors=errors or {}, summary=summary or errors or {},
                           field_name=field_name, child_options=_child_options(children)), status


def _child_options(children: list[dict]) -> list[tuple[str, str]]:
    return [("", "Choisissez un enfant")] + [
        (c["child_id"], f"{c.get('given_name') or ''} {c.get('family_name') or ''}".strip()) for c in children]


@bp.get("/nouvelle/<category_id>")
@auth.login_required
def new(category_id: str):
    category, children = _category(category_id)
    return _form_page(category, children, values={"texte": category.get("template") or ""}, chosen={})


@bp.post("/nouvelle/<category_id>")
@auth.login_required
def create(category_id: str):
    category, children = _category(category_id)
    return _save(category, children, draft=None)


@bp.get("/<request_id>/modifier")
@auth.login_required
def edit(request_id: str):
    draft = _draft(request_id)
    category, children = _category(draft["category_id"])
    values = {**values_from_answers(category, draft.get("data") or {}), "texte": draft.get("text") or ""}
    chosen = {}
    for doc in draft.get("documents") or []:
        chosen.setdefault(doc["doc_type"], doc["id"])
    return _form_page(category, children, values=values, chosen=chosen, draft=draft)


@bp.post("/<request_id>/modifier")
@auth.login_required
def update(request_id: str):
    draft = _draft(request_id)
    category, children = _category(draft["category_id"])
    return _save(category, children, draft=draft)


@bp.post("/<request_id>/supprimer")
@auth.login_required
def delete(request_id: str):
    clients.demandes().delete(clients.internal_path("/internal/me/requests/{}", request_id))
    flash("Le brouillon est supprimé.", "success")
    return redirect(url_for("demandes.index"))


def _draft(request_id: str) -> dict:
    item = _request(request_id)
    if item.get("status") != "brouillon":
        raise ServiceError(409, "Cette demande est envoyée : elle ne peut plus être modifiée.")
    return item


def _save(category: dict, children: list[dict], draft: dict | None):
    """Upload the new files, then create the request (or change the draft), then send it if asked."""
    send = request.form.get("action") == "envoyer"
    data, values, errors = answers_from_form(category)
    values["texte"] = (request.form.get("texte") or "")[:8000]
    values.update({f"date_{d['doc_type']}": (request.form.get(f"date_{d['doc_type']}") or "")[:10]
                   for d in category.get("documents") or []})
    chosen = {doc["doc_type"]: request.form.get(f"existant_{doc['doc_type']}") or ""
              for doc in category.get("documents") or []}
    errors.update(_upload_files(category, chosen, data))
    if errors:
        return _form_page(category, children, values=values, chosen=chosen, draft=draft, errors=errors, status=422)
    body = {"data": data, "text": values["texte"] or None, "document_ids": [i for i in chosen.values() if i]}
    try:
        if draft is None:
            saved = clients.demandes().post("/internal/me/requests", json={
                "category_id": category["id"], **body, "submit": send}, idempotency_key=idempotency.submitted())
        else:
            path = clients.internal_path("/internal/me/requests/{}", draft["id"])
            saved = clients.demandes().put(path, json=body)
            if send:
                saved = clients.demandes().post(clients.internal_path("/internal/me/requests/{}/submit", draft["id"]))
    except ServiceError as exc:
        if exc.status not in FORM_STATUSES:
            raise
        errors, summary = page_errors(exc, category)
        return _form_page(category, children, values=values, chosen=chosen, draft=draft, errors=errors,
                          summary=summary, status=exc.status)
    if saved.get("status") == "brouillon":
        flash("Votre brouillon est enregistré. Vous pourrez le compléter et l'envoyer plus tard.", "success")
    else:
        flash(f"Votre demande {saved.get('reference') or ''} est envoyée à la mairie.".replace("  ", " "), "success")
    return redirect(url_for("demandes.detail", request_id=saved["id"]))


def _upload_files(category: dict, chosen: dict, data: dict) -> dict[str, str]:
    """"Charger un fichier": each document type's files go to the family's documents; the new
    document becomes the one chosen for that type. A document about one child (`per_child`)
    is filed under the child the form names. Returns the refusals by field."""
    errors, per_child = {}, None
    child_id = next((data.get(f["key"]) for f in category.get("fields") or [] if f["type"] == "child"
                     and data.get(f["key"])), None)
    for doc in category.get("documents") or []:
        code = doc["doc_type"]
        files = [f for f in request.files.getlist(f"fichier_{code}") if f and f.filename]
        if not files:
            continue
        form = {"commune": category["commune"], "doc_type": code}
        issued_on = (request.form.get(f"date_{code}") or "").strip()
        if issued_on:
            form["issued_on"] = issued_on[:10]
        if per_child is None:
            per_child = _per_child_types(category["commune"])
        if code in per_child and child_id:
            form["child_id"] = child_id
        try:
            stored = clients.demandes().post("/internal/me/documents", data=form, timeout=UPLOAD_TIMEOUT,
                                             files=[("file", (f.filename, f.stream, f.mimetype)) for f in files])
        except ServiceError as exc:
            message = upload_failure_message(exc)
            if message is None:
                raise
            errors[f"fichier_{code}"] = message
            continue
        if stored.get("items"):
            chosen[code] = stored["items"][0]["id"]
    return errors


def _per_child_types(commune: str) -> set[str]:
    items = clients.demandes().get("/internal/me/document-types", params={"commune": commune}).get("items") or []
    return {t["code"] for t in items if t.get("per_child")}
