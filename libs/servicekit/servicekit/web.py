"""The web app factory every service uses: connexion's AsyncApp (OpenAPI) on the event loop.

Why async (ADR 0007): connexion's FlaskApp hops from its ASGI middleware to Flask through a
thread for every request and rebuilds Flask views each time; a read cost 6.6x what bare Flask
costs. Internal JSON APIs are served by connexion's AsyncApp (`servicekit.api_stack.AsyncApp`:
connexion's middleware minus what no API uses, each request routed once) with `async def`
operations that run their sync use cases (functions of a SQLAlchemy Session) with
`await db.run_read(fn, ...)` or `await db.run_write(fn, ...)`: one worker thread per unit of
work, so neither a slow query nor CPU-heavy work (password hashing) holds the event loop.

Each service app gives, besides its own API:
- `/health/live` (the process answers) and `/health/ready`;
- `/metrics` (Prometheus);
- problem+json errors (RFC 9457) with French titles for every failure, never an HTML 500;
- the correlation id taken from `X-Correlation-ID` (or made) and echoed back;
- service-token checking for operations whose spec says `security: [serviceToken: []]`.

A service with server-rendered pages (identity's sign-in and OIDC pages) passes its Flask app
as `pages`: every path outside the API prefixes goes to it (through a2wsgi, servicekit.wsgi_pages).
"""
from __future__ import annotations

import contextvars
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import connexion
from connexion import context as connexion_context
from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from connexion.resolver import RelativeResolver
from connexion.security import BearerSecurityHandler
from sqlalchemy import exc as sa_exc
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from servicekit import api_stack, asgi_guard, context, health, metrics, problems, tokens
from servicekit.db import Database
from servicekit.settings import ServiceSettings
from servicekit.wsgi_pages import WSGIPages

log = logging.getLogger(__name__)

# One definition of the error vocabulary for every service (servicekit.problems).
PROBLEM_JSON = problems.PROBLEM_JSON
Problem = problems.Problem

# Paths served by the API app when a service also has Flask pages.
API_PREFIXES = ("/internal/", "/health/", "/metrics", "/openapi.json", "/ui")


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
        # connexion asks, on every request, whether the check takes `required_scopes` or
        # `request` with inspect.signature (twice ~10 us): the answer never changes per function.
        _accepts_kwarg = staticmethod(functools.lru_cache(maxsize=64)(BearerSecurityHandler._accepts_kwarg))

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


# --- the app ---------------------------------------------------------------------------------
class ServiceApp:
    """The ASGI app of a service: connexion's AsyncApp for the API, optional Flask pages.

    `state` holds what operations need (settings, db, and what shared pieces register, e.g.
    the families projection's table); `servicekit.web.state()` reads it during a request."""

    def __init__(self, api: connexion.AsyncApp, settings: ServiceSettings, db: Database, pages=None,
                 to_api: Callable[[str], bool] | None = None):
        self.api = api
        self.settings = settings
        self.db = db
        self.pages = pages
        self.state: dict[str, Any] = {"settings": settings, "db": db}
        # Flask's __call__ looks wsgi_app up at each request: middlewares may wrap it later.
        pages_asgi = WSGIPages(pages) if pages is not None else None
        to_api = to_api or (lambda path: path.startswith(API_PREFIXES))
        # Flask pages count their own requests (by URL rule, install_flask_request_hooks).
        observed = to_api if pages is not None else (lambda _path: True)
        self._asgi = _edge(settings.service, _dispatch(api, pages_asgi, to_api), self.state, observed)

    # Kept so existing code that knew the Flask app as `.app` (identity's pages) still works.
    @property
    def app(self):
        return self.pages

    def add_api(self, *args, **kwargs):
        return self.api.add_api(*args, **kwargs)

    def add_middleware(self, *args, **kwargs):
        return self.api.add_middleware(*args, **kwargs)

    def test_client(self, **kwargs):
        from starlette.testclient import TestClient

        return TestClient(self, **kwargs)

    async def __call__(self, scope, receive, send):
        await self._asgi(scope, receive, send)


# The serving app's state, set per request by _edge (several apps can share a process in tests).
_STATE: contextvars.ContextVar[dict] = contextvars.ContextVar("servicekit_app_state")


def state() -> dict[str, Any]:
    """The serving app's state (settings, db, ...) during a request."""
    return _STATE.get()


def create_app(settings: ServiceSettings, db: Database, spec_file: str | Path | None = None,
               resolver_package: str | None = None, extra_ready_checks: dict | None = None,
               pages=None) -> ServiceApp:
    """Build the service's app. `spec_file` is its OpenAPI document; operationIds are resolved
    relative to `resolver_package` (e.g. "booking.api"). `pages` is an optional Flask app."""
    handler = _service_token_handler(settings.service, settings.service_token_secret)
    api = api_stack.AsyncApp(settings.service, security_map={"bearer": handler})
    asgi_guard.install(api)  # malformed requests: 400 before connexion (servicekit.asgi_guard)
    if spec_file is not None:
        api.add_api(
            Path(spec_file),
            resolver=RelativeResolver(resolver_package) if resolver_package else None,
            strict_validation=True,
            validate_responses=False,
            pythonic_params=True,
        )
    install_error_handlers(api)
    _install_health_and_metrics(api, settings, db, extra_ready_checks or {})
    if pages is not None:
        pages.config["SERVICE_SETTINGS"] = settings
        pages.config["SERVICE_DB"] = db
        install_flask_request_hooks(pages, settings.service)
    return ServiceApp(api, settings, db, pages)


def _dispatch(api, pages_asgi, to_api: Callable[[str], bool]):
    if pages_asgi is None:
        return api

    async def dispatch(scope, receive, send):
        if scope["type"] != "http" or to_api(scope.get("path", "")):
            await api(scope, receive, send)
        else:
            await pages_asgi(scope, receive, send)

    return dispatch


def _edge(service: str, inner, app_state: dict, observed: Callable[[str], bool]):
    """Correlation id in and out, request metrics, the app's state: plain ASGI, a few µs."""
    header_name = context.HEADER.lower().encode()

    async def edge(scope, receive, send):
        if scope["type"] != "http":
            await inner(scope, receive, send)
            return
        started = time.perf_counter()
        cid = None
        for name, value in scope.get("headers", ()):
            if name == header_name:
                cid = value.decode("latin-1")[:200]
                break
        if not cid:
            cid = context.new_id()
            # Flask pages read the header themselves: give them the id made here.
            scope = {**scope, "headers": [*scope.get("headers", ()), (header_name, cid.encode())]}
        cid_token = context.set_correlation_id(cid)
        state_token = _STATE.set(app_state)
        status_seen = [500]

        async def send_with_cid(message):
            if message["type"] == "http.response.start":
                status_seen[0] = message["status"]
                headers = [h for h in message.get("headers", ()) if h[0].lower() != header_name]
                headers.append((header_name, cid.encode("latin-1", "replace")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await inner(scope, receive, send_with_cid)
        finally:
            if observed(scope.get("path", "")):
                metrics.observe(service, scope.get("method", ""), _endpoint_label(scope), status_seen[0],
                                time.perf_counter() - started)
            _STATE.reset(state_token)
            context.reset_correlation_id(cid_token)

    return edge


def _endpoint_label(scope) -> str:
    """A bounded label: the operationId, or the fixed paths of the kit, or "other"."""
    routing = scope.get("extensions", {}).get("connexion_routing") or {}
    if routing.get("operation_id"):
        return routing["operation_id"]
    path = scope.get("path", "")
    if path in ("/health/live", "/health/ready", "/health/details", "/metrics"):
        return path
    return "other"


# --- errors ------------------------------------------------------------------------------------
def problem_connexion_response(status: int, detail: str, **extra: Any) -> ConnexionResponse:
    """A problem+json answer for an AsyncApp error handler."""
    return _response(Problem(status, detail, **extra))


def _response(p: Problem, headers: dict | None = None) -> ConnexionResponse:
    return ConnexionResponse(status_code=p.status, mimetype=PROBLEM_JSON, content_type=PROBLEM_JSON,
                             body=problems.dumps(p.body()), headers=headers or {})


def install_error_handlers(api: connexion.AsyncApp) -> None:
    """problem+json with French titles for every failure of an AsyncApp's operations."""
    async def on_problem(_request: ConnexionRequest, p: Problem) -> ConnexionResponse:
        return _response(p)

    async def on_connexion_problem(_request: ConnexionRequest, exc: ProblemException) -> ConnexionResponse:
        # Validation (400), security (401/403), routing (404/405): keep connexion's detail for
        # the developer, give the French title the gateway shows.
        detail = exc.detail or problems.title_for(exc.status)
        return _response(Problem(exc.status, str(detail)), dict(exc.headers or {}))

    async def on_http(_request: ConnexionRequest, exc: StarletteHTTPException) -> ConnexionResponse:
        return _response(Problem(exc.status_code, problems.title_for(exc.status_code)), dict(exc.headers or {}))

    async def on_malformed_multipart(_request: ConnexionRequest, _exc: Exception) -> ConnexionResponse:
        # connexion's form validator lets starlette's parse error through (a 500 otherwise).
        return _response(Problem(400, "Le formulaire envoyé est mal formé (multipart/form-data invalide)."))

    async def on_database_unavailable(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
        # The database restarted or dropped the connection: the pool discards it and the next
        # request gets a fresh one; this one is worth retrying, not a bug.
        log.warning("database unavailable: %s", type(exc).__name__)
        return _response(Problem(503, "Le service est momentanément indisponible. Réessayez dans quelques instants."),
                         {"Retry-After": "1"})

    async def on_unexpected(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
        log.error("unhandled error", exc_info=exc)
        return _response(Problem(500, "Une erreur inattendue est survenue. Réessayez plus tard."))

    api.add_error_handler(Problem, on_problem)
    api.add_error_handler(ProblemException, on_connexion_problem)
    api.add_error_handler(StarletteHTTPException, on_http)
    api.add_error_handler(MultiPartException, on_malformed_multipart)
    api.add_error_handler(sa_exc.OperationalError, on_database_unavailable)
    api.add_error_handler(sa_exc.DisconnectionError, on_database_unavailable)
    api.add_error_handler(Exception, on_unexpected)


# --- health and metrics ------------------------------------------------------------------------
def _install_health_and_metrics(api: connexion.AsyncApp, settings: ServiceSettings, db: Database,
                                extra: dict) -> None:
    checks = health.Health(settings, db, extra)

    def mount(path: str, endpoint) -> None:
        async def view(_request: Request) -> Response:
            # The checks are sync (and rare): a thread keeps them off the event loop.
            status, body = await run_in_threadpool(endpoint)
            return JSONResponse(body, status_code=status)
        api.add_url_rule(path, f"health_{endpoint.__name__}", view, methods=["GET"])

    mount("/health/live", checks.live)
    mount("/health/ready", checks.ready)
    mount("/health/details", checks.details)

    async def scrape(_request: Request) -> Response:
        body = await run_in_threadpool(metrics.render, settings.service, db, checks.broker)
        return Response(body, media_type=metrics.CONTENT_TYPE_LATEST)

    api.add_url_rule("/metrics", "metrics", scrape, methods=["GET"])


# --- Flask pages (identity's sign-in and OIDC pages, the gateway) --------------------------------
def install_flask_request_hooks(flask_app, service: str) -> None:
    """Correlation id for a Flask app's requests (taken from the header, or made), echoed back,
    and request metrics by URL rule."""
    from flask import g, request

    @flask_app.before_request
    def _start():
        g.started = time.perf_counter()
        g.cid_token = context.set_correlation_id(request.headers.get(context.HEADER) or context.new_id())

    @flask_app.after_request
    def _finish(response):
        response.headers[context.HEADER] = context.get_correlation_id() or ""
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        metrics.observe(service, request.method, endpoint, response.status_code,
                        time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    @flask_app.teardown_request
    def _reset(_exc):
        token = g.pop("cid_token", None)
        if token is not None:
            context.reset_correlation_id(token)


# The gateway's name for it until it moves to the public one.
_install_request_hooks = install_flask_request_hooks


def problem_response(status: int, detail: str, title: str | None = None, **extra: Any):
    """A Flask problem+json response (for Flask apps: the gateway, identity's pages)."""
    from flask import Response as FlaskResponse

    p = Problem(status, detail, title, **extra)
    return FlaskResponse(problems.dumps(p.body()), status=p.status, mimetype=PROBLEM_JSON)


AsyncHandler = Callable[..., Awaitable[Any]]
