"""Public pages: home (with the signed-in dashboard), accessibility statement, legal, help."""
from __future__ import annotations

from flask import Blueprint, render_template

from gateway import auth, idempotency

bp = Blueprint("pages", __name__)
# Every template may render a form's idempotency key (_forms.html `idempotency()`).
bp.add_app_template_global(idempotency.new_key, "new_idempotency_key")


@bp.get("/")
def home():
    user = auth.current_user()
    return render_template("pages/home.html", user=user)


@bp.get("/accessibilite")
def accessibility():
    return render_template("pages/accessibilite.html")


@bp.get("/mentions-legales")
def legal():
    return render_template("pages/mentions_legales.html")


@bp.get("/aide")
def help():
    return render_template("pages/aide.html")
