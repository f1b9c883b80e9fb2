"""The parents' choice of e-mails, a tab of the family space (notify's `/internal/me/preferences`).

    /famille/notifications      "Mes notifications": optional e-mails as checkboxes, mandatory ones
                                listed as always sent; POST saves (notify's e-mails link here)

notify knows the caller from the service token; the household (for the tab header) comes from identity.
"""
from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for

from gateway import auth, clients
from gateway.web import famille

bp = Blueprint("famille_notifications", __name__, url_prefix="/famille/notifications")

PREFERENCES = "/internal/me/preferences"


@bp.errorhandler(famille.NoHousehold)
def _no_household(exc):
    return famille._no_household(exc)


@bp.get("")
@auth.login_required
def index():
    household = famille._household()
    items = clients.notify().get(PREFERENCES)["items"]
    return famille._render("famille/notifications.html", "notifications", household,
                           optional=[i for i in items if i["optional"]],
                           mandatory=[i for i in items if not i["optional"]])


@bp.post("")
@auth.login_required
def save():
    # Only the kinds notify offers as optional are sent: a ticked box is on, an absent one off.
    items = clients.notify().get(PREFERENCES)["items"]
    chosen = set(request.form.getlist("kind"))
    changes = [{"kind": i["kind"], "enabled": i["kind"] in chosen} for i in items if i["optional"]]
    if changes:
        clients.notify().put(PREFERENCES, json={"items": changes})
    flash("Vos choix de notifications sont enregistrés.", "success")
    return redirect(url_for("famille_notifications.index"))
