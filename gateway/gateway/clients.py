"""Calls from the gateway to the internal services.

One keep-alive pool per service, timeouts on every call, retries only for idempotent methods, a 60 s service token minted per call for the signed-in user, the
correlation id forwarded. Remote failures become `ServiceError` (see `REMOTE_ERRORS`), which the
app renders as a French page or problem+json; an unreachable or failing service becomes 503.

    from gateway import clients
    household = clients.identity().get("/internal/me/household")
    family = clients.identity().get(clients.internal_path("/internal/agent/families/{}", family_id), as_agent=True)
    clients.booking().post("/internal/carts", json=..., as_agent=True, idempotency_key=key)

Every value taken from a request (a link token, an id from the URL) goes into a path through
`internal_path`, which quotes it as one path segment: `?`, `#`, `/`, `%` or a dot segment in
it can never change which URL is called.

`get/post/put/patch/delete` return the decoded JSON body (None when empty); pass `raw=True` to
get the `requests.Response` instead (files, CSV, PDF).

A JSON call (no `raw`, no form or files) goes through urllib3's pool directly: `requests` on top
of it cost ~720-900 µs of CPU per booking-cart call, urllib3 alone ~360-420 µs (loopback, same
machine, same run). Files, forms and raw answers keep `requests` (streaming, multipart).
"""
from __future__ import annotations

import json
import logging
import threading
import time
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from collections.abc import Mapping
from urllib.parse import quote, urlencode

import requests as http
import urllib3
from flask import current_app, has_app_context
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from servicekit import context, tokens

from gateway import auth
from gateway.settings import SERVICES, get_settings

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 10.0
POOL_SIZE = 64  # uvicorn workers run Flask views in a thread pool: one connection per thread
UNAVAILABLE_DETAIL = "Le service est momentanément indisponible. Réessayez dans quelques minutes."


class ServiceError(Exception):
    """A remote service refused or failed a call. `status` is what the gateway answers."""

    def __init__(self, status: int, detail: str, errors: dict[str, str] | None = None,
                 service: str | None = None, remote_status: int | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors or {}
        self.service = service
        self.remote_status = remote_status


class ServiceUnavailable(ServiceError):
    def __init__(self, service: str | None = None, remote_status: int | None = None):
        super().__init__(503, UNAVAILABLE_DETAIL, service=service, remote_status=remote_status)


# Remote status -> (gateway status, whether the remote French detail may be shown to the user).
# 401 means the gateway's own service token was refused: a configuration fault, not the user's.
REMOTE_ERRORS: dict[int, tuple[int, bool]] = {
    400: (400, True),
    401: (503, False),
    403: (403, True),
    404: (404, True),
    409: (409, True),
    410: (410, True),
    413: (413, True),
    415: (415, True),
    422: (422, True),
    429: (429, True),
}
_FALLBACK_DETAILS = {
    400: "La demande est invalide.",
    403: "Vous n'avez pas accès à cette ressource.",
    404: "Cette ressource est introuvable.",
    409: "Cette action est en conflit avec l'état actuel.",
    422: "Certaines informations sont invalides.",
}


def error_from_response(service: str, resp: http.Response) -> ServiceError:
    return error_from_status(service, resp.status_code, resp.headers.get("Content-Type", ""), resp.content)


def error_from_status(service: str, status_code: int, content_type: str, content: bytes) -> ServiceError:
    """Translate a non-2xx answer with the single table above."""
    mapped = REMOTE_ERRORS.get(status_code)
    if mapped is None or mapped[0] == 503:
        # 5xx, a refused service token or an unexpected status: the user can do nothing about it.
        log.warning("service %s answered %s", service, status_code)
        return ServiceUnavailable(service, status_code)
    status, show_detail = mapped
    body: dict = {}
    if "json" in content_type:
        try:
            decoded = json.loads(content)
            body = decoded if isinstance(decoded, dict) else {}
        except ValueError:
            body = {}
    detail = body.get("detail") if show_detail else None
    errors = body.get("errors") if isinstance(body.get("errors"), dict) else None
    return ServiceError(status, detail or _FALLBACK_DETAILS.get(status, "La demande n'a pas abouti."),
                        errors, service, status_code)


def internal_path(template: str, *params: object) -> str:
    """`template` with each `{}` replaced by one percent-encoded path segment, e.g.
    internal_path("/internal/invitations/{}/accept", token)."""
    return template.format(*(_segment(p) for p in params))


def _segment(value: object) -> str:
    text = quote(str(value), safe="")
    if text in (".", ".."):  # servers and proxies would resolve a dot segment
        text = text.replace(".", "%2E")
    return text


def _retry(retries: bool) -> Retry:
    """Connection errors and 502/503/504 retried, for idempotent methods only (or nothing)."""
    if not retries:
        return Retry(0, read=False)
    return Retry(total=2, connect=2, read=1, status=2, backoff_factor=0.1,
                 status_forcelist=(502, 503, 504), allowed_methods=Retry.DEFAULT_ALLOWED_METHODS,
                 raise_on_status=False, respect_retry_after_header=False)


def make_session(retries: bool = True, pool_size: int = POOL_SIZE) -> http.Session:
    """A keep-alive session; retries (connection errors, 502/503/504) for idempotent methods only."""
    session = http.Session()
    # Internal calls never go through an HTTP proxy from the environment (nor read ~/.netrc):
    # that also spares requests looking both up on every call (measured in bench/gateway_read).
    session.trust_env = False
    # The session is shared by every user of this process: it must never keep a cookie a
    # response sets (e.g. identity's SSO cookie through the /oidc proxy) and replay it for the
    # next user. Cookies travel only in the headers each request is given.
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=_retry(retries))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


_sessions: dict[str, http.Session] = {}
_lock = threading.Lock()


def pooled_session(name: str, *, retries: bool = True, pool_size: int = POOL_SIZE) -> http.Session:
    """The process-wide pooled session for `name` (a service, or another backend), made on
    first use with `retries` and `pool_size` (see make_session)."""
    session = _sessions.get(name)
    if session is None:
        with _lock:
            session = _sessions.get(name) or make_session(retries=retries, pool_size=pool_size)
            _sessions[name] = session
    return session


_pools: dict[str, urllib3.HTTPConnectionPool] = {}


def json_pool(base_url: str) -> urllib3.HTTPConnectionPool:
    """The process-wide keep-alive pool of the JSON calls to `base_url` (retries as make_session's).
    No proxy from the environment, no cookie kept: urllib3 has neither."""
    pool = _pools.get(base_url)
    if pool is None:
        with _lock:
            pool = _pools.get(base_url) or urllib3.connection_from_url(base_url, maxsize=POOL_SIZE,
                                                                       retries=_retry(True))
            _pools[base_url] = pool
    return pool


def query_string(params) -> str:
    """`params` encoded as requests encodes them: a list gives the key once per value, None is left out."""
    if isinstance(params, (str, bytes)):
        return params if isinstance(params, str) else params.decode()
    pairs = []
    for key, value in (params.items() if isinstance(params, Mapping) else params):
        for one in (value if isinstance(value, (list, tuple)) else (value,)):
            if one is not None:
                pairs.append((key, one))
    return urlencode(pairs)


def caller_for(user: dict | None, as_agent: bool = False) -> tokens.Caller:
    """The identity the service token carries for the current request."""
    if user is None:
        # An anonymous visitor (public pages, activation link): a role that sees no commune's data
        # (never "system", which sees every commune).
        return tokens.Caller(sub="gateway", role=tokens.ANONYMOUS, name="anonymous")
    if as_agent:
        commune = auth.active_commune()
        if commune is None:
            raise ServiceError(403, "Vous n'êtes pas agent de cette commune.")
        return tokens.Caller(sub=user["sub"], role=commune.get("role", "agent"), commune=commune["slug"],
                             communes=tuple(c["slug"] for c in auth.agent_communes(user)),
                             name=user.get("name"))
    return tokens.Caller(sub=user["sub"], role="parent", family_id=user.get("family_id"),
                         communes=tuple(c["slug"] for c in user.get("communes") or []), name=user.get("name"))


# A service token is good for 60 s; the same caller reuses it for half of that instead of
# signing a new one on every call (a measurable share of the gateway's CPU on light reads).
TOKEN_REUSE_SECONDS = tokens.DEFAULT_TTL_SECONDS / 2
_token_cache: dict[tuple[tokens.Caller, str, str], tuple[str, float]] = {}
_TOKEN_CACHE_MAX = 4096


def service_token(caller: tokens.Caller, service: str, secret: str) -> str:
    now = time.monotonic()
    # The secret is part of the key: a token signed with another secret (rotated, or another
    # app in the same process) would be refused.
    key = (caller, service, secret)
    cached = _token_cache.get(key)
    if cached is not None and cached[1] > now:
        return cached[0]
    token = tokens.mint(caller, service, secret)
    if len(_token_cache) >= _TOKEN_CACHE_MAX:
        _token_cache.clear()
    _token_cache[key] = (token, now + TOKEN_REUSE_SECONDS)
    return token


def _timeouts(timeout) -> tuple[float, float]:
    """(connect, read) from what requests takes: None, one number or a pair."""
    if timeout is None:
        return CONNECT_TIMEOUT, READ_TIMEOUT
    return timeout if isinstance(timeout, tuple) else (timeout, timeout)


class ServiceClient:
    """Calls to one service. With `pool` (a `json_pool`), JSON calls go through it; everything else
    (and every call without a pool) through the requests `session`."""

    def __init__(self, service: str, base_url: str, secret: str, session: http.Session,
                 pool: urllib3.HTTPConnectionPool | None = None):
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.session = session
        self.pool = pool
        self._base_path = urllib3.util.parse_url(self.base_url).path or ""

    def request(self, method: str, path: str, *, as_agent: bool = False, caller: tokens.Caller | None = None,
                idempotency_key: str | None = None, raw: bool = False, headers: dict | None = None,
                timeout: tuple[float, float] | None = None, **kwargs) -> Any:
        if caller is None:
            caller = caller_for(auth.current_user(), as_agent)
        sent = {"Authorization": f"Bearer {service_token(caller, self.service, self.secret)}",
                "Accept": "application/json", **(headers or {})}
        cid = context.get_correlation_id()
        if cid:
            sent[context.HEADER] = cid
        if idempotency_key:
            # Only where it means something: a POST that creates (see gateway.idempotency).
            if method.upper() != "POST":
                raise ValueError("Idempotency-Key is for POST requests")
            sent["Idempotency-Key"] = idempotency_key
        if self.pool is not None and not raw and not kwargs.keys() - {"params", "json"}:
            return self._json_call(method.upper(), path, sent, timeout, kwargs.get("params"), kwargs.get("json"))
        try:
            resp = self.session.request(method.upper(), self.base_url + path, headers=sent,
                                        timeout=timeout or (CONNECT_TIMEOUT, READ_TIMEOUT), **kwargs)
        except http.RequestException as exc:
            log.warning("service %s unreachable: %s", self.service, exc)
            raise ServiceUnavailable(self.service) from exc
        if resp.status_code >= 400:
            raise error_from_response(self.service, resp)
        if raw:
            return resp
        if not resp.content:
            return None
        try:
            return resp.json()
        except ValueError as exc:
            log.warning("service %s answered non-JSON on %s %s", self.service, method, path)
            raise ServiceUnavailable(self.service, resp.status_code) from exc

    def _json_call(self, method: str, path: str, headers: dict, timeout, params, body) -> Any:
        url = self._base_path + path
        if params:
            url += ("&" if "?" in url else "?") + query_string(params)
        data = None
        if body is not None:
            data = json.dumps(body, allow_nan=False).encode()
            headers["Content-Type"] = "application/json"
        connect, read = _timeouts(timeout)
        try:
            resp = self.pool.urlopen(method, url, body=data, headers=headers,
                                     timeout=urllib3.Timeout(connect=connect, read=read))
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            log.warning("service %s unreachable: %s", self.service, exc)
            raise ServiceUnavailable(self.service) from exc
        if resp.status >= 400:
            raise error_from_status(self.service, resp.status, resp.headers.get("Content-Type", ""), resp.data)
        if not resp.data:
            return None
        try:
            return json.loads(resp.data)
        except ValueError as exc:
            log.warning("service %s answered non-JSON on %s %s", self.service, method, path)
            raise ServiceUnavailable(self.service, resp.status) from exc

    def get(self, path: str, **kwargs) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> Any:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs) -> Any:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs) -> Any:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs) -> Any:
        return self.request("DELETE", path, **kwargs)


def _settings():
    # The running app's settings (tests build apps with their own); the environment's otherwise.
    if has_app_context():
        return current_app.config["SERVICE_SETTINGS"]
    return get_settings()


def client(service: str) -> ServiceClient:
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}")
    settings = _settings()
    base_url = settings.service_url(service)
    return ServiceClient(service, base_url, settings.service_token_secret, pooled_session(service),
                         json_pool(base_url))


def identity() -> ServiceClient:
    return client("identity")


def booking() -> ServiceClient:
    return client("booking")


def billing() -> ServiceClient:
    return client("billing")


def demandes() -> ServiceClient:
    """The requests service (named `demandes` here so as not to shadow the HTTP library)."""
    return client("requests")


def notify() -> ServiceClient:
    return client("notify")
