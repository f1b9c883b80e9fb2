"""The public API's operations (named in openapi/gateway.yaml).

`async def` operations run on connexion's AsyncApp and call services with `_call`
(gateway.api_clients); `me` is a Flask view (registered by gateway.app) because it also accepts
the session cookie.
"""
from __future__ import annotations

import logging
from time import monotonic
from urllib.parse import urlencode

from flask import current_app, request

from connexion import context as connexion_context
from starlette.responses import Response as StarletteResponse

from servicekit import web
from servicekit.web import Problem

from gateway import api_clients, auth, clients, oidc
from gateway.web.signin import user_from_claims

log = logging.getLogger(__name__)

ME_FIELDS = ("sub", "email", "name", "family_id", "communes", "agent_of", "platform_role")


JSON = {"Content-Type": "application/json"}


async def list_communes():
    """The communes are public (asked as the anonymous caller) and change rarely (an operator adds
    one): each process keeps identity's answer GATEWAY_COMMUNES_KEPT_SECONDS (default 5). Bound: a
    commune added, renamed or removed at identity shows through /api/communes at most that later."""
    # Identity's document is the answer: pass its bytes on rather than parse and re-serialise.
    state = web.state()
    kept = state.get("communes_kept")  # (kept until, on monotonic(); identity's body)
    if kept is None or monotonic() >= kept[0]:
        reply = await _call("identity", "GET", "/internal/communes", clients.caller_for(None))
        kept_for = state["settings"].gateway_communes_kept_seconds
        kept = state["communes_kept"] = (monotonic() + kept_for, reply.body)
    return StarletteResponse(kept[1], 200, media_type="application/json")


async def list_pending_requests():
    """For sibling portals: the token's family's pending requests, as the requests service lists them."""
    user = _token_parent()
    reply = await _call("requests", "GET", "/internal/me/requests/pending", clients.caller_for(user))
    return StarletteResponse(reply.body, 200, media_type="application/json")


async def list_invoices(status=None, year=None, page=1, per_page=50):
    """For sibling portals ("Mes factures en ligne"): the token's family's published invoices and
    credit notes, as billing lists them for that parent (billing decides what the family sees)."""
    user = _token_parent()
    query = {"status": status, "year": year, "page": page, "per_page": per_page}
    path = "/internal/parent/invoices?" + urlencode({k: v for k, v in query.items() if v is not None})
    reply = await _call("billing", "GET", path, clients.caller_for(user))
    return StarletteResponse(reply.body, 200, media_type="application/json")


async def get_invoice(invoice_id):
    """One of the token's family's documents with its lines; another family's is billing's 404."""
    user = _token_parent()
    path = clients.internal_path("/internal/parent/invoices/{}", invoice_id)
    reply = await _call("billing", "GET", path, clients.caller_for(user))
    return StarletteResponse(reply.body, 200, media_type="application/json")


def _token_parent() -> dict:
    """The bearer token's user (already checked for the operation's scopes), who must have a family."""
    user = user_from_claims(connexion_context.context["token_info"]["claims"])
    if not user.get("family_id"):
        raise Problem(403, "Ce compte n'est rattaché à aucune famille.")
    return user


async def _call(service: str, method: str, path: str, caller, **kwargs) -> api_clients.Reply:
    """An async operation's call to a service, with the serving app's settings."""
    settings = web.state()["settings"]
    return await api_clients.call(service, method, path, caller=caller, secret=settings.service_token_secret,
                                  base_url=settings.service_url(service), **kwargs)


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def verify_access_token(token: str, operation_id: str) -> dict:
    """identity's access token (auth.decode_access_token) with the scopes the operation
    declares in openapi/gateway.yaml (auth.required_scopes)."""
    claims = auth.decode_access_token(oidc.provider(), current_app.config["SERVICE_SETTINGS"], token)
    auth.require_scopes(claims, auth.required_scopes(operation_id))
    return claims


def me():
    token = _bearer_token()
    if token is not None:
        claims = verify_access_token(token, "me")
        user = user_from_claims(claims)
        body = {k: user.get(k) for k in ME_FIELDS}
        body.update(authenticated_by="bearer", scope=claims.get("scope", ""))
        return {k: v for k, v in body.items() if v is not None}, 200, JSON
    user = auth.current_user()
    if user is None:
        raise Problem(401, "Connectez-vous ou présentez un jeton d'accès.")
    body = {k: user.get(k) for k in ME_FIELDS}
    body["authenticated_by"] = "session"
    return {k: v for k, v in body.items() if v is not None}, 200, JSON
