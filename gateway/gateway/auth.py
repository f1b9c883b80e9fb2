"""Who is signed in, and the decorators that guard pages.

The session (a signed cookie) holds the user dict built at sign-in from identity's claims:
{sub, email, name, family_id, communes: [{slug, name}], agent_of: [{slug, name, role}],
platform_role}. Agents act for one commune at a time: `session["commune"]` (a slug).
"""
from __future__ import annotations

import secrets
import time
from functools import wraps
from typing import Callable

from flask import abort, redirect, request, session, url_for

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
