"""The family space: the three tabs of the brochure, one URL each (they work without JavaScript).

    /famille                              COMPTE FAMILLE: family name (editable), login e-mail, communes,
                                          portals connected to the account (consent withdrawable)
    /famille/responsables                 RESPONSABLES: each adult; own contact data; invite a second one
    /famille/enfants                      ENFANTS: the children; add and edit one

The household always comes from identity for the signed-in user (`/internal/me/...`): the
family is found from the user's `sub`, never from anything the browser sends.
"""
from __future__ import annotations

import re

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from gateway import auth, clients, idempotency
from gateway.clients import ServiceError
from gateway.web.account_helpers import (MAX_FIELD_LENGTH, form_failure, form_values, register_filters,
                                         rename_errors)

bp = Blueprint("famille", __name__, url_prefix="/famille")
register_filters(bp)

TABS = [
    ("compte", "Compte famille", "famille.index"),
    ("responsables", "Responsables", "famille.guardians"),
    ("enfants", "Enfants", "famille.children"),
    ("notifications", "Mes notifications", "famille_notifications.index"),  # gateway/web/notifications.py
]
CHILD_FIELDS = ("given_name", "family_name", "birth_date", "school", "class_name")
PICKUP_FIELDS = ("name", "phone", "relation")
MAX_PICKUPS = 50          # identity's limit
BLANK_PICKUP_ROWS = 1     # empty rows offered after the filled ones
MEDICAL_MAX_LENGTH = 10000


class NoHousehold(Exception):
    """The signed-in account has no family (e.g. an agent's account)."""


def _household() -> dict:
    try:
        return clients.identity().get("/internal/me/household")
    except ServiceError as exc:
        if exc.status == 404:
            raise NoHousehold() from exc
        raise


@bp.errorhandler(NoHousehold)
def _no_household(_exc):
    return render_template("famille/sans_famille.html"), 404


def _render(template: str, tab: str, household: dict, status: int = 200, **context):
    return render_template(template, tabs=TABS, tab=tab, household=household, **context), status


# --- COMPTE FAMILLE -------------------------------------------------------------------------
# What each OpenID Connect scope lets a connected portal read, in the parent's words.
SCOPE_LABELS = {"openid": "votre identifiant", "email": "votre adresse e-mail",
                "profile": "votre nom, votre famille et vos communes"}


def _render_compte(household: dict, status: int = 200, **context):
    apps = clients.identity().get("/internal/me/consents")["items"]
    for app in apps:
        app["reads"] = [SCOPE_LABELS.get(scope, scope) for scope in app["scope"]]
    return _render("famille/compte.html", "compte", household, status, apps=apps, **context)


@bp.get("")
@auth.login_required
def index():
    household = _household()
    return _render_compte(household, values={"name": household["family"].get("name", "")}, errors={}, summary={})


@bp.post("/nom")
@auth.login_required
def rename():
    values = form_values(("name",))
    try:
        clients.identity().patch("/internal/me/family", json=values)
    except ServiceError as exc:
        errors, summary = form_failure(exc)
        return _render_compte(_household(), exc.status, values=values, errors=errors, summary=summary)
    flash("Le nom de la famille est enregistré.", "success")
    return redirect(url_for("famille.index"))


@bp.post("/applications/<client_id>/retirer")
@auth.login_required
def revoke_app(client_id: str):
    name = request.form.get("name") or "cette application"
    try:
        clients.identity().delete(clients.internal_path("/internal/me/consents/{}", client_id))
    except ServiceError as exc:
        if exc.status != 404:
            raise
        flash("Cette application n'avait déjà plus accès à votre compte.", "info")
        return redirect(url_for("famille.index"))
    flash(f"{name} n'a plus accès à votre compte.", "success")
    return redirect(url_for("famille.index"))


# --- RESPONSABLES ---------------------------------------------------------------------------
def _render_guardians(household: dict, status: int = 200, contact_values: dict | None = None,
                      contact_errors: dict | None = None, invite_values: dict | None = None,
                      invite_errors: dict | None = None, summary=None):
    me = next((g for g in household.get("guardians") or [] if g.get("is_me")), None)
    if contact_values is None and me is not None:
        contact_values = {"phone": me.get("phone") or "", "email": me.get("email") or ""}
    return _render("famille/responsables.html", "responsables", household, status, me=me,
                   contact_values=contact_values or {}, contact_errors=contact_errors or {},
                   invite_values=invite_values or {"invite_email": ""}, invite_errors=invite_errors or {},
                   summary=summary or {})


@bp.get("/responsables")
@auth.login_required
def guardians():
    return _render_guardians(_household())


@bp.post("/responsables/<guardian_id>")
@auth.login_required
def update_guardian(guardian_id: str):
    values = form_values(("phone", "email"))
    try:
        clients.identity().patch(clients.internal_path("/internal/me/guardians/{}", guardian_id), json=values)
    except ServiceError as exc:
        errors, summary = form_failure(exc)
        return _render_guardians(_household(), exc.status, contact_values=values, contact_errors=errors,
                                 summary=summary)
    flash("Vos coordonnées sont enregistrées.", "success")
    return redirect(url_for("famille.guardians"))


@bp.post("/responsables/inviter")
@auth.login_required
def invite():
    email = form_values(("invite_email",))["invite_email"]
    try:
        clients.identity().post("/internal/me/invitations", json={"email": email},
                                idempotency_key=idempotency.submitted())
    except ServiceError as exc:
        errors, summary = form_failure(exc)
        errors = rename_errors(errors, {"email": "invite_email"})
        summary = rename_errors(summary, {"email": "invite_email"}) if isinstance(summary, dict) else summary
        return _render_guardians(_household(), exc.status, invite_values={"invite_email": email},
                                 invite_errors=errors, summary=summary)
    flash(f"L'invitation est envoyée à {email}. La personne a 48 heures pour créer son accès.", "success")
    return redirect(url_for("famille.guardians"))


# --- ENFANTS --------------------------------------------------------------------------------
@bp.get("/enfants")
@auth.login_required
def children():
    return _render("famille/enfants.html", "enfants", _household())


def _child_values(child: dict | None) -> dict:
    child = child or {}
    values = {name: child.get(name) or "" for name in CHILD_FIELDS}
    values["medical_info"] = child.get("medical_info") or ""
    values["pickups"] = [{f: p.get(f) or "" for f in PICKUP_FIELDS} for p in child.get("pickup_authorisations") or []]
    return values


def _submitted_child() -> dict:
    values = form_values(CHILD_FIELDS)
    values["medical_info"] = (request.form.get("medical_info") or "").strip()[:MEDICAL_MAX_LENGTH]
    try:
        rows = max(0, min(int(request.form.get("pickup_rows", "0")), MAX_PICKUPS))
    except ValueError:
        rows = 0
    pickups = []
    for i in range(rows):
        row = {f: (request.form.get(f"pickup-{i}-{f}") or "").strip()[:MAX_FIELD_LENGTH] for f in PICKUP_FIELDS}
        pickups.append(row)
    values["pickups"] = pickups
    return values


def _payload(values: dict) -> dict:
    body = {name: values[name] for name in (*CHILD_FIELDS, "medical_info")}
    body["pickup_authorisations"] = [p for p in values["pickups"] if any(p.values())]
    return body


_PICKUP_ERROR = re.compile(r"^pickup_authorisations(?:[.\[](\d+)\]?(?:\.(\w+))?)?$")


def child_errors(errors: dict[str, str], pickups: list[dict]) -> dict[str, str]:
    """Identity names errors of pickup rows `pickup_authorisations.<i>.<field>`; the form's ids are
    `pickup-<i>-<field>` and count only the rows that were sent (blank rows are dropped)."""
    sent = [i for i, p in enumerate(pickups) if any(p.values())]
    mapped = {}
    for key, message in errors.items():
        match = _PICKUP_ERROR.match(key)
        if not match:
            mapped[key] = message
            continue
        index, field = match.group(1), match.group(2) or "name"
        row = sent[int(index)] if index is not None and int(index) < len(sent) else (sent[0] if sent else 0)
        mapped[f"pickup-{row}-{field if field in PICKUP_FIELDS else 'name'}"] = message
    return mapped


def _child_form(household: dict, child: dict | None, values: dict, status: int = 200, errors=None, summary=None):
    pickups = values["pickups"]
    # Offer blank rows to fill (one more each time "Ajouter une personne" is pressed).
    blank = sum(1 for p in pickups if not any(p.values()))
    while blank < BLANK_PICKUP_ROWS and len(pickups) < MAX_PICKUPS:
        pickups.append({f: "" for f in PICKUP_FIELDS})
        blank += 1
    return _render("famille/enfant_form.html", "enfants", household, status, child=child, values=values,
                   errors=errors or {}, summary=summary or {}, max_pickups=MAX_PICKUPS)


def _handle_child_post(household: dict, child: dict | None):
    values = _submitted_child()
    action = request.form.get("action") or "save"
    if action == "add_pickup":
        values["pickups"] = [p for p in values["pickups"] if any(p.values())]
        if len(values["pickups"]) < MAX_PICKUPS:
            values["pickups"].append({f: "" for f in PICKUP_FIELDS})
        return _child_form(household, child, values)
    if action.startswith("remove_pickup:"):
        try:
            index = int(action.split(":", 1)[1])
        except ValueError:
            index = -1
        values["pickups"] = [p for i, p in enumerate(values["pickups"]) if i != index]
        return _child_form(household, child, values)
    try:
        if child is None:
            saved = clients.identity().post("/internal/me/children", json=_payload(values),
                                            idempotency_key=idempotency.submitted())
        else:
            saved = clients.identity().patch(clients.internal_path("/internal/me/children/{}", child["id"]),
                                             json=_payload(values))
    except ServiceError as exc:
        errors, summary = form_failure(exc)
        errors = child_errors(errors, values["pickups"])
        summary = errors if isinstance(summary, dict) else summary
        return _child_form(household, child, values, exc.status, errors, summary)
    name = saved.get("given_name") or values["given_name"]
    flash(f"La fiche de {name} est enregistrée." if child else f"{name} est ajouté(e) à votre famille.", "success")
    return redirect(url_for("famille.children"))


@bp.route("/enfants/ajouter", methods=["GET", "POST"])
@auth.login_required
def add_child():
    household = _household()
    if request.method == "POST":
        return _handle_child_post(household, None)
    values = _child_values(None)
    values["family_name"] = household["family"].get("name", "")
    return _child_form(household, None, values)


@bp.route("/enfants/<child_id>/modifier", methods=["GET", "POST"])
@auth.login_required
def edit_child(child_id: str):
    household = _household()
    child = next((c for c in household.get("children") or [] if c.get("id") == child_id), None)
    if child is None:
        abort(404)
    if request.method == "POST":
        return _handle_child_post(household, child)
    return _child_form(household, child, _child_values(child))
