"""The portal's pages.

    /                         the family's invoices (to pay, paid) once signed in; else a sign-in button
    /auth/login               to identity (authorization code + PKCE S256, state, nonce)
    /auth/callback            back from identity: a server-side session with the tokens
    /auth/logout              POST: ends this session, then identity's (RP-initiated logout)
    /auth/backchannel-logout  POST from identity: a logout token ends the sessions it names
    /health                   liveness
"""
from __future__ import annotations

import logging
import secrets
import time

from authlib.integrations.base_client import OAuthError
from flask import Flask, abort, g, jsonify, redirect, render_template, request, session, url_for
from joserfc.errors import JoseError
from requests import RequestException

from mesfactures import identity
from mesfactures.invoices import InvoicesApi, NoFamily, TokenRejected, Unavailable
from mesfactures.sessions import SessionStore
from mesfactures.settings import Settings, from_env

log = logging.getLogger(__name__)

SESSION_KEY = "portal_session"
FRESH_TOKEN_SECONDS = 30
CSRF_KEY = "csrf"


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or from_env()
    app = Flask(__name__)
    app.config.update(SECRET_KEY=settings.secret_key, SESSION_COOKIE_NAME="mesfactures_session",
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=settings.secure_cookies)
    app.config["MESFACTURES"] = settings
    app.extensions["mesfactures_sessions"] = SessionStore(settings.sessions_path)
    app.extensions["mesfactures_api"] = InvoicesApi(settings.api_url)
    identity.install(app, settings)
    app.jinja_env.filters["euros"] = euros
    app.jinja_env.filters["date_fr"] = date_fr

    @app.before_request
    def load_user():
        g.user = _store().get(session.get(SESSION_KEY))

    @app.context_processor
    def globals_():
        if CSRF_KEY not in session:
            session[CSRF_KEY] = secrets.token_urlsafe(24)
        return {"user": g.get("user"), "csrf_token": session[CSRF_KEY],
                "family_space_url": settings.family_space_url}

    @app.after_request
    def headers(resp):
        resp.headers.setdefault("Cache-Control", "no-store")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        resp.headers.setdefault("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
        return resp

    @app.get("/")
    def index():
        if g.user is None:
            return render_template("accueil.html")
        api = app.extensions["mesfactures_api"]
        token_user = g.user
        token = token_user["access_token"]
        try:
            to_pay, paid = api.list(token, "to_pay"), api.list(token, "paid")
        except TokenRejected:
            _forget()
            if time.time() - _obtained_at(token_user) < FRESH_TOKEN_SECONDS:
                # A token just issued and already refused: signing in again would loop.
                log.warning("the gateway refuses a fresh access token")
                return render_template("erreur.html", message="Le service des factures refuse la connexion. "
                                                              "Réessayez plus tard."), 503
            # Expired or revoked (identity's session ended): a new sign-in, silent while the SSO session lasts.
            return redirect(url_for("login"))
        except NoFamily as exc:
            return render_template("erreur.html", message=exc.detail), 403
        except Unavailable:
            return render_template("erreur.html", message="Le service des factures ne répond pas. "
                                                          "Réessayez dans quelques minutes."), 503
        return render_template("factures.html", to_pay=to_pay, paid=paid)

    @app.get("/auth/login")
    def login():
        if g.user is not None:
            return redirect(url_for("index"))
        try:
            return identity.client().authorize_redirect(settings.redirect_uri)
        except identity.ProviderError as exc:
            log.warning("sign-in unavailable: %s", exc)
            return _unavailable()

    @app.get("/auth/callback")
    def callback():
        if request.args.get("error"):
            # Refused consent, or the user gave up: back to the start.
            return render_template("erreur.html", message="La connexion n'a pas abouti. "
                                                          "Recommencez depuis le bouton « Se connecter »."), 400
        try:
            token = identity.client().authorize_access_token()
        except identity.ProviderError as exc:
            log.warning("sign-in unavailable: %s", exc)
            return _unavailable()
        except RequestException as exc:
            log.warning("identity unreachable during sign-in: %s", exc)
            return _unavailable()
        except (OAuthError, JoseError, ValueError, KeyError) as exc:
            log.info("sign-in refused: %s", exc)
            return render_template("erreur.html", message="La connexion n'a pas abouti. "
                                                          "Recommencez depuis le bouton « Se connecter »."), 400
        claims = token.get("userinfo") or {}
        if not claims.get("sub"):
            return render_template("erreur.html", message="La connexion n'a pas abouti."), 400
        _forget()
        name = claims.get("name") or " ".join(filter(None, (claims.get("given_name"), claims.get("family_name"))))
        session[SESSION_KEY] = _store().create(sub=claims["sub"], sid=claims.get("sid"), data={
            "sub": claims["sub"], "name": name or None, "access_token": token["access_token"],
            "id_token": token.get("id_token"), "obtained_at": time.time()})
        return redirect(url_for("index"))

    @app.post("/auth/logout")
    def logout():
        expected, given = session.get(CSRF_KEY) or "", request.form.get("csrf_token") or ""
        if not expected or not secrets.compare_digest(given, expected):
            abort(400)
        id_token = (g.user or {}).get("id_token")
        _forget()
        session.clear()
        try:
            target = identity.provider().end_session_url(id_token)
        except identity.ProviderError as exc:
            log.warning("identity unreachable at logout: %s", exc)
            target = None
        return redirect(target or url_for("index"))

    @app.post("/auth/backchannel-logout")
    def backchannel_logout():
        no_store = {"Cache-Control": "no-store"}
        try:
            claims = identity.provider().verify_logout_token(request.form.get("logout_token", ""))
        except identity.InvalidLogoutToken as exc:
            log.info("logout token refused: %s", exc)
            return jsonify(error="invalid_request", error_description=str(exc)), 400, no_store
        except identity.ProviderError as exc:
            log.warning("cannot verify a logout token: %s", exc)
            return jsonify(error="temporarily_unavailable"), 503, no_store
        if claims.get("sid"):
            _store().end_identity_session(claims["sid"])
        else:
            _store().end_subject(claims["sub"])
        return "", 200, no_store

    @app.get("/health")
    def health():
        return jsonify(status="ok")

    @app.errorhandler(400)
    def bad_request(_exc):
        return render_template("erreur.html", message="La demande n'est pas valide. Rechargez la page."), 400

    @app.errorhandler(404)
    def not_found(_exc):
        return render_template("erreur.html", message="Cette page n'existe pas."), 404

    return app


def _store() -> SessionStore:
    from flask import current_app

    return current_app.extensions["mesfactures_sessions"]


def _forget() -> None:
    session_id = session.pop(SESSION_KEY, None)
    if session_id:
        _store().delete(session_id)
    g.user = None


def _obtained_at(user: dict) -> float:
    return float(user.get("obtained_at") or 0)


def _unavailable():
    return render_template("erreur.html", message="Le service de connexion ne répond pas. "
                                                  "Réessayez dans quelques minutes."), 503


def euros(cents) -> str:
    """1234550 -> "12 345,50 €" (integer cents, French style, narrow no-break spaces avoided)."""
    cents = int(cents or 0)
    sign = "-" if cents < 0 else ""
    whole, rest = divmod(abs(cents), 100)
    return f"{sign}{whole:,}".replace(",", "\u00a0") + f",{rest:02d}\u00a0€"


MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")


def date_fr(value) -> str:
    """"2026-10-15" -> "15 octobre 2026"; empty stays empty."""
    if not value:
        return ""
    try:
        year, month, day = (int(part) for part in str(value)[:10].split("-"))
        return f"{day} {MONTHS[month - 1]} {year}"
    except (ValueError, IndexError):
        return str(value)
