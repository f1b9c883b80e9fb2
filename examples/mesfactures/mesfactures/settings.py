"""Configuration from environment variables only; a missing one stops the process at start."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class Settings:
    public_url: str            # where browsers reach this portal (redirect URIs are built on it)
    issuer: str                # identity's issuer, as browsers reach it (through the gateway)
    client_id: str
    client_secret: str
    secret_key: str            # signs the Flask session cookie
    api_url: str               # the gateway, where this portal calls /api/invoices
    family_space_url: str      # the gateway as browsers reach it ("Payer" leads there)
    provider_internal_url: str | None = None  # the issuer's origin as this server reaches it (compose)
    sessions_path: str = "var/mesfactures-sessions.db"
    scope: str = "openid invoices:read"
    secure_cookies: bool = False

    @property
    def redirect_uri(self) -> str:
        return self.public_url + "/auth/callback"

    @property
    def post_logout_redirect_uri(self) -> str:
        return self.public_url + "/"


def _url(env, name: str, default: str | None = None) -> str:
    value = (env.get(name) or default or "").strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name} must be an http(s) URL (got {value!r})")
    return value


def _required(env, name: str) -> str:
    value = (env.get(name) or "").strip()
    if not value:
        raise ConfigError(f"{name} is missing")
    return value


def from_env(env=os.environ) -> Settings:
    """MESFACTURES_* variables; the platform's own (PUBLIC_URL, OIDC_ISSUER, EF_VAR_DIR) as defaults."""
    family_space = _url(env, "MESFACTURES_FAMILY_SPACE_URL", env.get("PUBLIC_URL"))
    public_url = _url(env, "MESFACTURES_PUBLIC_URL")
    internal = env.get("MESFACTURES_PROVIDER_INTERNAL_URL")
    var_dir = Path(env.get("EF_VAR_DIR") or "var")
    return Settings(
        public_url=public_url,
        issuer=_url(env, "MESFACTURES_OIDC_ISSUER", env.get("OIDC_ISSUER")),
        client_id=env.get("MESFACTURES_CLIENT_ID") or "mesfactures",
        client_secret=_required(env, "MESFACTURES_CLIENT_SECRET"),
        secret_key=_required(env, "MESFACTURES_SECRET_KEY"),
        api_url=_url(env, "MESFACTURES_API_URL", family_space),
        family_space_url=family_space,
        provider_internal_url=_url(env, "MESFACTURES_PROVIDER_INTERNAL_URL") if internal else None,
        sessions_path=env.get("MESFACTURES_SESSIONS_DB") or str(var_dir / "mesfactures-sessions.db"),
        secure_cookies=public_url.startswith("https://"),
    )
