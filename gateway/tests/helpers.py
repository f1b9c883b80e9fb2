"""Test helpers: settings, migrated databases, real loopback HTTP servers, RSA keys."""
from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.serving import make_server

from servicekit import migrations
from servicekit.settings import load
from servicekit.testing import environment

from gateway.settings import GatewaySettings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def make_settings(tmp_path: Path, **env: str) -> GatewaySettings:
    base = {
        "EF_ENV": "test",
        "EF_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'gateway.db'}",
        "LOG_FORMAT": "text",
    }
    base.update(env)
    settings = load(GatewaySettings, "gateway", base)
    return settings


def migrate(settings: GatewaySettings) -> None:
    migrations.upgrade(MIGRATIONS, settings.database_url)


@contextlib.contextmanager
def gateway_app(var: Path, **env: str):
    """The gateway's Flask app on its own migrated SQLite database under `var`, built from `env`
    (the services' URLs the test serves; identity defaults to a closed port). The environment
    is set for the app's lifetime, since views read settings through `get_settings`."""
    from gateway.app import create_app
    from gateway.settings import get_settings

    full = {"IDENTITY_URL": f"http://127.0.0.1:{closed_port()}", "EF_ENV": "test", "EF_VAR_DIR": str(var),
            "DATABASE_URL": f"sqlite:///{var / 'gateway.db'}", "LOG_FORMAT": "text", **env}
    with environment(full):
        get_settings.cache_clear()
        try:
            settings = make_settings(var, **full)
            migrate(settings)
            yield create_app(settings).app
        finally:
            get_settings.cache_clear()


def closed_port() -> int:
    """A loopback port nobody listens on (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(wsgi_app):
    """Run a WSGI app on a real loopback port in a thread; yield its base URL."""
    server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


class SigningKey:
    """An RSA key with a kid, to sign tokens the way identity does."""

    def __init__(self, kid: str):
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> dict:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        jwk.update(kid=self.kid, use="sig", alg="RS256")
        return jwk

    def sign(self, claims: dict, kid: str | None = None) -> str:
        return jwt.encode(claims, self.private, algorithm="RS256", headers={"kid": kid or self.kid})


def access_claims(issuer: str, audience: str | list = ("demo-portal", "http://gateway.test"), ttl: int = 300, **extra) -> dict:
    now = int(time.time())
    claims = {"iss": issuer, "aud": list(audience) if isinstance(audience, tuple) else audience, "sub": "user-123", "iat": now, "exp": now + ttl,
              "scope": "openid profile email", "client_id": "demo-portal"}
    claims.update(extra)
    return claims


def session_cookie(flask_app, data: dict) -> str:
    """A gateway session cookie value, signed with the app's secret (as after sign-in)."""
    return flask_app.session_interface.get_signing_serializer(flask_app).dumps(data)


def sign_in(client, flask_app, user: dict, now: float, **extra) -> None:
    data = {"user": user, "auth_at": now, "seen_at": now, "_permanent": True, **extra}
    client.cookies.set("ef_session", session_cookie(flask_app, data), domain="testserver.local", path="/")


PARENT = {"sub": "parent-1", "email": "parent@example.org", "name": "Camille Martin", "family_id": "fam-1",
          "communes": [{"slug": "heillecourt", "name": "Heillecourt"}], "agent_of": [], "platform_role": None}
AGENT = {"sub": "agent-1", "email": "agent@example.org", "name": "Alex Agent", "family_id": None,
         "communes": [], "agent_of": [{"slug": "heillecourt", "name": "Heillecourt", "role": "agent"},
                                      {"slug": "ludres", "name": "Ludres", "role": "admin"}],
         "platform_role": None}


class FakeIdentity:
    """A stand-in for identity's OpenID endpoints, signing with test keys (unit tests only:
    integration tests use the real identity process)."""

    def __init__(self, issuer: str, client_id: str = "gateway", client_secret: str = "dev-only-gateway-oidc-secret"):
        from flask import Flask, jsonify, request
        import base64
        import hashlib

        self.issuer = issuer
        self.key = SigningKey("key-1")
        self.keys = [self.key]
        self.codes: dict[str, dict] = {}
        self.claims: dict = {}
        self.token_requests: list[dict] = []
        app = Flask("fake_identity")
        path = "/oidc"

        @app.get(f"{path}/.well-known/openid-configuration")
        def discovery():
            return jsonify(issuer=issuer, authorization_endpoint=f"{issuer}/authorize",
                           token_endpoint=f"{issuer}/token", userinfo_endpoint=f"{issuer}/userinfo",
                           jwks_uri=f"{issuer}/jwks", end_session_endpoint=f"{issuer}/logout",
                           id_token_signing_alg_values_supported=["RS256"],
                           code_challenge_methods_supported=["S256"])

        @app.get(f"{path}/jwks")
        def jwks():
            return jsonify(keys=[k.jwk() for k in self.keys])

        @app.post(f"{path}/token")
        def token():
            form = request.form.to_dict()
            self.token_requests.append({"form": form, "authorization": request.headers.get("Authorization")})
            expected = "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
            if request.headers.get("Authorization") != expected:
                return jsonify(error="invalid_client"), 401
            grant = self.codes.pop(form.get("code"), None)
            if grant is None:
                return jsonify(error="invalid_grant"), 400
            verifier = form.get("code_verifier", "")
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if challenge != grant["code_challenge"]:
                return jsonify(error="invalid_grant", error_description="PKCE"), 400
            now = int(time.time())
            id_token = self.key.sign({"iss": issuer, "aud": client_id, "sub": self.claims["sub"], "iat": now,
                                      "exp": now + 300, "nonce": grant["nonce"], "sid": "sid-1",
                                      "auth_time": now, **self.claims})
            return jsonify(access_token="at-" + grant["nonce"], token_type="Bearer", expires_in=300,
                           id_token=id_token)

        @app.get(f"{path}/userinfo")
        def userinfo():
            if not (request.headers.get("Authorization") or "").startswith("Bearer at-"):
                return jsonify(error="invalid_token"), 401
            return jsonify(self.claims)

        self.app = app

    def authorize(self, query: dict) -> str:
        """What identity's authorize endpoint does once the user signed in: issue a code."""
        code = f"code-{len(self.codes) + 1}"
        self.codes[code] = {"nonce": query["nonce"], "code_challenge": query["code_challenge"]}
        return code


# --- the public API of sibling portals (/api): a fake identity, the gateway, a bearer token -----------
PORTAL_ISSUER = "http://gateway.test/oidc"
SERVICE_SECRET = "dev-only-service-token-secret-change-me"


@pytest.fixture(name="identity")
def portal_identity():
    """The `identity` fixture of the public API's tests (import it): FakeIdentity on a loopback
    port (`.base`), signing the portals' access tokens."""
    fake = FakeIdentity(PORTAL_ISSUER)
    with serve(fake.app) as base:
        fake.base = base
        yield fake


@contextlib.contextmanager
def public_api_client(tmp_path: Path, identity: FakeIdentity, **service_urls: str):
    """The gateway's test client, trusting `identity`'s tokens and asking the services at
    `service_urls` (e.g. BILLING_URL=...) with SERVICE_SECRET's service tokens."""
    from gateway.app import create_app

    settings = make_settings(tmp_path, OIDC_ISSUER=PORTAL_ISSUER, PUBLIC_URL="http://gateway.test",
                             IDENTITY_URL=identity.base, SERVICE_TOKEN_SECRET=SERVICE_SECRET, **service_urls)
    migrate(settings)
    with create_app(settings).test_client() as client:
        yield client


def fake_service(name: str, audience: str):
    """A Flask stand-in for a platform service (add its routes, then serve it with `served`):
    `app.caller()` verifies the gateway's service token for `audience` and records
    (caller, path) in `app.seen`."""
    from flask import Flask, request
    from servicekit import tokens

    app = Flask(name)
    app.seen = []

    def caller():
        found = tokens.verify(request.headers["Authorization"].split()[1], audience, SERVICE_SECRET)
        app.seen.append((found, request.full_path))
        return found

    app.caller = caller
    return app


@contextlib.contextmanager
def served(app):
    """`app` on a loopback port, its URL in `app.base`."""
    with serve(app) as base:
        app.base = base
        yield app


def bearer_get(client, path: str, token: str):
    return client.get(path, headers={"Authorization": f"Bearer {token}"})
