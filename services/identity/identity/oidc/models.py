"""Tables of the OpenID Connect provider, on identity's `Base`.

Secrets (client secrets, authorization codes, refresh tokens) are stored only as SHA-256
hashes: they are high-entropy random strings, so a fast hash is enough and a copy of the
database does not let anyone act as a client or a user. Access tokens are signed JWTs; only
their `jti` is kept, so that revocation and introspection can see them.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from authlib.oauth2.rfc6749 import ClientMixin
from sqlalchemy.orm import Mapped, mapped_column

from servicekit.types import UTCDateTime

from identity.models import Base, new_id, utcnow
from servicekit import token_hash


class OAuthClient(Base, ClientMixin):
    """A relying party registered by an operator (never self-registered)."""

    __tablename__ = "oidc_clients"
    client_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    # None for public clients (they prove themselves with PKCE only).
    secret_hash: Mapped[str | None] = mapped_column(sa.String(64))
    redirect_uris: Mapped[list] = mapped_column(sa.JSON, default=list)
    post_logout_redirect_uris: Mapped[list] = mapped_column(sa.JSON, default=list)
    backchannel_logout_uri: Mapped[str | None] = mapped_column(sa.String(500))
    # First-party clients (the gateway) get implicit consent; others ask the user once.
    first_party: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    # What the client may ask for, granted by the operator at registration (scopes.client_scopes);
    # a request for more is narrowed to this.
    scopes: Mapped[str] = mapped_column(sa.String(500), default="openid profile email",
                                        server_default="openid profile email")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def is_public(self) -> bool:
        return self.secret_hash is None

    # --- what Authlib asks of a client -------------------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # Always require an explicit redirect_uri unless exactly one is registered.
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        from identity.oidc.scopes import allowed_scope

        return allowed_scope(scope, self.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact string match only (no prefix, no wildcard): OAuth 2.0 Security BCP.
        return redirect_uri in (self.redirect_uris or [])

    def check_client_secret(self, client_secret: str) -> bool:
        return token_hash.matches(client_secret, self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.is_public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")

    @property
    def client_metadata(self) -> dict:
        return {"post_logout_redirect_uris": list(self.post_logout_redirect_uris or [])}


class AuthorizationCode(Base):
    """A single-use code (valid seconds), bound to the client, redirect URI, PKCE challenge and
    the SSO session it was issued in."""

    __tablename__ = "oidc_authorization_codes"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    client_id: Mapped[str] = mapped_column(sa.ForeignKey("oidc_clients.client_id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    sid: Mapped[str] = mapped_column(sa.String(64), index=True)
    redirect_uri: Mapped[str] = mapped_column(sa.String(500))
    scope: Mapped[str] = mapped_column(sa.String(500), default="")
    nonce: Mapped[str | None] = mapped_column(sa.String(255))
    code_challenge: Mapped[str] = mapped_column(sa.String(128))
    code_challenge_method: Mapped[str] = mapped_column(sa.String(10), default="S256")
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime)
    amr: Mapped[list] = mapped_column(sa.JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The token family issued at first use: revoked if the code is presented again.
    family_id: Mapped[str | None] = mapped_column(sa.String(36))


class Token(Base):
    """One issuance at the token endpoint: an access token (JWT, by `jti`) and a refresh token.

    Every issuance descending from one authorization code shares a `family_id`; refreshing
    marks the old row `rotated_at`, and presenting a rotated refresh token revokes the family.
    """

    __tablename__ = "oidc_tokens"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    family_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    client_id: Mapped[str] = mapped_column(sa.ForeignKey("oidc_clients.client_id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    sid: Mapped[str] = mapped_column(sa.String(64), index=True)
    scope: Mapped[str] = mapped_column(sa.String(500), default="")
    access_jti: Mapped[str] = mapped_column(sa.String(64), unique=True)
    access_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Revoking only the access token (RFC 7009 with token_type_hint=access_token).
    access_revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refresh_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    refresh_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the user authenticated (carried unchanged into refreshed id_tokens).
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime)
    amr: Mapped[list] = mapped_column(sa.JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    revoke_reason: Mapped[str | None] = mapped_column(sa.String(40))


class Consent(Base):
    """What a user agreed to share with a client (implicit for first-party clients)."""

    __tablename__ = "oidc_consents"
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    client_id: Mapped[str] = mapped_column(sa.ForeignKey("oidc_clients.client_id", ondelete="CASCADE"),
                                           primary_key=True)
    scope: Mapped[str] = mapped_column(sa.String(500), default="")
    kind: Mapped[str] = mapped_column(sa.String(10), default="explicit")  # explicit | implicit
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SigningKey(Base):
    """An RS256 key pair. `next` keys are published before they sign, `retired` keys stay
    published until the tokens they signed have expired."""

    __tablename__ = "oidc_signing_keys"
    kid: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    private_pem: Mapped[str] = mapped_column(sa.Text)
    state: Mapped[str] = mapped_column(sa.String(10), index=True)  # next | active | retired
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class FormTicket(Base):
    """A single-use anti-CSRF ticket for the provider's own forms (consent, logout), bound to
    the SSO session that displayed the form. Stored hashed."""

    __tablename__ = "oidc_form_tickets"
    ticket_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(sa.String(20))  # consent | logout
    sid: Mapped[str] = mapped_column(sa.String(64), index=True)
    client_id: Mapped[str | None] = mapped_column(sa.String(64))
    scope: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SessionLogout(Base):
    """SSO sessions whose relying parties were already told (back-channel logout is sent once)."""

    __tablename__ = "oidc_session_logouts"
    sid: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
