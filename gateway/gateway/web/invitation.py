"""A second legal guardian accepts the invitation sent from the family space.

    /invitation/<token>             new login: profile + password form; existing account: sign in
    /invitation/<token>/confirmer   an existing account (signed in) joins the family

The link token is the credential: identity checks it on every call (404 unknown, 410 dead).
"""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from gateway import auth, clients
from gateway.clients import ServiceError
from gateway.web.account_helpers import (dead_link_page, form_failure, form_values, login_url,
                                         refresh_session_user, register_filters)

bp = Blueprint("invitation", __name__, url_prefix="/invitation")
register_filters(bp)

ACCEPT_FIELDS = ("family_name", "given_name", "birth_date", "phone")


def _invitation(token: str) -> dict:
    return clients.identity().get(clients.internal_path("/internal/invitations/{}", token))


@bp.route("/<token>", methods=["GET", "POST"])
def accept(token: str):
    try:
        view = _invitation(token)
    except ServiceError as exc:
        return dead_link_page(exc, "invitation")
    if view.get("step") == "confirm":
        return render_template("invitation/compte_existant.html", view=view, token=token,
                               login_href=login_url(url_for("invitation.confirm", token=token)))
    values = {name: "" for name in ACCEPT_FIELDS}
    errors: dict = {}
    summary: dict | list = {}
    if request.method == "POST":
        values = form_values(ACCEPT_FIELDS)
        body = {**values, "password": (request.form.get("password") or "")[:1024]}
        if not body["birth_date"]:
            body.pop("birth_date")  # optional for a second guardian
        try:
            clients.identity().post(clients.internal_path("/internal/invitations/{}/accept", token), json=body)
        except ServiceError as exc:
            if exc.status in (404, 410):
                return dead_link_page(exc, "invitation")
            errors, summary = form_failure(exc)
        else:
            flash("Votre accès est créé. Connectez-vous avec votre adresse e-mail et votre mot de passe "
                  "pour retrouver l'espace de votre famille.", "success")
            return redirect(login_url(url_for("famille.index")))
    return render_template("invitation/accepter.html", view=view, token=token, values=values, errors=errors,
                           summary=summary), 422 if errors or summary else 200


@bp.route("/<token>/confirmer", methods=["GET", "POST"])
@auth.login_required
def confirm(token: str):
    try:
        view = _invitation(token)
    except ServiceError as exc:
        return dead_link_page(exc, "invitation")
    if view.get("step") != "confirm":
        return redirect(url_for("invitation.accept", token=token))
    user = auth.current_user() or {}
    same_person = (user.get("email") or "").lower() == (view.get("email") or "").lower()
    summary: list = []
    if request.method == "POST" and same_person:
        try:
            done = clients.identity().post(clients.internal_path("/internal/invitations/{}/confirm", token))
        except ServiceError as exc:
            if exc.status in (404, 410):
                return dead_link_page(exc, "invitation")
            if exc.status not in (403, 409):
                raise
            summary = [exc.detail]
        else:
            refresh_session_user(family_id=done.get("family_id"))
            flash(f"Vous êtes maintenant responsable de la famille {view.get('family_name', '')}.", "success")
            return redirect(url_for("famille.index"))
    status = 403 if not same_person else (409 if summary else 200)
    return render_template("invitation/confirmer.html", view=view, token=token, user=user,
                           same_person=same_person, summary=summary), status
