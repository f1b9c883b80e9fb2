"""The Authlib authorization server, configured for this platform.

Authlib pitfalls handled here (see ARCHITECTURE.md):
- PKCE is enforced for every client (confidential ones too), S256 only; `plain` is refused;
- a reused authorization code is refused AND the tokens issued at its first use are revoked;
- refresh tokens are on, rotated at each use, and a replayed one revokes its whole family;
- refreshed id_tokens keep the real `auth_time` (and `sid`, `amr`);
- access tokens live minutes, not Authlib's default of days;
- `max_age` and `prompt` are handled by the authorize view (views.py).
"""
from __future__ import annotations

import logging
from datetime import timedelta

import sqlalchemy as sa
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload, FlaskOAuth2Request
from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Request, grants
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.rpinitiated import EndSessionEndpoint
from flask import g, request as flask_request

from identity import audit
from identity.models import User
from identity.oidc import context, keys
from servicekit import token_hash
from identity.oidc import tokens
from identity.oidc.models import AuthorizationCode, OAuthClient, Token

log = logging.getLogger(__name__)

CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


class ProviderRequest(FlaskOAuth2Request):
    """The Flask request, seen at its public URL (the issuer's origin): identity sits behind
    the gateway, so its own Host is an internal name."""

    def __init__(self, request):
        issuer = context.settings().oidc_issuer.rstrip("/")
        origin = issuer[: -len("/oidc")] if issuer.endswith("/oidc") else issuer
        OAuth2Request.__init__(self, method=request.method, uri=origin + request.full_path.rstrip("?"),
                               headers=request.headers)
        self._request = request
        self.payload = FlaskOAuth2Payload(request)


class Server(AuthorizationServer):
    def create_oauth2_request(self, request):
        if isinstance(request, OAuth2Request):
            return request
        req = ProviderRequest(flask_request)
        g.oidc_oauth_request = req  # the token generator reads the grant's auth_time from it
        return req


# --- PKCE -----------------------------------------------------------------------------------
class S256Required(CodeChallenge):
    """PKCE for every client, S256 only (Authlib only requires it for public clients)."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: missing 'code_challenge'.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only 'code_challenge_method=S256' is supported.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant, result):
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'.")
        super().validate_code_verifier(grant, result)


# --- id_tokens --------------------------------------------------------------------------------
class CodeIdToken(OpenIDCode):
    """Nonce checks and prompt validation from Authlib; the id_token itself from tokens.py."""

    def exists_nonce(self, nonce, request):
        return context.db().scalar(
            sa.select(sa.func.count()).select_from(AuthorizationCode)
            .where(AuthorizationCode.client_id == request.payload.client_id, AuthorizationCode.nonce == nonce)) > 0

    def process_token(self, grant, response):
        _, token, _ = response
        code: AuthorizationCode = grant.request.authorization_code
        if "openid" in (token.get("scope") or "").split():
            token["id_token"] = tokens.mint_id_token(
                context.db(), context.settings(), grant.request.client, grant.request.user, token["scope"],
                auth_time=code.auth_time, sid=code.sid, amr=code.amr, nonce=code.nonce,
                access_token=token.get("access_token"))
        return token


class RefreshIdToken:
    """Refresh responses carry a new id_token with the original auth_time (OIDC Core §12.2)."""

    def __call__(self, grant):
        grant.register_hook("after_create_token_response", self.process_token)

    def process_token(self, grant, response):
        _, token, _ = response
        old: Token = grant.request.refresh_token
        if "openid" in (token.get("scope") or "").split():
            token["id_token"] = tokens.mint_id_token(
                context.db(), context.settings(), grant.request.client, grant.request.user, token["scope"],
                auth_time=old.auth_time, sid=old.sid, amr=old.amr, nonce=None,
                access_token=token.get("access_token"))
        return token


# --- grants -----------------------------------------------------------------------------------
class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def save_authorization_code(self, code, request):
        settings = context.settings()
        sso = g.oidc_sso
        data = request.payload.data
        now = context.now()
        context.db().add(AuthorizationCode(
            code_hash=token_hash.hash_token(code), client_id=request.client.client_id, user_id=request.user.id,
            sid=sso.sid, redirect_uri=request.payload.redirect_uri or request.client.get_default_redirect_uri(),
            scope=request.scope or "", nonce=data.get("nonce"), code_challenge=data["code_challenge"],
            code_challenge_method=data.get("code_challenge_method"), auth_time=sso.auth_time,
            amr=list(sso.amr or []), created_at=now, expires_at=now + timedelta(seconds=settings.oidc_code_ttl)))

    def query_authorization_code(self, code, client):
        session = context.db()
        query = sa.select(AuthorizationCode).where(AuthorizationCode.code_hash == token_hash.hash_token(code))
        row = session.scalars(tokens._for_update(query, session)).first()
        if row is None or row.client_id != client.client_id:
            return None
        if row.used_at is not None:
            # RFC 6749 §4.1.2: a code presented twice is refused and what it gave is revoked.
            log.warning("authorization code reused by client %s; revoking its tokens", client.client_id)
            audit.record(session, "oidc.code_reused", subject_user_id=row.user_id, client_id=client.client_id)
            if row.family_id:
                tokens.revoke_family(session, row.family_id, "code_reuse")
            return None
        if row.expires_at <= context.now():
            return None
        return _CodeView(row)

    def delete_authorization_code(self, authorization_code):
        row = authorization_code.row
        row.used_at = context.now()
        row.family_id = g.oidc_family_id

    def authenticate_user(self, authorization_code):
        user = context.db().get(User, authorization_code.row.user_id)
        return user if user is not None and user.is_active else None


class _CodeView:
    """What Authlib reads from a code (kept apart from the table so Authlib cannot write it)."""

    def __init__(self, row: AuthorizationCode):
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method
        self.auth_time, self.sid, self.amr, self.nonce = row.auth_time, row.sid, row.amr, row.nonce

    def get_redirect_uri(self):
        return self.row.redirect_uri

    def get_scope(self):
        return self.row.scope


class RefreshGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation

    def authenticate_refresh_token(self, refresh_token):
        session = context.db()
        row = tokens.find_by_refresh(session, refresh_token, lock=True)
        if row is None or row.revoked_at is not None:
            return None
        if row.rotated_at is not None:
            # A refresh token used twice was stolen or duplicated: end the whole family.
            log.warning("refresh token replayed for client %s; revoking its family", row.client_id)
            audit.record(session, "oidc.refresh_replayed", subject_user_id=row.user_id, client_id=row.client_id)
            tokens.revoke_family(session, row.family_id, "refresh_reuse")
            return None
        if not tokens.refresh_is_active(row):
            return None
        return _RefreshView(row)

    def authenticate_user(self, refresh_token):
        user = context.db().get(User, refresh_token.user_id)
        return user if user is not None and user.is_active else None

    def revoke_old_credential(self, refresh_token):
        refresh_token.row.rotated_at = context.now()


class _RefreshView:
    def __init__(self, row: Token):
        self.row = row
        self.user_id, self.auth_time, self.sid, self.amr = row.user_id, row.auth_time, row.sid, row.amr
        self.family_id, self.refresh_expires_at = row.family_id, row.refresh_expires_at

    def check_client(self, client):
        return self.row.client_id == client.client_id

    def get_scope(self):
        return self.row.scope


# --- token generation and storage ----------------------------------------------------------------
def generate_token(grant_type, client, user=None, scope=None, expires_in=None, include_refresh_token=True):
    session, settings = context.db(), context.settings()
    auth_time = _current_grant_auth_time()
    access, jti, expires_at = tokens.mint_access_token(session, settings, client, user, scope or "", auth_time)
    g.oidc_minted = {"jti": jti, "expires_at": expires_at}
    token = {"token_type": "Bearer", "access_token": access, "expires_in": settings.oidc_access_token_ttl,
             "scope": scope or ""}
    if include_refresh_token:
        token["refresh_token"] = token_hash.new_token()
    return token


def _current_grant_auth_time():
    req = g.get("oidc_oauth_request")
    source = getattr(req, "authorization_code", None) or getattr(req, "refresh_token", None)
    return getattr(source, "auth_time", None)


def save_token(token, request):
    session, settings = context.db(), context.settings()
    source = getattr(request, "authorization_code", None)
    family_id = refresh_expires_at = None
    if source is None:
        source = request.refresh_token
        family_id, refresh_expires_at = source.family_id, source.refresh_expires_at
    minted = g.oidc_minted
    row = tokens.record_issuance(
        session, client=request.client, user=request.user, scope=token.get("scope") or "", jti=minted["jti"],
        access_expires_at=minted["expires_at"], refresh_token=token.get("refresh_token"), family_id=family_id,
        refresh_expires_at=refresh_expires_at, refresh_ttl=settings.oidc_refresh_token_ttl, sid=source.sid,
        auth_time=source.auth_time, amr=source.amr)
    g.oidc_family_id = row.family_id


def query_client(client_id):
    if not client_id:
        return None
    return context.db().get(OAuthClient, client_id)


# --- revocation, introspection, end session --------------------------------------------------
class _Found:
    """A token found by its string, with the kind it was found as."""

    def __init__(self, row: Token, kind: str):
        self.row, self.kind = row, kind

    def check_client(self, client):
        return self.row.client_id == client.client_id

    def is_expired(self):
        if self.kind == "access_token":
            return self.row.access_expires_at <= context.now()
        return not self.row.refresh_expires_at or self.row.refresh_expires_at <= context.now()

    def is_revoked(self):
        if self.kind == "access_token":
            return self.row.revoked_at is not None or self.row.access_revoked_at is not None
        return self.row.revoked_at is not None or self.row.rotated_at is not None


def _find(token_string: str, hint: str | None) -> _Found | None:
    session, settings = context.db(), context.settings()
    order = ["refresh_token", "access_token"] if hint != "access_token" else ["access_token", "refresh_token"]
    for kind in order:
        row = (tokens.find_by_refresh(session, token_string) if kind == "refresh_token"
               else tokens.find_by_access(session, settings, token_string))
        if row is not None:
            return _Found(row, kind)
    return None


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def query_token(self, token_string, token_type_hint):
        return _find(token_string, token_type_hint)

    def revoke_token(self, token, request):
        session = context.db()
        if token.kind == "refresh_token":
            # Revoking a refresh token ends the grant: every token of its family (RFC 7009 §2.1).
            tokens.revoke_family(session, token.row.family_id, "revoked_by_client")
        elif token.row.access_revoked_at is None:
            token.row.access_revoked_at = context.now()


class Introspection(IntrospectionEndpoint):
    # Only confidential clients may introspect (a public client cannot keep a secret).
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def query_token(self, token_string, token_type_hint):
        return _find(token_string, token_type_hint)

    def check_permission(self, token, client, request):
        # A client sees its own tokens; first-party clients (the gateway, which accepts
        # identity's bearer tokens on its public API) may check any.
        return token.check_client(client) or client.first_party

    def introspect_token(self, token):
        row = token.row
        user = context.db().get(User, row.user_id)
        exp = row.access_expires_at if token.kind == "access_token" else row.refresh_expires_at
        settings = context.settings()
        return {
            "active": True, "client_id": row.client_id, "token_type": "Bearer" if token.kind == "access_token" else "refresh_token",
            "scope": row.scope, "sub": user.sub if user else None, "iss": settings.oidc_issuer,
            "aud": tokens.access_token_audience(settings, row.client_id),
            "exp": int(exp.timestamp()), "iat": int(row.created_at.timestamp()),
            "auth_time": int(row.auth_time.timestamp()), "sid": row.sid,
        }


class EndSession(EndSessionEndpoint):
    def get_server_jwks(self):
        return keys.verification_keys(context.db())

    def get_algorithms(self):
        return [keys.ALG]

    def is_post_logout_redirect_uri_legitimate(self, request, post_logout_redirect_uri, client, logout_hint):
        # Without id_token_hint the user confirms on our page first, and the URI has already
        # matched exactly one registered for the client named by client_id.
        return True

    def end_session(self, end_session_request):
        raise NotImplementedError("views.end_session performs the logout itself")


def build_server() -> Server:
    server = Server(query_client=query_client, save_token=save_token)
    server.register_token_generator("default", generate_token)
    server.register_grant(CodeGrant, [S256Required(required=True), CodeIdToken(require_nonce=False)])
    server.register_grant(RefreshGrant, [RefreshIdToken()])
    server.register_endpoint(Revocation)
    server.register_endpoint(Introspection)
    server.register_endpoint(EndSession)
    return server
