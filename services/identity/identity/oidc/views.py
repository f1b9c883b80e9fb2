"""HTTP endpoints of the provider, under /oidc (the gateway proxies /oidc/* here unchanged)."""
from __future__ import annotations

import logging
import time
from urllib.parse import urlencode

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import AccessDeniedError, InvalidRequestError
from authlib.oidc.core.errors import ConsentRequiredError, LoginRequiredError
from flask import Blueprint, Response, g, jsonify, redirect, render_template, request

from identity import sessions
from identity.models import User
from identity.oidc import consent, context, keys, scopes, tickets, tokens
from identity.oidc.logout import sessions_ended
from identity.oidc.server import Server

log = logging.getLogger(__name__)

# Marks an authorize URL sent through the login page: the session must have authenticated
# after this time (prompt=login, max_age), so coming back does not loop to the login page.
AUTH_AFTER = "ef_auth_after"

bp = Blueprint("oidc_provider", __name__, url_prefix="/oidc")


def server() -> Server:
    from flask import current_app

    return current_app.extensions["oidc_server"]


def _endpoint(name: str) -> str:
    return context.settings().oidc_issuer.rstrip("/") + name


# --- discovery and keys ------------------------------------------------------------------------
@bp.get("/.well-known/openid-configuration")
def discovery():
    issuer = context.settings().oidc_issuer.rstrip("/")
    doc = {
        "issuer": issuer,
        "authorization_endpoint": _endpoint("/authorize"),
        "token_endpoint": _endpoint("/token"),
        "userinfo_endpoint": _endpoint("/userinfo"),
        "jwks_uri": _endpoint("/jwks"),
        "revocation_endpoint": _endpoint("/revoke"),
        "introspection_endpoint": _endpoint("/introspect"),
        "end_session_endpoint": _endpoint("/end-session"),
        "scopes_supported": list(scopes.SUPPORTED),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [keys.ALG],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_supported": sorted({c for names in scopes.SCOPE_CLAIMS.values() for c in names}
                                   | {"iss", "aud", "exp", "iat", "auth_time", "nonce", "sid", "amr", "at_hash", "azp"}),
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "frontchannel_logout_supported": False,
        "ui_locales_supported": ["fr"],
    }
    resp = jsonify(doc)
    resp.headers["Cache-Control"] = "public, max-age=300"
    return resp


@bp.get("/jwks")
def jwks():
    with context.unit_of_work() as s:
        doc = keys.public_jwks(s)
    resp = jsonify(doc)
    resp.headers["Cache-Control"] = f"public, max-age={keys.JWKS_MAX_AGE}"
    return resp


# --- authorization endpoint --------------------------------------------------------------------
def _error_page(title: str, message: str, status: int = 400):
    return render_template("oidc_error.html", title=title, message=message), status


def _authorize_error(error: OAuth2Error):
    if error.redirect_uri:
        return server().handle_error_response(None, error)
    # No verified redirect URI (unknown client, unregistered redirect_uri...): never redirect.
    log.info("authorization request refused without redirect: %s %s", error.error, error.description)
    return _error_page("Demande de connexion refusée",
                       "L'application qui vous a envoyé ici a fait une demande incorrecte ou n'est pas "
                       "reconnue. Revenez à l'application et réessayez ; si le problème continue, "
                       "contactez son service d'assistance.")


def _redirect_error(error_cls, grant, description: str):
    error = error_cls(description=description, redirect_uri=grant.redirect_uri)
    error.state = grant.request.payload.state
    return server().handle_error_response(None, error)


def _login_redirect(force: bool):
    """Send the browser to the sign-in page, then back to this very authorization request."""
    params = [(k, v) for k, v in request.values.items(multi=True) if k not in ("ticket", "decision", AUTH_AFTER)]
    if force:
        params = [(k, " ".join(p for p in v.split() if p != "login")) if k == "prompt" else (k, v) for k, v in params]
        params = [(k, v) for k, v in params if not (k == "prompt" and not v)]
        params.append((AUTH_AFTER, str(int(time.time()))))
    next_url = request.path + "?" + urlencode(params)
    query = {"next": next_url}
    if force:
        query["prompt"] = "login"
    return redirect(sessions.LOGIN_URL + "?" + urlencode(query))


def _needs_fresh_login(sso, prompts: set[str], grant) -> bool:
    """prompt=login and max_age ask for an authentication newer than the request."""
    auth_after = request.values.get(AUTH_AFTER, "")
    auth_time = int(sso.auth_time.timestamp())
    if auth_after.isdigit():
        # Back from the login page: the session must be at least as fresh as the detour.
        return auth_time < int(auth_after)
    if "login" in prompts:
        return True
    max_age = request.values.get("max_age")
    if max_age is not None:
        if not max_age.isdigit():
            raise InvalidRequestError("Invalid 'max_age' parameter.", redirect_uri=grant.redirect_uri,
                                      state=grant.request.payload.state)
        return time.time() - auth_time > int(max_age)
    return False


@bp.route("/authorize", methods=["GET", "POST"])
def authorize():
    with context.unit_of_work() as s:
        sso = sessions.current(s, request)
        user = s.get(User, sso.user_id) if sso else None
        if user is None:
            sso = None
        try:
            grant = server().get_consent_grant(end_user=user)
            prompts = set((request.values.get("prompt") or "").split())
            if sso is not None and _needs_fresh_login(sso, prompts, grant):
                if "none" in prompts:
                    return _redirect_error(LoginRequiredError, grant, "A new authentication is required.")
                return _login_redirect(force=True)
        except OAuth2Error as error:
            return _authorize_error(error)
        if sso is None:
            return _login_redirect(force=False)

        client, scope = grant.client, grant.request.scope or ""
        if client.first_party:
            consent.ensure_implicit(s, user.id, client, scope)
        elif "consent" in prompts or not consent.has_consent(s, user.id, client, scope):
            if "none" in prompts:
                return _redirect_error(ConsentRequiredError, grant, "The user has not consented yet.")
            answer = _consent_answer(s, sso, client, scope)
            if answer is None:
                return _consent_page(s, sso, client, scope)
            if answer is False:
                return _redirect_error(AccessDeniedError, grant, "The user refused.")
            consent.record(s, user.id, client, scope, "explicit")

        g.oidc_sso = sso
        return server().create_authorization_response(grant=grant, grant_user=user)


def _consent_answer(s, sso, client, scope) -> bool | None:
    """True/False when this POST is the user's answer on our consent page, else None."""
    if request.method != "POST" or request.form.get("decision") not in ("accept", "deny"):
        return None
    if not tickets.consume(s, request.form.get("ticket"), "consent", sso.sid, client.client_id, scope):
        return None  # stale or forged form: ask again
    return request.form["decision"] == "accept"


def _consent_page(s, sso, client, scope):
    ticket = tickets.issue(s, "consent", sso.sid, client.client_id, scope)
    items = [scopes.SCOPE_DESCRIPTIONS_FR[x] for x in scope.split() if x in scopes.SCOPE_DESCRIPTIONS_FR]
    query = urlencode([(k, v) for k, v in request.values.items(multi=True) if k not in ("ticket", "decision")])
    resp = Response(render_template("oidc_consent.html", client=client, items=items, ticket=ticket,
                                    action=request.path + "?" + query))
    resp.headers["Cache-Control"] = "no-store"
    return resp


# --- token, userinfo, revocation, introspection -------------------------------------------------
@bp.post("/token")
def token():
    with context.unit_of_work():
        return server().create_token_response()


@bp.post("/revoke")
def revoke():
    with context.unit_of_work():
        return server().create_endpoint_response("revocation")


@bp.post("/introspect")
def introspect():
    with context.unit_of_work():
        return server().create_endpoint_response("introspection")


def _bearer_error(error: str, description: str, status: int = 401):
    resp = jsonify({"error": error, "error_description": description})
    resp.status_code = status
    resp.headers["WWW-Authenticate"] = f'Bearer error="{error}", error_description="{description}"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.route("/userinfo", methods=["GET", "POST"])
def userinfo():
    auth = request.headers.get("Authorization", "")
    access = auth[7:].strip() if auth[:7].lower() == "bearer " else None
    if access is None and request.method == "POST":
        access = request.form.get("access_token")  # RFC 6750 §2.2
    if not access:
        resp = _bearer_error("invalid_request", "Missing bearer token.")
        resp.headers["WWW-Authenticate"] = "Bearer"
        return resp
    with context.unit_of_work() as s:
        row = tokens.find_by_access(s, context.settings(), access)
        if row is None or not tokens.access_is_active(row):
            return _bearer_error("invalid_token", "The access token is invalid, expired or revoked.")
        if "openid" not in row.scope.split():
            return _bearer_error("insufficient_scope", "The access token lacks the openid scope.", 403)
        user = s.get(User, row.user_id)
        if user is None or not user.is_active:
            return _bearer_error("invalid_token", "The account is no longer active.")
        from identity.oidc.claims import user_claims

        resp = jsonify(user_claims(s, user, row.scope))
    resp.headers["Cache-Control"] = "no-store"
    return resp


# --- RP-initiated logout ----------------------------------------------------------------------
@bp.route("/end-session", methods=["GET", "POST"])
def end_session():
    with context.unit_of_work() as s:
        sso = sessions.current(s, request)
        try:
            req = server().validate_endpoint_request("end_session")
        except OAuth2Error as error:
            log.info("end-session request refused: %s", error.description)
            return _error_page("Déconnexion impossible",
                               "La demande de déconnexion envoyée par l'application n'est pas valable. "
                               "Vous pouvez fermer votre navigateur pour terminer votre session.")
        if sso is not None and not _logout_confirmed(s, sso, req):
            ticket = tickets.issue(s, "logout", sso.sid)
            query = urlencode([(k, v) for k, v in request.values.items(multi=True) if k not in ("ticket", "decision")])
            resp = Response(render_template("oidc_logout_confirm.html", client=req.client, ticket=ticket,
                                            action=request.path + ("?" + query if query else ""),
                                            stay_url=context.settings().public_url))
            resp.headers["Cache-Control"] = "no-store"
            return resp
        if req.redirect_uri:
            resp = redirect(req.redirect_uri)
        else:
            resp = Response(render_template("oidc_logged_out.html", client=req.client,
                                            home_url=context.settings().public_url))
        if sso is not None:
            sessions.end(s, resp, sso.sid)
            sessions_ended(s, [sso.sid])
        return resp


def _logout_confirmed(s, sso, req) -> bool:
    """Log out without asking when a valid id_token_hint names this session's user; otherwise
    only after the user confirmed on our page (logout requests can be forged)."""
    hint = req.id_token_claims
    if hint:
        user = s.get(User, sso.user_id)
        if user is not None and hint.get("sub") == user.sub:
            return True
    if request.method == "POST" and request.form.get("decision") == "logout":
        return tickets.consume(s, request.form.get("ticket"), "logout", sso.sid)
    return False
