"""The gateway's app: the public API (connexion, `openapi/gateway.yaml`) and the pages (Flask).

The public API's operations are async on connexion's AsyncApp (ADR 0007), calling services
through `gateway.api_clients`; `/api/me`, which also accepts the session cookie, and every page
are Flask (sessions, CSRF, templates). One ASGI app (servicekit.web.ServiceApp) routes between
them. Everything user-facing is French; every failure is a French page for browsers and
problem+json under `/api/`.
"""
from __future__ import annotations

import contextlib
import logging
from datetime import timedelta
from pathlib import Path

from connexion.resolver import RelativeResolver
from flask import Flask, request, url_for

from servicekit import api_stack, asgi_guard, forwarded, web as service_web
from servicekit.db import Database

from gateway import api, api_clients, auth, errors, oidc, sessions
from gateway.csrf_tokens import CSRFProtect
from gateway.pages_app import PagesFlask
from gateway.clients import ServiceError
from gateway.settings import GatewaySettings, get_settings

log = logging.getLogger(__name__)

SPEC = Path(__file__).resolve().parent.parent / "openapi" / "gateway.yaml"

# Header navigation: (label, endpoint). An entry is shown only when its endpoint exists.
NAVIGATION = [
    ("Accueil", "pages.home"),
    ("Ma famille", "famille.index"),
    ("Mes réservations", "reservations.index"),
    ("Mes factures", "factures.index"),
    ("Mes demandes", "demandes.index"),
]

# Paths whose POSTs carry no gateway CSRF token: the bearer-token API, identity's own pages
# (identity checks its own CSRF token) and the server-to-server back-channel logout.
CSRF_EXEMPT_PREFIXES = ("/api/", "/oidc/", "/auth/backchannel-logout")

csrf = CSRFProtect()


# Served by Flask although under /api/: it reads the session cookie too.
FLASK_API_PATHS = ("/api/me",)


def _to_api(path: str) -> bool:
    return path.startswith("/api/") and path not in FLASK_API_PATHS


def create_app(settings: GatewaySettings | None = None, db: Database | None = None) -> service_web.ServiceApp:
    settings = settings or get_settings()
    db = db or Database(settings.database_url)
    # root_path given explicitly: run from the repository root, "gateway" is also a folder name.
    flask_app = PagesFlask(__name__, root_path=str(Path(__file__).resolve().parent))
    _configure(flask_app, settings, db)
    provider = flask_app.extensions["oidc_provider"]
    # Async operations taking identity's access token are checked by auth.connexion_security.
    api = api_stack.AsyncApp(__name__, specification_dir=Path(__file__).resolve().parent,
                             security_map=auth.connexion_security(lambda: provider, settings), lifespan=_lifespan)
    asgi_guard.install(api)  # malformed requests: 400 before connexion (servicekit.asgi_guard)
    api.add_api(SPEC, resolver=RelativeResolver("gateway.api"), strict_validation=True,
                validate_responses=False, pythonic_params=True)
    service_web.install_error_handlers(api)
    api.add_error_handler(ServiceError, _service_error)
    # The client's address and scheme from the ingress's X-Forwarded-* (trusted peers only):
    # per-client sign-in throttling at identity, https URLs.
    flask_app.wsgi_app = forwarded.ProxyHeaders(flask_app.wsgi_app, trusted=settings.forwarded_allow_ips)
    return service_web.ServiceApp(api, settings, db, pages=flask_app, to_api=_to_api)


@contextlib.asynccontextmanager
async def _lifespan(_app):
    yield
    await api_clients.close_all()  # the worker's pooled connections to the services


async def _service_error(_request, exc: ServiceError):
    return service_web.problem_connexion_response(exc.status, exc.detail, errors=exc.errors or None)


def _configure(flask_app: Flask, settings: GatewaySettings, db: Database) -> None:
    flask_app.config.update(
        SERVICE_SETTINGS=settings,
        SERVICE_DB=db,
        SECRET_KEY=settings.gateway_secret_key,
        SESSION_COOKIE_NAME="ef_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=settings.session_idle_seconds),
        # The cookie is written when the session changes; sessions.enforce_lifetimes stamps `seen_at` (a
        # change) at most once a minute (sessions.STAMP_SECONDS), which refreshes the cookie's expiry too.
        SESSION_REFRESH_EACH_REQUEST=False,
        WTF_CSRF_CHECK_DEFAULT=False,
        # The token lives in the session, which has its own lifetimes.
        WTF_CSRF_TIME_LIMIT=None,
        MAX_CONTENT_LENGTH=25 * 1024 * 1024,
        TEMPLATES_AUTO_RELOAD=settings.ef_env == "development",
    )
    flask_app.session_interface = sessions.SignedCookie()
    flask_app.extensions["ended_sessions"] = sessions.EndedSessions(db)
    csrf.init_app(flask_app)
    oidc.install(flask_app, settings)
    # Correlation id and request metrics, as in every service.
    service_web.install_flask_request_hooks(flask_app, settings.service)

    @flask_app.before_request
    def _session_lifetimes():
        if request.path.startswith("/static/"):
            return None
        sessions.enforce_lifetimes(settings, flask_app.extensions["ended_sessions"])
        return None

    @flask_app.before_request
    def _csrf():
        if request.method in ("GET", "HEAD", "OPTIONS") or request.path.startswith(CSRF_EXEMPT_PREFIXES):
            return None
        csrf.protect()
        return None

    @flask_app.context_processor
    def _layout_context():
        return {
            "current_user": auth.current_user(),
            "active_commune": auth.active_commune(),
            "agent_communes": auth.agent_communes(),
            "navigation": [(label, url_for(ep)) for label, ep in NAVIGATION if ep in flask_app.view_functions],
            "agent_home": url_for("agent.index") if "agent.index" in flask_app.view_functions else None,
            "is_development": settings.ef_env == "development",
        }

    from gateway.web import BLUEPRINTS, devmails, health, pages, proxy, signin

    for bp in (pages.bp, signin.bp, proxy.bp, health.bp, devmails.bp, *BLUEPRINTS):
        flask_app.register_blueprint(bp)
    flask_app.add_url_rule("/api/me", "api_me", api.me, methods=["GET"])
    csrf.exempt(proxy.bp)
    errors.install(flask_app)
