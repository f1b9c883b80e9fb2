"""The agents' requests desk, on the requests service's agent API, for the active commune only.

    /agent/demandes                        the commune's queue (oldest sent first), filters, CSV link
    /agent/demandes/export.csv             the filtered queue as CSV (the service's `;`, UTF-8)
    /agent/demandes/selection              POST: take the ticked requests in hand at once (bulk)
    /agent/demandes/<id>                   one request: answers, documents, history; take it, decide
    /agent/demandes/<id>/decision          POST: en cours, acceptée, refusée (message or reply template)
    /agent/demandes/documents/<id>         a document of the commune, streamed from the service

The service scopes every call to the service token's commune (`as_agent=True`): another
commune's request or document is a 404 whatever the URL says.
"""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, flash, redirect, render_template, request, stream_with_context, url_for

from servicekit import csvexport

from gateway import auth, clients
from gateway.clients import ServiceError
from gateway.web.account_helpers import date_fr, register_filters

bp = Blueprint("agent_demandes", __name__, url_prefix="/agent/demandes")
register_filters(bp)

PER_PAGE = 50
EXPORT_TIMEOUT = (2.0, 60.0)
STATUSES = [("", "Toutes (hors brouillons)"), ("envoyee", "Envoyée"), ("en_cours", "En cours de traitement"),
            ("acceptee", "Acceptée"), ("refusee", "Refusée")]
DECISIONS = {"en_cours": "Prendre en charge", "acceptee": "Accepter", "refusee": "Refuser"}
DONE = {"en_cours": "La demande {ref} est prise en charge.", "acceptee": "La demande {ref} est acceptée.",
        "refusee": "La demande {ref} est refusée."}
FORM_STATUSES = (400, 409, 422)


def _filters() -> tuple[dict, dict]:
    """(the service's query parameters, errors by field) from the page's query string."""
    params, errors = {}, {}
    status = request.args.get("statut", "")
    if status in dict(STATUSES) and status:
        params["status"] = status
    category = (request.args.get("thematique") or "").strip()[:64]
    if category:
        params["category_id"] = category
    reference = (request.args.get("reference") or "").strip()[:30]
    if reference:
        params["reference"] = reference
    dates = (("du", "submitted_from", "Envoyée à partir du"), ("au", "submitted_to", "Envoyée jusqu'au"))
    for name, key, label in dates:
        value = (request.args.get(name) or "").strip()
        if not value:
            continue
        try:
            params[key] = dt.date.fromisoformat(value).isoformat()
        except ValueError:
            errors[name] = f"« {label} » : saisissez une date (jj/mm/aaaa)."
    return params, errors


@bp.get("")
@auth.agent_required
def queue():
    params, errors = _filters()
    try:
        page = max(1, min(int(request.args.get("page", "1")), 100000))
    except ValueError:
        page = 1
    categories = clients.demandes().get("/internal/agent/categories", as_agent=True).get("items") or []
    listing = {"items": [], "total": 0}
    if not errors:
        try:
            listing = clients.demandes().get("/internal/agent/requests", as_agent=True,
                                             params={**params, "page": page, "per_page": PER_PAGE})
        except ServiceError as exc:
            if exc.status not in FORM_STATUSES:
                raise
            errors = {"filtres": exc.detail}
    total = listing.get("total") or 0
    return render_template("agent/demandes/file.html", commune=auth.active_commune(), items=listing.get("items") or [],
                           total=total, page=page, has_next=page * PER_PAGE < total, statuses=STATUSES,
                           categories=categories, args=request.args, errors=errors,
                           export_url=url_for("agent_demandes.export", **request.args.to_dict(flat=True))), \
        422 if errors else 200


@bp.get("/export.csv")
@auth.agent_required
def export():
    params, errors = _filters()
    if errors:
        raise ServiceError(422, " ".join(errors.values()))
    remote = clients.demandes().get("/internal/agent/requests/export.csv", params=params, as_agent=True, raw=True,
                                    timeout=EXPORT_TIMEOUT)
    commune = (auth.active_commune() or {}).get("slug", "commune")
    filename = f"demandes-{commune}-{dt.date.today().isoformat()}.csv"
    # Written again the gateway's way (BOM for French spreadsheets, formula cells neutralised).
    body = csvexport.made_safe(remote.content.decode("utf-8-sig", errors="replace"))
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})


MAX_BULK = 100  # the service's limit


@bp.post("/selection")
@auth.agent_required
def take_selection():
    """"Prendre en charge" for the ticked requests; each succeeds or fails on its own."""
    ids = [i for i in request.form.getlist("demande") if i][:MAX_BULK]
    back = request.form.get("retour") or ""
    back = back if back.startswith("/agent/demandes") and not back.startswith("//") else url_for("agent_demandes.queue")
    if not ids:
        flash("Cochez au moins une demande à prendre en charge.", "error")
        return redirect(back)
    result = clients.demandes().post("/internal/agent/requests/bulk", json={"request_ids": ids, "status": "en_cours"},
                                     as_agent=True)
    done = result.get("done") or 0
    if done:
        flash(f"{done} demande{'s' if done > 1 else ''} prise{'s' if done > 1 else ''} en charge.", "success")
    failed = [r for r in result.get("results") or [] if not r.get("ok")]
    if failed:
        flash(f"{len(failed)} demande{'s' if len(failed) > 1 else ''} non prise{'s' if len(failed) > 1 else ''} "
              f"en charge : {failed[0].get('error') or 'refusée par le service'}", "error")
    return redirect(back)


def _request(request_id: str) -> dict:
    return clients.demandes().get(clients.internal_path("/internal/agent/requests/{}", request_id), as_agent=True)


def _children_names(family_id: str | None) -> dict[str, str]:
    """The family's children by id, from identity (the requests service answers child ids only);
    without identity the page still works and shows the ids."""
    if not family_id:
        return {}
    try:
        family = clients.identity().get(clients.internal_path("/internal/agent/families/{}", family_id), as_agent=True)
    except ServiceError:
        return {}
    return {c.get("id"): f"{c.get('given_name') or ''} {c.get('family_name') or ''}".strip()
            for c in family.get("children") or []}


def _detail_page(item: dict, errors: dict | None = None, values: dict | None = None, status: int = 200):
    templates = clients.demandes().get("/internal/agent/reply-templates", as_agent=True).get("items") or []
    fields = (item.get("category") or {}).get("fields") or []
    children = _children_names(item.get("family_id")) if any(f["type"] == "child" for f in fields) else {}
    answers = []
    for field in fields:
        value = (item.get("data") or {}).get(field["key"])
        if value is None or value == "":
            continue
        if field["type"] == "checkbox":
            value = "Oui" if value else "Non"
        elif field["type"] == "date":
            value = date_fr(value) or value
        elif field["type"] == "child":
            value = children.get(value) or value
        answers.append((field["label"], str(value)))
    return render_template("agent/demandes/demande.html", commune=auth.active_commune(), item=item, answers=answers,
                           templates=templates, decisions=DECISIONS, errors=errors or {}, values=values or {}), status


@bp.get("/<request_id>")
@auth.agent_required
def detail(request_id: str):
    return _detail_page(_request(request_id))


@bp.post("/<request_id>/decision")
@auth.agent_required
def decide(request_id: str):
    status = request.form.get("statut", "")
    if status not in DECISIONS:
        raise ServiceError(400, "Choisissez : prendre en charge, accepter ou refuser.")
    message = (request.form.get("message") or "").strip()[:8000]
    template_id = (request.form.get("modele") or "").strip()[:64]
    body = {"status": status}
    if message:
        body["message"] = message
    if template_id and status != "en_cours":
        body["reply_template_id"] = template_id
    try:
        item = clients.demandes().post(clients.internal_path("/internal/agent/requests/{}/decision", request_id),
                                       json=body, as_agent=True)
    except ServiceError as exc:
        if exc.status not in FORM_STATUSES:
            raise
        errors = {"message": (exc.errors or {}).get("message") or exc.detail}
        return _detail_page(_request(request_id), errors, {"message": message, "modele": template_id}, exc.status)
    flash(DONE[status].format(ref=item.get("reference") or ""), "success")
    return redirect(url_for("agent_demandes.detail", request_id=request_id))


@bp.get("/documents/<document_id>")
@auth.agent_required
def document(document_id: str):
    remote = clients.demandes().get(clients.internal_path("/internal/documents/{}/content", document_id),
                                    as_agent=True, raw=True, stream=True, timeout=(2.0, 30.0))
    headers = {"Content-Disposition": remote.headers.get("Content-Disposition", "attachment"),
               "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"}
    return Response(stream_with_context(remote.iter_content(64 * 1024)), headers=headers,
                    content_type=remote.headers.get("Content-Type", "application/octet-stream"))
