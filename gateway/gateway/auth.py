"""Who is signed in, the decorators that guard pages, and the public API's scopes.

The session (a signed cookie) holds the user dict built at sign-in from identity's claims:
{sub, email, name, family_id, communes: [{slug, name}], agent_of: [{slug, name, role}],
platform_role}. Agents act for one commune at a time: `session["commune"]` (a slug).

Public API operations say in openapi/gateway.yaml which credentials they take: the session
cookie and/or identity's access token (scheme `identityBearer`) with the scopes it must carry,
e.g. `security: [{identityBearer: [invoices:read]}, {session: []}]`. `required_scopes` reads
that declaration; `require_scopes` refuses a token without them (403 problem+json). Identity
grants scopes per client at registration (register-client --scopes).
"""
from __future__ import annotations

import logging
import secrets
import time
from functools import lru_cache, wraps
from pathlib import Path
from typing import Callable

import yaml
from flask import abort, redirect, request, session, url_for

from servicekit.web import Problem

log = logging.getLogger(__name__)

AGENT_ROLES = ("agent", "admin")

# The clock used for session lifetimes; tests replace it (see `set_clock`).
_clock: Callable[[], float] = time.time


def now() -> float:
    return _clock()


def set_clock(fn: Callable[[], float]) -> None:
    global _clock
    _clock = fn


def current_user() -> dict | None:
    return session.get("user")


def is_agent(user: dict | None = None) -> bool:
    user = user if user is not None else current_user()
    return bool(user and user.get("agent_of"))


def agent_communes(user: dict | None = None) -> list[dict]:
    user = user if user is not None else current_user()
    return [c for c in (user or {}).get("agent_of") or [] if c.get("role") in AGENT_ROLES]


def active_commune() -> dict | None:
    """The commune the agent currently acts for (one of their `agent_of` entries), if any."""
    slug = session.get("commune")
    if not slug:
        return None
    for commune in agent_communes():
        if commune.get("slug") == slug:
            return commune
    return None


def sign_in(user: dict, sid: str | None = None, id_token: str | None = None) -> None:
    """Start a fresh gateway session for `user` (the caller verified who it is)."""
    # Messages flashed just before sign-in (e.g. "Votre compte est activé") are shown after it.
    pending_messages = session.get("_flashes")
    session.clear()
    if pending_messages:
        session["_flashes"] = pending_messages
    stamp = now()
    session["user"] = user
    session["auth_at"] = stamp
    session["seen_at"] = stamp
    # This gateway session's own id: signing out records it as ended, so a copy of the cookie
    # taken before sign-out is refused afterwards (the cookie itself cannot be recalled).
    session["gsid"] = secrets.token_urlsafe(16)
    if sid:
        session["sid"] = sid
    if id_token:
        session["id_token"] = id_token
    communes = agent_communes(user)
    if communes:
        session["commune"] = communes[0]["slug"]
    session.permanent = True


def _login_redirect():
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def login_required(view):
    """Pages for any signed-in user; others are sent to sign in and brought back."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        if current_user() is None:
            return _login_redirect()
        return view(*args, **kwargs)
    return wrapper


def agent_required(view):
    """Pages for agents/admins of the session's active commune; a parent gets a 403 page."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        if current_user() is None:
            return _login_redirect()
        if active_commune() is None:
            abort(403)
        return view(*args, **kwargs)
    return wrapper


# --- public API: scopes per operation -------------------------------------------------------------
SPEC = Path(__file__).resolve().parent.parent / "openapi" / "gateway.yaml"
BEARER_SCHEME = "identityBearer"


@lru_cache
def _bearer_scopes(spec: Path) -> dict[str, tuple[str, ...] | None]:
    """operationId -> the scopes its `identityBearer` requirement lists (None: no bearer token)."""
    document = yaml.safe_load(spec.read_text(encoding="utf-8"))
    default = document.get("security") or []
    found: dict[str, tuple[str, ...] | None] = {}
    for path_item in (document.get("paths") or {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "operationId" not in operation:
                continue
            requirements = operation.get("security", default) or []
            found[operation["operationId"]] = next(
                (tuple(r[BEARER_SCHEME]) for r in requirements if BEARER_SCHEME in r), None)
    return found


def required_scopes(operation_id: str, spec: Path = SPEC) -> tuple[str, ...] | None:
    """The scopes an access token needs for `operation_id`; None when it takes no access token."""
    return _bearer_scopes(spec)[operation_id]


def decode_access_token(provider, settings, token: str) -> dict:
    """identity's access token: signature against its JWKS, iss, aud (the gateway API), exp."""
    from gateway import clients, oidc
    from gateway.jwks import InvalidJWT

    try:
        return provider.jwks.decode(token, issuer=settings.oidc_issuer, audience=settings.gateway_api_audience,
                                    require=["exp", "iat", "sub", "aud", "iss"], leeway=5)
    except oidc.ProviderError as exc:
        log.warning("cannot verify bearer token: %s", exc)
        raise Problem(503, clients.UNAVAILABLE_DETAIL) from exc
    except InvalidJWT as exc:
        log.info("bearer token refused: %s", exc)
        raise Problem(401, "Jeton d'accès invalide ou expiré.") from exc


def require_scopes(claims: dict, required: tuple[str, ...] | None) -> None:
    """Refuse an access token that lacks one of `required` (problem+json, French detail)."""
    if required is None:
        raise Problem(401, "Cette opération n'accepte pas de jeton d'accès : connectez-vous.")
    granted = set(str(claims.get("scope", "")).split())
    missing = [s for s in required if s not in granted]
    if missing:
        raise Problem(403, "Ce jeton d'accès n'autorise pas cette opération : il n'a pas la portée "
                           + ", ".join(f"« {s} »" for s in missing) + ".")


def connexion_security(provider_of: Callable, settings) -> dict:
    """The `security_map` of the public API's AsyncApp: its async operations check
    `identityBearer` (identity's access token and the scopes the operation lists) here. The
    session cookie is read by Flask views only (/api/me): connexion operations never take it."""
    from connexion.security import NO_VALUE, AbstractSecurityHandler
    from starlette.concurrency import run_in_threadpool

    class IdentityBearer(AbstractSecurityHandler):
        def get_fn(self, security_scheme, required_scopes):
            required = tuple(required_scopes or ())

            async def verify(request):
                scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
                if scheme.lower() != "bearer" or not token.strip():
                    raise Problem(401, "Présentez un jeton d'accès (Authorization: Bearer).")
                # The JWKS may have to be fetched (blocking I/O, rarely): off the event loop.
                claims = await run_in_threadpool(decode_access_token, provider_of(), settings, token.strip())
                require_scopes(claims, required)
                return {"sub": claims["sub"], "scope": claims.get("scope", ""), "claims": claims}

            return verify

    class FlaskSessionOnly(AbstractSecurityHandler):
        def get_fn(self, security_scheme, required_scopes):
            async def never(_request):
                return NO_VALUE

            return never

    return {"oauth2": IdentityBearer, "apiKey": FlaskSessionOnly}
