"""iCalendar feeds of the children's bookings, for a phone's calendar.

    /reservations/agenda                       each child's feed: create (a new secret URL, shown
                                               once), revoke
    /calendrier/<token>.ics                    the public feed (the secret token is the credential)

Booking keeps only the token's hash: the URL can be shown only in the answer that created it.
"""
from __future__ import annotations

import re

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, url_for

from gateway import auth, clients
from gateway.clients import ServiceError
from gateway.web.reservations import bp, _children, _name

public_bp = Blueprint("reservations_feed", __name__)

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,100}$")


def feed_url(token: str) -> str:
    base = current_app.config["SERVICE_SETTINGS"].public_url.rstrip("/")
    return f"{base}/calendrier/{token}.ics"


def _feeds(created: dict | None = None) -> list[dict]:
    out = []
    for child in _children().values():
        state = clients.booking().get(clients.internal_path("/internal/parent/children/{}/feed", child["child_id"]))
        item = {"child": child, "name": _name(child), "active": bool(state.get("active")),
                "created_at": state.get("created_at"), "url": None}
        if created and created["child_id"] == child["child_id"]:
            item.update(active=True, created_at=created.get("created_at"), url=created["url"])
        out.append(item)
    return out


@bp.get("/agenda")
@auth.login_required
def feeds():
    return render_template("reservations/agenda.html", feeds=_feeds())


@bp.post("/agenda/<child_id>")
@auth.login_required
def create_feed(child_id: str):
    made = clients.booking().post(clients.internal_path("/internal/parent/children/{}/feed", child_id))
    url = feed_url(made["token"])
    created = {"child_id": child_id, "created_at": made.get("created_at"), "url": url,
               "webcal": "webcal://" + url.split("://", 1)[1]}
    items = _feeds(created)
    return render_template("reservations/agenda.html", feeds=items, created=created,
                           created_name=next((i["name"] for i in items if i["child"]["child_id"] == child_id), ""))


@bp.post("/agenda/<child_id>/revoquer")
@auth.login_required
def revoke_feed(child_id: str):
    clients.booking().delete(clients.internal_path("/internal/parent/children/{}/feed", child_id))
    flash("Le lien d'abonnement est révoqué : les agendas qui l'utilisaient ne se mettent plus à jour.", "success")
    return redirect(url_for("reservations.feeds"))


@public_bp.get("/calendrier/<token>.ics")
def public_feed(token: str):
    if not _TOKEN.match(token):
        abort(404)
    try:
        resp = clients.booking().get(clients.internal_path("/internal/feeds/{}", token),
                                     caller=clients.caller_for(None), raw=True,
                                     headers={"Accept": "text/calendar, application/problem+json"})
    except ServiceError as exc:
        if exc.status in (400, 404):
            abort(404)
        raise
    return Response(resp.content, 200, {"Content-Type": "text/calendar; charset=utf-8",
                                        "Content-Disposition": 'inline; filename="reservations.ics"',
                                        "Cache-Control": "private, max-age=300",
                                        "X-Robots-Tag": "noindex"})
