"""The web app factory every service uses: connexion (OpenAPI) over Flask.

It gives each service, besides its own API:
- `/health/live` (the process answers) and `/health/ready` (database, broker, outbox lag);
- `/metrics` (Prometheus);
- problem+json errors (RFC 9457) for every failure, never an HTML 500;
- the correlation id taken from `X-Correlation-ID` (or made) and echoed back;
- service-token checking for operations whose spec says `security: [serviceToken: []]`.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import connexion
from connexion import context as connexion_context
from connexion.resolver import RelativeResolver
from connexion.security import BearerSecurityHandler
from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from servicekit import asgi_guard, context, health, metrics, tokens
from servicekit.db import Database
from servicekit.settings import ServiceSettings

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """An error a client can act on. `detail` is shown to people: write it in French."""

    def __init__(self, status: int, detail: str, title: str | None = None, type: str = "about:blank",
                 errors: dict[str, str] | None = None, **extra: Any):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or _TITLES.get(status, "Erreur")
        self.type = type
        self.errors = errors
        self.extra = extra

    def body(self) -> dict:
        body = {"type": self.type, "title": self.title, "status": self.status, "detail": self.detail}
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


_TITLES = {
    400: "Requête invalide",
    401: "Authentification requise",
    403: "Accès refusé",
    404: "Introuvable",
    409: "Conflit",
    410: "Expiré",
    422: "Données invalides",
    429: "Trop de tentatives",
    500: "Erreur interne",
    503: "Service indisponible",
}


def problem_response(status: int, detail: str, title: str | None = None, **extra: Any) -> Response:
    return _problem(Problem(status, detail, title, **extra))


def _problem(p: Problem) -> Response:
    resp = jsonify(p.body())
    resp.status_code = p.status
    resp.mimetype = PROBLEM_JSON
    return resp


# --- service tokens -------------------------------------------------------------------------
# Specs name this function as the `x-bearerInfoFunc` of their `serviceToken` scheme. It is a
# marker: create_app binds the check to the app's own audience and secret (several apps can
# live in one process, e.g. in tests), so the module-level function itself is never called.
SERVICE_TOKEN_CHECK = "servicekit.web.verify_bearer"


def verify_bearer(token: str) -> dict | None:
    raise RuntimeError("servicekit.web.verify_bearer is bound per app by servicekit.web.create_app")


def _service_token_handler(audience: str, secret: str) -> type[BearerSecurityHandler]:
    def check(token: str) -> dict | None:
        """The token info for connexion, or None (-> 401)."""
        try:
            caller = tokens.verify(token, audience, secret)
        except tokens.InvalidToken as exc:
            log.info("rejected service token: %s", exc)
            return None
        return {"sub": caller.sub, "caller": caller}

    class ServiceTokenHandler(BearerSecurityHandler):
        def _resolve_func(self, security_scheme):
            if security_scheme.get(self.security_definition_key) == SERVICE_TOKEN_CHECK:
                return check
            return super()._resolve_func(security_scheme)

    return ServiceTokenHandler


def current_caller() -> tokens.Caller:
    """The caller of the current operation (only in operations secured by serviceToken)."""
    info = connexion_context.context.get("token_info") or {}
    caller = info.get("caller")
    if caller is None:
        raise Problem(401, "Jeton de service manquant ou invalide.")
    return caller


# --- factory ---------------------------------------------------------------------------------
def create_app(settings: ServiceSettings, db: Database, spec_file: str | Path | None = None,
               resolver_package: str | None = None, extra_ready_checks: dict | None = None) -> connexion.FlaskApp:
    """Build the service's app. `spec_file` is its OpenAPI document; operationIds are resolved
    relative to `resolver_package` (e.g. "booking.api")."""
    handler = _service_token_handler(settings.service, settings.service_token_secret)
    app = connexion.FlaskApp(settings.service, security_map={"bearer": handler})
    asgi_guard.install(app)  # malformed requests: 400 before connexion (servicekit.asgi_guard)
    if spec_file is not None:
        app.add_api(
            Path(spec_file),
            resolver=RelativeResolver(resolver_package) if resolver_package else None,
            strict_validation=True,
            validate_responses=False,
            pythonic_params=True,
        )
    flask_app: Flask = app.app
    flask_app.config["SERVICE_SETTINGS"] = settings
    flask_app.config["SERVICE_DB"] = db
    _install_request_hooks(flask_app, settings.service)
    _install_error_handlers(app, flask_app)
    health.install(flask_app, settings, db, extra_ready_checks or {})
    metrics.install(flask_app, settings.service, db)
    return app


def _install_request_hooks(flask_app: Flask, service: str) -> None:
    @flask_app.before_request
    def _start():
        g.started = time.perf_counter()
        g.cid_token = context.set_correlation_id(request.headers.get(context.HEADER) or context.new_id())

    @flask_app.after_request
    def _finish(response: Response):
        response.headers[context.HEADER] = context.get_correlation_id() or ""
        metrics.observe_request(service, request, response, time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    @flask_app.teardown_request
    def _reset(_exc):
        token = g.pop("cid_token", None)
        if token is not None:
            context.reset_correlation_id(token)


def _install_error_handlers(app: connexion.FlaskApp, flask_app: Flask) -> None:
    @flask_app.errorhandler(Problem)
    def _on_problem(p: Problem):
        return _problem(p)

    @flask_app.errorhandler(HTTPException)
    def _on_http(exc: HTTPException):
        return _problem(Problem(exc.code or 500, _TITLES.get(exc.code or 500, exc.description or "Erreur")))

    @flask_app.errorhandler(Exception)
    def _on_unexpected(exc: Exception):
        log.exception("unhandled error")
        return _problem(Problem(500, "Une erreur inattendue est survenue. Réessayez plus tard."))
