"""Activation of a family account from the link of the activation e-mail.

    /activation/<token>                 where the link leads (dead link, step 1, step 2, sign in to confirm)
    /activation/<token>/profil          step 1/2: the responsable's profile
    /activation/<token>/mot-de-passe    step 2/2: the password, then sign in
    /activation/<token>/confirmer       an existing account joins the commune (signed in)

The link token is the credential: identity checks it on every call (404 unknown, 410 dead).
"""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from gateway import auth, clients
from gateway.clients import ServiceError
from gateway.web.account_helpers import (dead_link_page, form_failure, form_values, login_url,
                                         refresh_session_user, register_filters)

bp = Blueprint("activation", __name__, url_prefix="/activation")
register_filters(bp)

PROFILE_FIELDS = ("family_name", "given_name", "birth_date", "street", "postcode", "city", "email", "phone")


def _activation(token: str) -> dict:
    return clients.identity().get(clients.internal_path("/internal/activations/{}", token))


def _step_url(token: str, step: str) -> str:
    return {
        "profile": url_for("activation.profile", token=token),
        "password": url_for("activation.password", token=token),
        "confirm": url_for("activation.start", token=token),
    }[step]


@bp.get("/<token>")
def start(token: str):
    try:
        view = _activation(token)
    except ServiceError as exc:
        return dead_link_page(exc, "activation")
    if view.get("step") == "confirm":
        return render_template("activation/compte_existant.html", view=view, token=token,
                               login_href=login_url(url_for("activation.confirm", token=token)))
    return redirect(_step_url(token, view.get("step") or "profile"))


@bp.route("/<token>/profil", methods=["GET", "POST"])
def profile(token: str):
    try:
        view = _activation(token)
    except ServiceError as exc:
        return dead_link_page(exc, "activation")
    if view.get("step") == "confirm":
        return redirect(url_for("activation.start", token=token))
    errors: dict = {}
    summary: dict | list = {}
    saved = view.get("profile") or {}
    values = {name: saved.get(name) or "" for name in PROFILE_FIELDS}
    values["email"] = values["email"] or view.get("email") or ""
    if _is_post():
        values = form_values(PROFILE_FIELDS)
        try:
            clients.identity().post(clients.internal_path("/internal/activations/{}/profile", token), json=values)
            return redirect(url_for("activation.password", token=token))
        except ServiceError as exc:
            if exc.status in (404, 410):
                return dead_link_page(exc, "activation")
            errors, summary = form_failure(exc)
    return render_template("activation/profil.html", view=view, token=token, values=values,
                           errors=errors, summary=summary), 422 if errors or summary else 200


@bp.route("/<token>/mot-de-passe", methods=["GET", "POST"])
def password(token: str):
    try:
        view = _activation(token)
    except ServiceError as exc:
        return dead_link_page(exc, "activation")
    if view.get("step") != "password":
        return redirect(url_for("activation.start", token=token))
    errors: dict = {}
    summary: dict | list = {}
    if _is_post():
        try:
            clients.identity().post(clients.internal_path("/internal/activations/{}/password", token),
                                    json={"password": (request.form.get("password") or "")[:1024]})
        except ServiceError as exc:
            if exc.status in (404, 410):
                return dead_link_page(exc, "activation")
            errors, summary = form_failure(exc)
        else:
            flash("Votre compte est activé. Connectez-vous avec votre adresse e-mail et votre mot de passe "
                  "pour accéder à votre espace famille.", "success")
            return redirect(login_url(url_for("famille.index")))
    return render_template("activation/mot_de_passe.html", view=view, token=token,
                           errors=errors, summary=summary), 422 if errors or summary else 200


@bp.route("/<token>/confirmer", methods=["GET", "POST"])
@auth.login_required
def confirm(token: str):
    try:
        view = _activation(token)
    except ServiceError as exc:
        return dead_link_page(exc, "activation")
    if view.get("step") != "confirm":
        return redirect(url_for("activation.start", token=token))
    user = auth.current_user() or {}
    same_person = (user.get("email") or "").lower() == (view.get("email") or "").lower()
    summary: list = []
    if _is_post() and same_person:
        try:
            done = clients.identity().post(clients.internal_path("/internal/activations/{}/confirm", token))
        except ServiceError as exc:
            if exc.status in (404, 410):
                return dead_link_page(exc, "activation")
            if exc.status not in (403, 409):
                raise
            summary = [exc.detail]
        else:
            commune = done.get("commune") or view.get("commune") or {}
            refresh_session_user(family_id=done.get("family_id"), add_commune=commune)
            flash(f"Votre compte est maintenant associé à la commune {commune.get('name', '')}.", "success")
            return redirect(url_for("famille.index"))
    status = 403 if not same_person else (409 if summary else 200)
    return render_template("activation/confirmer.html", view=view, token=token, user=user,
                           same_person=same_person, summary=summary), status


def _is_post() -> bool:
    return request.method == "POST"
