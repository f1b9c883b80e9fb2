"""identity as this portal's OpenID provider (authlib's Flask client does the protocol).

Browsers reach identity through the gateway (the issuer, e.g. http://127.0.0.1:8000/oidc). When
this server cannot reach that address itself (in containers), MESFACTURES_PROVIDER_INTERNAL_URL
names the same origin as seen from here, and the server-to-server endpoints of the discovery
document (token, userinfo, JWKS) are rewritten to it; authorize and end-session stay
browser-facing.
"""
from __future__ import annotations

import threading
import time
from urllib.parse import urlencode, urlsplit

import requests
from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from mesfactures.settings import Settings

SERVER_TO_SERVER = ("token_endpoint", "userinfo_endpoint", "jwks_uri", "revocation_endpoint",
                    "introspection_endpoint")
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
METADATA_TTL = 300.0
TIMEOUT = (3.05, 10)


class ProviderError(Exception):
    """identity's discovery document or keys could not be obtained."""


class InvalidLogoutToken(Exception):
    pass


class Provider:
    def __init__(self, settings: Settings):
        self.settings = settings
        parts = urlsplit(settings.issuer)
        self.public_origin = f"{parts.scheme}://{parts.netloc}"
        self._metadata: dict | None = None
        self._loaded_at = 0.0
        self._keys: KeySet | None = None
        self._lock = threading.Lock()
        self.http = requests.Session()
        self.http.trust_env = False

    def internal_url(self, url: str) -> str:
        internal = self.settings.provider_internal_url
        if internal and url.startswith(self.public_origin + "/"):
            return internal + url[len(self.public_origin):]
        return url

    def _get_json(self, url: str) -> dict:
        try:
            resp = self.http.get(url, timeout=TIMEOUT)
            resp.raise_for_status()
            return resp.json()
        except (requests.RequestException, ValueError) as exc:
            raise ProviderError(f"{url}: {exc}") from exc

    def metadata(self) -> dict:
        with self._lock:
            if self._metadata is None or time.monotonic() - self._loaded_at > METADATA_TTL:
                document = self._get_json(self.internal_url(self.settings.issuer + "/.well-known/openid-configuration"))
                if document.get("issuer") != self.settings.issuer:
                    raise ProviderError(f"issuer {document.get('issuer')!r} is not {self.settings.issuer!r}")
                for name in SERVER_TO_SERVER:
                    if document.get(name):
                        document[name] = self.internal_url(document[name])
                self._metadata, self._loaded_at = document, time.monotonic()
            return dict(self._metadata)

    def keys(self, refresh: bool = False) -> KeySet:
        if self._keys is None or refresh:
            self._keys = KeySet.import_key_set(self._get_json(self.metadata()["jwks_uri"]))
        return self._keys

    def end_session_url(self, id_token: str | None) -> str | None:
        """RP-initiated logout at identity: ends the single sign-on session (and so the family space's)."""
        endpoint = self.metadata().get("end_session_endpoint")
        if not endpoint:
            return None
        params = {"client_id": self.settings.client_id,
                  "post_logout_redirect_uri": self.settings.post_logout_redirect_uri}
        if id_token:
            params["id_token_hint"] = id_token
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(params)}"

    def verify_logout_token(self, token: str) -> dict:
        """OpenID Connect Back-Channel Logout 1.0, §2.6: signature, iss, aud, iat, jti, events, no nonce."""
        try:
            try:
                decoded = jwt.decode(token, self.keys(), algorithms=["RS256"])
            except JoseError:  # perhaps a key we have not seen yet: fetch the JWKS once more
                decoded = jwt.decode(token, self.keys(refresh=True), algorithms=["RS256"])
            claims = decoded.claims
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": self.settings.issuer},
                aud={"essential": True, "value": self.settings.client_id},
                iat={"essential": True}, jti={"essential": True}, leeway=30,
            ).validate(claims)
        except (JoseError, ValueError) as exc:
            raise InvalidLogoutToken(str(exc) or type(exc).__name__) from exc
        events = claims.get("events")
        if not isinstance(events, dict) or BACKCHANNEL_LOGOUT_EVENT not in events:
            raise InvalidLogoutToken("not a logout token")
        if "nonce" in claims:
            raise InvalidLogoutToken("a logout token carries no nonce")
        if not claims.get("sid") and not claims.get("sub"):
            raise InvalidLogoutToken("the logout token names neither sid nor sub")
        return claims


def install(app: Flask, settings: Settings) -> None:
    oauth = OAuth(app)
    oauth.register(
        "identity",
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        client_kwargs={"scope": settings.scope, "code_challenge_method": "S256",
                       "token_endpoint_auth_method": "client_secret_basic", "default_timeout": TIMEOUT},
    )
    app.extensions["mesfactures_provider"] = Provider(settings)


def provider() -> Provider:
    return current_app.extensions["mesfactures_provider"]


def client():
    """authlib's client with identity's (rewritten) discovery document."""
    oauth_client = current_app.extensions["authlib.integrations.flask_client"].identity
    metadata = provider().metadata()
    metadata["_loaded_at"] = time.time()
    jwks = oauth_client.server_metadata.get("jwks")
    oauth_client.server_metadata.update(metadata)
    if jwks:
        oauth_client.server_metadata["jwks"] = jwks
    return oauth_client
