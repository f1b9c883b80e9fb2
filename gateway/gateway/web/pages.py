"""Public pages: home (with the signed-in dashboard), accessibility statement, legal, help."""
from __future__ import annotations

from flask import Blueprint, render_template

from gateway import auth

bp = Blueprint("pages", __name__)


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
