"""Development only: the e-mails caught by the local mail catcher (404 in other modes)."""
from __future__ import annotations

import re

from flask import Blueprint, abort, current_app, render_template
from markupsafe import Markup, escape

from gateway import clients
from gateway.errors import render_error

bp = Blueprint("devmails", __name__, url_prefix="/dev/mails")

URL = re.compile(r"https?://[^\s<>\"']+")


@bp.before_request
def _development_only():
    if current_app.config["SERVICE_SETTINGS"].ef_env != "development":
        abort(404)


def _get(path: str):
    base = current_app.config["SERVICE_SETTINGS"].mailcatcher_url
    resp = clients.pooled_session("mailcatcher").get(
        base + path, timeout=(clients.CONNECT_TIMEOUT, clients.READ_TIMEOUT))
    if resp.status_code == 404:
        abort(404)
    resp.raise_for_status()
    return resp.json()


def linkify(text: str) -> Markup:
    """Escape the text and make its http(s) links clickable."""
    out, last = [], 0
    for match in URL.finditer(text):
        url = match.group(0).rstrip(".,;:)")
        out.append(escape(text[last:match.start()]))
        out.append(Markup('<a href="{0}">{0}</a>').format(url))
        last = match.start() + len(url)
    out.append(escape(text[last:]))
    return Markup("").join(out)


@bp.get("/")
def index():
    try:
        mails = _get("/messages")
    except (clients.http.RequestException, ValueError):
        return render_error(503, "Le récepteur de courriels de développement ne répond pas (MAILCATCHER_URL).")
    mails = sorted(mails, key=lambda m: m.get("date") or "", reverse=True)
    return render_template("dev/mails.html", mails=mails)


@bp.get("/<mail_id>")
def show(mail_id: str):
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,100}", mail_id):
        abort(404)
    try:
        mail = _get(f"/messages/{mail_id}")
    except (clients.http.RequestException, ValueError):
        return render_error(503, "Le récepteur de courriels de développement ne répond pas (MAILCATCHER_URL).")
    return render_template("dev/mail.html", mail=mail, text=linkify(mail.get("text") or ""))
