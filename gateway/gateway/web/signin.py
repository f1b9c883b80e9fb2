"""Signing in and out through identity (OpenID Connect, code + PKCE S256, state, nonce)."""
from __future__ import annotations

import logging

from authlib.integrations.base_client import OAuthError
from flask import (Blueprint, abort, current_app, flash, jsonify, redirect, request, session,
                   url_for)
from joserfc.errors import JoseError
from sqlalchemy.exc import SQLAlchemyError

from gateway import auth, clients, oidc
from gateway.errors import render_error
from gateway.jwks import InvalidJWT

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__, url_prefix="/auth")

USER_CLAIMS = ("sub", "email", "name", "given_name", "family_name", "family_id", "communes",
               "agent_of", "platform_role")


def safe_next(value: str | None) -> str:
    """Only a path on this site: no scheme, no host, no protocol-relative or backslash trick."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(ord(ch) < 32 for ch in value):
        return "/"
    return value


def _settings():
    return current_app.config["SERVICE_SETTINGS"]


def user_from_claims(claims: dict) -> dict:
    user = {name: claims.get(name) for name in USER_CLAIMS}
    user["communes"] = [{"slug": c["slug"], "name": c.get("name", c["slug"])}
                        for c in user.get("communes") or [] if isinstance(c, dict) and c.get("slug")]
    user["agent_of"] = [{"slug": c["slug"], "name": c.get("name", c["slug"]), "role": c.get("role", "agent")}
                        for c in user.get("agent_of") or [] if isinstance(c, dict) and c.get("slug")]
    return user


def _unavailable():
    return render_error(503)


@bp.get("/login")
def login():
    target = safe_next(request.args.get("next"))
    if auth.current_user() is not None:
        return redirect(target)
    try:
        oauth_client = oidc.client()
    except oidc.ProviderError as exc:
        log.warning("sign-in unavailable: %s", exc)
        return _unavailable()
    session["login_next"] = target
    return oauth_client.authorize_redirect(_settings().public_url + url_for("auth.callback"))


@bp.get("/callback")
def callback():
    target = safe_next(session.pop("login_next", None))
    try:
        oauth_client = oidc.client()
        token = oauth_client.authorize_access_token()
        claims = dict(token.get("userinfo") or {})
        if not claims:
            raise OAuthError(description="no id_token")
        if oauth_client.server_metadata.get("userinfo_endpoint"):
            info = oauth_client.userinfo(token=token)
            if info.get("sub") != claims.get("sub"):
                raise OAuthError(description="userinfo sub differs from id_token sub")
            claims.update(info)
    except oidc.ProviderError as exc:
        log.warning("sign-in unavailable: %s", exc)
        return _unavailable()
    except clients.http.RequestException as exc:
        log.warning("identity unreachable during sign-in: %s", exc)
        return _unavailable()
    except (OAuthError, JoseError, ValueError, KeyError) as exc:
        log.info("sign-in refused: %s", exc)
        return render_error(400, "La connexion n'a pas abouti. Recommencez depuis le bouton « Se connecter ».")
    auth.sign_in(user_from_claims(claims), sid=claims.get("sid"), id_token=token.get("id_token"))
    return redirect(target)


@bp.post("/logout")
def logout():
    id_token = session.get("id_token")
    if session.get("gsid"):
        try:
            current_app.extensions["ended_sessions"].end_local(session["gsid"])
        except SQLAlchemyError:  # still sign out of this browser; a stolen copy would outlive it
            log.exception("cannot record the end of gateway session")
    session.clear()
    home = _settings().public_url + "/"
    try:
        url = oidc.provider().end_session_url(id_token, home)
    except oidc.ProviderError as exc:
        log.warning("identity unreachable at logout: %s", exc)
        url = None
    if url is None:
        flash("Vous êtes déconnecté.", "success")
        return redirect(url_for("pages.home"))
    return redirect(url)


@bp.post("/backchannel-logout")
def backchannel_logout():
    token = request.form.get("logout_token", "")
    headers = {"Cache-Control": "no-store"}
    try:
        claims = oidc.provider().verify_logout_token(token)
    except InvalidJWT as exc:
        log.info("logout token refused: %s", exc)
        return jsonify(error="invalid_request", error_description=str(exc)), 400, headers
    except oidc.ProviderError as exc:
        log.warning("cannot verify logout token: %s", exc)
        return jsonify(error="temporarily_unavailable"), 503, headers
    store = current_app.extensions["ended_sessions"]
    if claims.get("sid"):
        store.end(claims["sid"])
    else:
        store.end_subject(claims["sub"])
    return "", 200, headers


@bp.post("/commune")
def switch_commune():
    """An agent of several communes chooses the one they act for."""
    if auth.current_user() is None:
        return redirect(url_for("auth.login"))
    slug = request.form.get("commune", "")
    chosen = next((c for c in auth.agent_communes() if c["slug"] == slug), None)
    if chosen is None:
        abort(403)
    session["commune"] = chosen["slug"]
    flash(f"Vous agissez maintenant pour {chosen['name']}.", "success")
    return redirect(safe_next(request.form.get("next")))
