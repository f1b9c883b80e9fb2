"""The commune's undeliverable e-mail addresses, for agents (notify's `/internal/undeliverable-addresses`).

    /agent/adresses-en-echec    addresses a mail server refused for good, most recent first

notify scopes the list to the service token's commune (`as_agent=True`).
"""
from __future__ import annotations

from flask import Blueprint, render_template

from gateway import auth, clients
from gateway.web.account_helpers import register_filters

bp = Blueprint("agent_notifications", __name__, url_prefix="/agent")
register_filters(bp)

LIMIT = 500  # notify's maximum page: far more refused addresses than a commune has


@bp.get("/adresses-en-echec")
@auth.agent_required
def undeliverable():
    items = clients.notify().get(f"/internal/undeliverable-addresses?limit={LIMIT}", as_agent=True)["items"]
    return render_template("agent/adresses_en_echec.html", commune=auth.active_commune(), addresses=items)
