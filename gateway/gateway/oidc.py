"""identity as the gateway's OpenID provider.

Browsers reach identity through this gateway (issuer OIDC_ISSUER, e.g.
http://127.0.0.1:8000/oidc) while the gateway itself talks to identity directly (IDENTITY_URL):
the discovery document is fetched from IDENTITY_URL and its server-to-server endpoints (token,
userinfo, JWKS, revocation, introspection) are rewritten to IDENTITY_URL. The authorization
and end-session endpoints stay browser-facing.
"""
from __future__ import annotations

import threading
import time
from urllib.parse import urlencode, urlsplit

from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app

from gateway import clients
from gateway.jwks import JwksCache
from gateway.settings import GatewaySettings

SERVER_TO_SERVER = ("token_endpoint", "userinfo_endpoint", "jwks_uri", "revocation_endpoint",
                    "introspection_endpoint")
METADATA_TTL = 300.0
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


class ProviderError(Exception):
    """identity's OpenID configuration could not be obtained or is inconsistent."""


class Provider:
    def __init__(self, settings: GatewaySettings):
        self.settings = settings
        parts = urlsplit(settings.oidc_issuer)
        self.public_origin = f"{parts.scheme}://{parts.netloc}"
        self._metadata: dict | None = None
        self._loaded_at = 0.0
        self._lock = threading.Lock()
        self.jwks = JwksCache(self._fetch_jwks)

    def internal_url(self, url: str) -> str:
        """The same endpoint reached directly on identity (the gateway proxies /oidc unchanged)."""
        if url.startswith(self.public_origin + "/"):
            return self.settings.identity_url + url[len(self.public_origin):]
        return url

    def _http(self):
        return clients.pooled_session("identity-oidc")

    def metadata(self) -> dict:
        with self._lock:
            if self._metadata is None or time.monotonic() - self._loaded_at > METADATA_TTL:
                url = self.internal_url(self.settings.oidc_issuer + "/.well-known/openid-configuration")
                try:
                    resp = self._http().get(url, timeout=(clients.CONNECT_TIMEOUT, clients.READ_TIMEOUT))
                    resp.raise_for_status()
                    document = resp.json()
                except (clients.http.RequestException, ValueError) as exc:
                    raise ProviderError(f"discovery failed: {exc}") from exc
                if document.get("issuer") != self.settings.oidc_issuer:
                    raise ProviderError(f"issuer {document.get('issuer')!r} is not OIDC_ISSUER")
                for name in SERVER_TO_SERVER:
                    if document.get(name):
                        document[name] = self.internal_url(document[name])
                self._metadata = document
                self._loaded_at = time.monotonic()
            return dict(self._metadata)

    def _fetch_jwks(self) -> dict:
        uri = self.metadata().get("jwks_uri")
        if not uri:
            raise ProviderError("no jwks_uri")
        try:
            resp = self._http().get(uri, timeout=(clients.CONNECT_TIMEOUT, clients.READ_TIMEOUT))
            resp.raise_for_status()
            return resp.json()
        except (clients.http.RequestException, ValueError) as exc:
            raise ProviderError(f"JWKS fetch failed: {exc}") from exc

    def end_session_url(self, id_token: str | None, post_logout_redirect_uri: str) -> str | None:
        endpoint = self.metadata().get("end_session_endpoint")
        if not endpoint:
            return None
        params = {"post_logout_redirect_uri": post_logout_redirect_uri,
                  "client_id": self.settings.gateway_oidc_client_id}
        if id_token:
            params["id_token_hint"] = id_token
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(params)}"

    def verify_logout_token(self, token: str) -> dict:
        """Back-channel logout token checks (OpenID Connect Back-Channel Logout 1.0, §2.6)."""
        from gateway.jwks import InvalidJWT

        claims = self.jwks.decode(token, issuer=self.settings.oidc_issuer,
                                  audience=self.settings.gateway_oidc_client_id, require=["iat", "jti"])
        events = claims.get("events")
        if not isinstance(events, dict) or BACKCHANNEL_LOGOUT_EVENT not in events:
            raise InvalidJWT("not a logout token")
        if "nonce" in claims:
            raise InvalidJWT("logout token must not carry a nonce")
        if not claims.get("sid") and not claims.get("sub"):
            raise InvalidJWT("logout token names neither sid nor sub")
        return claims


def install(flask_app: Flask, settings: GatewaySettings) -> None:
    provider = Provider(settings)
    oauth = OAuth(flask_app)
    client = oauth.register(
        "identity",
        client_id=settings.gateway_oidc_client_id,
        client_secret=settings.gateway_oidc_secret,
        client_kwargs={"scope": settings.gateway_oidc_scope, "code_challenge_method": "S256",
                       "token_endpoint_auth_method": "client_secret_basic",
                       "default_timeout": (clients.CONNECT_TIMEOUT, clients.READ_TIMEOUT)},
    )
    flask_app.extensions["oidc_provider"] = provider
    flask_app.extensions["oidc_client"] = client


def provider() -> Provider:
    return current_app.extensions["oidc_provider"]


def client():
    """Authlib's client, with identity's (rewritten) metadata loaded."""
    oauth_client = current_app.extensions["oidc_client"]
    metadata = provider().metadata()
    metadata["_loaded_at"] = time.time()
    jwks = oauth_client.server_metadata.get("jwks")
    oauth_client.server_metadata.update(metadata)
    if jwks:
        oauth_client.server_metadata["jwks"] = jwks
    return oauth_client
