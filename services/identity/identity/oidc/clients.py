"""Registering relying parties (operator commands and the demo seed call these)."""
from __future__ import annotations

import ipaddress
import secrets as _secrets
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from identity import audit
from identity.oidc import scopes as oidc_scopes
from servicekit import token_hash
from identity.oidc.models import OAuthClient


class InvalidClientMetadata(ValueError):
    """An operator gave a URI or name the provider cannot accept."""


@dataclass(frozen=True)
class Registered:
    client_id: str
    secret: str | None  # shown once; only its hash is stored


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def check_uri(uri: str, what: str = "redirect URI") -> str:
    """Absolute http(s) URL, no fragment; plain http only on loopback (RFC 8252 §7.3)."""
    parts = urlsplit(uri or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidClientMetadata(f"{what} must be an absolute http(s) URL: {uri!r}")
    if parts.fragment:
        raise InvalidClientMetadata(f"{what} must not contain a fragment: {uri!r}")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise InvalidClientMetadata(f"{what} must use https (http is allowed on loopback only): {uri!r}")
    return uri


def _uris(values: Iterable[str], what: str) -> list[str]:
    out: list[str] = []
    for v in values:
        check_uri(v, what)
        if v not in out:
            out.append(v)
    return out


def _granted(scopes: str | Iterable[str] | None) -> str:
    try:
        return oidc_scopes.client_scopes(scopes if scopes is None or isinstance(scopes, str) else list(scopes))
    except oidc_scopes.UnknownScope as exc:
        raise InvalidClientMetadata(str(exc)) from exc


def register_client(db_session: Session, name: str, redirect_uris: Iterable[str], *, first_party: bool = False,
                    public: bool = False, post_logout_redirect_uris: Iterable[str] = (),
                    backchannel_logout_uri: str | None = None, client_id: str | None = None,
                    scopes: str | Iterable[str] | None = None) -> Registered:
    """Create a new client and return its id and (for confidential clients) its secret.
    `scopes`: what it may ask for (default scopes.DEFAULT_CLIENT_SCOPES, no API scope)."""
    granted = _granted(scopes)
    redirects = _uris(redirect_uris, "redirect URI")
    if not redirects:
        raise InvalidClientMetadata("at least one redirect URI is required")
    if not (name or "").strip():
        raise InvalidClientMetadata("a client name is required")
    client_id = client_id or f"ef-{_secrets.token_hex(8)}"
    if db_session.get(OAuthClient, client_id) is not None:
        raise InvalidClientMetadata(f"client {client_id!r} already exists")
    secret = None if public else token_hash.new_token()
    db_session.add(OAuthClient(
        client_id=client_id, name=name.strip(), secret_hash=token_hash.hash_token(secret) if secret else None,
        redirect_uris=redirects, post_logout_redirect_uris=_uris(post_logout_redirect_uris, "post-logout redirect URI"),
        backchannel_logout_uri=check_uri(backchannel_logout_uri, "back-channel logout URI") if backchannel_logout_uri else None,
        first_party=first_party, scopes=granted,
    ))
    audit.record(db_session, "oidc.client_registered", client_id=client_id, first_party=first_party, public=public,
                 scopes=granted)
    db_session.flush()
    return Registered(client_id, secret)


def ensure_client(db_session: Session, client_id: str, secret: str | None, name: str, redirect_uris: Iterable[str],
                  first_party: bool, post_logout_redirect_uris: Iterable[str] = (),
                  backchannel_logout_uri: str | None = None,
                  scopes: str | Iterable[str] | None = None) -> OAuthClient:
    """Create or update a client with a known secret (idempotent; `make run`, compose, demo seed).

    `secret=None` makes a public client; `scopes` as for register_client (set on every call)."""
    granted = _granted(scopes)
    if not client_id or len(client_id) > 64:
        raise InvalidClientMetadata("client_id must have 1 to 64 characters")
    redirects = _uris(redirect_uris, "redirect URI")
    if not redirects:
        raise InvalidClientMetadata("at least one redirect URI is required")
    logout_uris = _uris(post_logout_redirect_uris, "post-logout redirect URI")
    backchannel = check_uri(backchannel_logout_uri, "back-channel logout URI") if backchannel_logout_uri else None
    client = db_session.get(OAuthClient, client_id)
    created = client is None
    if created:
        client = OAuthClient(client_id=client_id)
        db_session.add(client)
    client.name = name
    client.secret_hash = token_hash.hash_token(secret) if secret else None
    client.redirect_uris = redirects
    client.post_logout_redirect_uris = logout_uris
    client.backchannel_logout_uri = backchannel
    client.first_party = first_party
    if not created and client.scopes != granted:
        audit.record(db_session, "oidc.client_scopes_changed", client_id=client_id, before=client.scopes,
                     after=granted)
    client.scopes = granted
    if created:
        audit.record(db_session, "oidc.client_registered", client_id=client_id, first_party=first_party,
                     public=secret is None, scopes=granted)
    db_session.flush()
    return client
