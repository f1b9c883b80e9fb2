"""The gateway's configuration (environment variables only, read once)."""
from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlsplit

from pydantic import model_validator

from servicekit.forwarded import DEFAULT_TRUSTED
from servicekit.settings import ServiceSettings, load

SERVICE = "gateway"
DEV_SECRET_KEY = "dev-only-gateway-secret-key-change-me"
DEV_OIDC_SECRET = "dev-only-gateway-oidc-secret"


class GatewaySettings(ServiceSettings):
    identity_url: str = "http://127.0.0.1:8001"
    booking_url: str = "http://127.0.0.1:8002"
    billing_url: str = "http://127.0.0.1:8003"
    requests_url: str = "http://127.0.0.1:8004"
    notify_url: str = "http://127.0.0.1:8005"
    # Browser-facing issuer (through this gateway); server-to-server calls go to IDENTITY_URL.
    oidc_issuer: str = "http://127.0.0.1:8000/oidc"
    gateway_oidc_client_id: str = "gateway"
    gateway_oidc_secret: str = ""
    gateway_oidc_scope: str = "openid email profile"
    # Bearer access tokens accepted on /api/: audience (default PUBLIC_URL, which identity puts
    # in every access token's `aud` beside the client id). The scopes they must carry are
    # declared per operation in openapi/gateway.yaml (auth.required_scopes).
    gateway_api_audience: str = ""
    gateway_secret_key: str = ""
    mailcatcher_url: str = "http://127.0.0.1:1080"
    # Reverse proxies in front of the gateway (the ingress) whose X-Forwarded-For/-Proto are
    # believed: addresses or networks, comma-separated (servicekit.forwarded). The same
    # variable configures gunicorn/uvicorn.
    forwarded_allow_ips: str = DEFAULT_TRUSTED
    # Shown details of /health, /health/ready and /metrics to whoever presents it as a bearer
    # token (operators, Prometheus); empty: the public status only, for everyone.
    operator_token: str = ""
    # How long each process keeps identity's public list of communes for /api/communes (seconds;
    # 0: asked at every request). A change at identity shows through the gateway within it.
    gateway_communes_kept_seconds: float = 5.0
    # Gateway session: idle and absolute lifetimes (seconds).
    session_idle_seconds: int = 30 * 60
    session_absolute_seconds: int = 12 * 3600

    @model_validator(mode="after")
    def _gateway_secrets(self):
        if not self.gateway_secret_key:
            if self.is_production:
                raise ValueError("GATEWAY_SECRET_KEY is required in production")
            self.gateway_secret_key = DEV_SECRET_KEY
        elif self.is_production and len(self.gateway_secret_key) < 32:
            raise ValueError("GATEWAY_SECRET_KEY must be at least 32 characters in production")
        if not self.gateway_oidc_secret:
            if self.is_production:
                raise ValueError("GATEWAY_OIDC_SECRET is required in production")
            self.gateway_oidc_secret = DEV_OIDC_SECRET
        if self.operator_token and self.is_production and len(self.operator_token) < 32:
            raise ValueError("OPERATOR_TOKEN must be at least 32 characters in production")
        if not self.gateway_api_audience:
            self.gateway_api_audience = self.public_url.rstrip("/")
        for name in ("identity_url", "booking_url", "billing_url", "requests_url", "notify_url",
                     "oidc_issuer", "mailcatcher_url", "public_url"):
            setattr(self, name, getattr(self, name).rstrip("/"))
        for service in SERVICES:
            # The gateway's clients speak plain HTTP/1.1 inside the cluster (ADR 0007 addendum 7):
            # refuse another scheme at start-up rather than with a 500 at the first call.
            url = urlsplit(self.service_url(service))
            if url.scheme != "http" or not url.hostname:
                raise ValueError(f"{service.upper()}_URL must be a plain http:// URL, not {url.geturl()!r}")
        return self

    @property
    def secure_cookies(self) -> bool:
        return self.ef_env not in ("development", "test")

    def service_url(self, service: str) -> str:
        return getattr(self, f"{service}_url")


SERVICES = ("identity", "booking", "billing", "requests", "notify")


@lru_cache
def get_settings() -> GatewaySettings:
    return load(GatewaySettings, SERVICE)
