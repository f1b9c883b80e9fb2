"""The agents' back office for families, scoped to the agent's active commune.

    /agent/                               the back office's home
    /agent/familles                       families: search, status filter, pages; "Inscrire une famille"
    /agent/familles.csv                   the same list (all pages) as CSV
    /agent/familles/<id>                  one family: link history, responsables, children
    /agent/familles/<id>/renvoyer         POST: a new activation link (the previous one dies)

Identity scopes every call to the commune of the service token (`as_agent=True`): a family of
another commune answers 404, whatever the URL says.
"""
from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import urlencode

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from servicekit import csvexport

from gateway import auth, clients, idempotency
from gateway.clients import ServiceError
from gateway.web.account_helpers import (datetime_fr, date_fr, form_failure, form_values,
                                         register_filters)

bp = Blueprint("agent", __name__, url_prefix="/agent")
register_filters(bp)

PER_PAGE = 25
CSV_PAGE_SIZE = 100  # identity's maximum page size
CSV_MAX_PAGES = 500  # 50,000 families: far beyond a commune, bounds the export's cost
STATUS_FILTERS = [("", "Tous les statuts"), ("pending", "En attente d'activation"), ("active", "Compte activé")]
REGISTER_FIELDS = ("family_name", "email")


def link_status(family: dict) -> dict:
    """What an agent needs to know about a family's activation, in words: {label, tone}.

    tone is success | warning | muted (a badge style; the label always carries the meaning).
    """
    if family.get("status") == "active":
        when = date_fr(family.get("activated_at"))
        return {"label": f"Compte activé le {when}" if when else "Compte activé", "tone": "success"}
    link = family.get("activation") or {}
    state = link.get("state")
    if state == "expired":
        return {"label": "Lien expiré", "tone": "error"}
    if state == "used":
        return {"label": "Lien utilisé, activation en cours", "tone": "muted"}
    if state == "valid" and link.get("send_failed_at") and not link.get("sent_at"):
        # notify gave up: the address is probably wrong; the agent checks it and re-sends.
        return {"label": f"Échec de l'envoi le {datetime_fr(link['send_failed_at'])} (vérifiez l'adresse)",
                "tone": "error"}
    if state == "valid" and link.get("sent_at"):
        return {"label": f"Lien envoyé le {datetime_fr(link['sent_at'])}", "tone": "muted"}
    return {"label": "En attente d'envoi", "tone": "warning"}


def _filters() -> dict:
    """The list's filters from the query string, made safe (bad values fall back to defaults)."""
    q = (request.args.get("q") or "").strip()[:200]
    status = request.args.get("status") or ""
    if status not in {value for value, _ in STATUS_FILTERS}:
        status = ""
    try:
        page = max(1, min(int(request.args.get("page", "1")), 100000))
    except ValueError:
        page = 1
    return {"q": q, "status": status, "page": page}


def _query(filters: dict, page: int, per_page: int) -> str:
    params = {"page": page, "per_page": per_page}
    if filters["q"]:
        params["q"] = filters["q"]
    if filters["status"]:
        params["status"] = filters["status"]
    return "/internal/agent/families?" + urlencode(params)


def _list_page(filters: dict) -> dict:
    return clients.identity().get(_query(filters, filters["page"], PER_PAGE), as_agent=True)


def _page_url(filters: dict, page: int, endpoint: str = "agent.families") -> str:
    args = {k: v for k, v in {"q": filters["q"], "status": filters["status"]}.items() if v}
    if page > 1:
        args["page"] = page
    return url_for(endpoint, **args)


@bp.get("")
@auth.agent_required
def index():
    return render_template("agent/index.html", commune=auth.active_commune())


@bp.get("/familles")
@auth.agent_required
def families():
    return _render_families(values={"family_name": "", "email": ""}, errors={}, summary={})


def _render_families(values: dict, errors: dict, summary, status: int = 200):
    filters = _filters()
    result = _list_page(filters)
    total = int(result.get("total") or 0)
    pages = max(1, -(-total // PER_PAGE))
    items = [dict(f, link_status=link_status(f)) for f in result.get("items") or []]
    return render_template(
        "agent/familles.html", commune=auth.active_commune(), families=items, total=total,
        filters=filters, pages=pages, status_filters=STATUS_FILTERS, values=values, errors=errors,
        summary=summary,
        prev_url=_page_url(filters, filters["page"] - 1) if filters["page"] > 1 else None,
        next_url=_page_url(filters, filters["page"] + 1) if filters["page"] < pages else None,
        csv_url=_page_url(dict(filters), 1, "agent.families_csv"),
    ), status


@bp.post("/familles")
@auth.agent_required
def register():
    values = form_values(REGISTER_FIELDS)
    try:
        family = clients.identity().post("/internal/agent/families", json=values, as_agent=True,
                                         idempotency_key=idempotency.submitted())
    except ServiceError as exc:
        errors, summary = form_failure(exc)
        return _render_families(values, errors, summary, status=exc.status)
    flash(f"La famille {family.get('name') or values['family_name']} est inscrite. "
          f"Un e-mail d'activation va être envoyé à {family.get('login_email') or values['email']}.", "success")
    return redirect(url_for("agent.families"))


@bp.get("/familles/<family_id>")
@auth.agent_required
def family(family_id: str):
    detail = clients.identity().get(clients.internal_path("/internal/agent/families/{}", family_id),
                                    as_agent=True)
    history = [dict(link, label=_link_history_label(link)) for link in detail.get("activations") or []]
    return render_template("agent/famille.html", commune=auth.active_commune(), family=detail,
                           status=link_status(detail), history=history)


def _link_history_label(link: dict) -> str:
    return {"valid": "Valide", "expired": "Expiré", "used": "Utilisé",
            "superseded": "Remplacé par un lien plus récent"}.get(link.get("state") or "", "Inconnu")


@bp.post("/familles/<family_id>/renvoyer")
@auth.agent_required
def resend(family_id: str):
    back = request.form.get("next") or ""
    if not back.startswith("/agent/"):
        back = url_for("agent.families")
    try:
        family = clients.identity().post(
            clients.internal_path("/internal/agent/families/{}/activation/resend", family_id), as_agent=True)
    except ServiceError as exc:
        if exc.status not in (409, 429, 503):
            raise
        flash(exc.detail, "error")
        return redirect(back)
    flash(f"Un nouveau lien d'activation va être envoyé à {family.get('login_email', '')}. "
          "L'ancien lien ne fonctionne plus.", "success")
    return redirect(back)


@bp.get("/familles.csv")
@auth.agent_required
def families_csv():
    filters = _filters()
    rows = []
    for page in range(1, CSV_MAX_PAGES + 1):
        result = clients.identity().get(_query(filters, page, CSV_PAGE_SIZE), as_agent=True)
        items = result.get("items") or []
        rows.extend(items)
        if not items or page * CSV_PAGE_SIZE >= int(result.get("total") or 0):
            break
    commune = auth.active_commune() or {}
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    return Response(
        families_csv_text(rows), mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="familles-{commune.get("slug", "commune")}-{stamp}.csv"',
                 "Cache-Control": "no-store"},
    )


CSV_COLUMNS = ["Nom de la famille", "E-mail de connexion", "Statut", "Inscrite le", "Lien envoyé le",
               "Lien expire le", "Activée le"]


def families_csv_text(families: list[dict]) -> str:
    """CSV for French spreadsheets (servicekit.csvexport: `;`, UTF-8 with BOM, formulas neutralised)."""
    return csvexport.csv_text(CSV_COLUMNS, (_csv_row(f) for f in families))


def _csv_row(f: dict) -> tuple:
    link = f.get("activation") or {}
    return (f.get("name"), f.get("login_email"), link_status(f)["label"], datetime_fr(f.get("registered_at")),
            datetime_fr(link.get("sent_at")), datetime_fr(link.get("expires_at")) if f.get("status") != "active" else "",
            datetime_fr(f.get("activated_at")))
