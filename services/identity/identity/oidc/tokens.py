"""Issuing, finding and revoking tokens.

Access tokens are RS256 JWTs (RFC 9068 profile: typ `at+jwt`, iss, sub, aud, client_id,
scope, iat, exp, jti) so the gateway verifies them offline against the JWKS; their lifetime
is minutes, and revocation reaches userinfo and introspection through the `jti` row.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from authlib.oidc.core.util import create_half_hash
from joserfc import jwt
from joserfc.errors import JoseError
from sqlalchemy.orm import Session

from identity import audit
from identity.models import User
from identity.oidc import keys
from servicekit import token_hash
from identity.oidc.claims import access_token_claims, user_claims
from identity.oidc.context import now
from identity.oidc.models import OAuthClient, Token

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"


def _sign(session: Session, claims: dict, typ: str) -> str:
    key = keys.active_key(session)
    return jwt.encode({"alg": keys.ALG, "kid": key.kid, "typ": typ}, claims, key)


def access_token_audience(settings, client_id: str) -> list[str]:
    """The client itself and the platform's public API (the gateway checks the latter)."""
    return [client_id, settings.public_url.rstrip("/")]


def mint_access_token(session: Session, settings, client: OAuthClient, user: User, scope: str,
                      auth_time: datetime | None) -> tuple[str, str, datetime]:
    """A signed access token; returns (token, jti, expires_at)."""
    issued = int(time.time())
    jti = uuid.uuid4().hex
    exp = issued + settings.oidc_access_token_ttl
    claims = {
        **access_token_claims(session, user, scope),  # the family, for the public API's scopes
        "iss": settings.oidc_issuer, "sub": user.sub, "aud": access_token_audience(settings, client.client_id),
        "client_id": client.client_id, "scope": scope, "iat": issued, "exp": exp, "jti": jti,
    }
    if auth_time is not None:
        claims["auth_time"] = int(auth_time.timestamp())
    return _sign(session, claims, "at+jwt"), jti, datetime.fromtimestamp(exp, tz=now().tzinfo)


def mint_id_token(session: Session, settings, client: OAuthClient, user: User, scope: str, *,
                  auth_time: datetime, sid: str, amr: list[str] | None, nonce: str | None,
                  access_token: str | None) -> str:
    issued = int(time.time())
    claims = user_claims(session, user, scope)
    claims.update({
        "iss": settings.oidc_issuer, "aud": client.client_id, "azp": client.client_id,
        "iat": issued, "exp": issued + settings.oidc_id_token_ttl,
        # The time the user really authenticated, also in refreshed id_tokens (Authlib
        # would put the refresh time here).
        "auth_time": int(auth_time.timestamp()),
        "sid": sid,
    })
    if amr:
        claims["amr"] = list(amr)
    if nonce:
        claims["nonce"] = nonce
    if access_token:
        claims["at_hash"] = create_half_hash(access_token, keys.ALG).decode("ascii")
    return _sign(session, claims, "JWT")


def mint_logout_token(session: Session, settings, client_id: str, user_sub: str | None, sid: str) -> str:
    issued = int(time.time())
    claims = {
        "iss": settings.oidc_issuer, "aud": client_id, "iat": issued, "exp": issued + 120,
        "jti": uuid.uuid4().hex, "sid": sid, "events": {BACKCHANNEL_EVENT: {}},
    }
    if user_sub:
        claims["sub"] = user_sub
    return _sign(session, claims, "logout+jwt")


def decode_own_jwt(session: Session, settings, token: str, *, typ: str | None = None) -> dict | None:
    """Claims of a JWT this provider signed and that has not expired, else None."""
    try:
        decoded = jwt.decode(token, keys.verification_keys(session), algorithms=[keys.ALG])
        registry = jwt.JWTClaimsRegistry(iss={"essential": True, "value": settings.oidc_issuer},
                                         exp={"essential": True}, leeway=5)
        registry.validate(decoded.claims)
    except (JoseError, ValueError, TypeError):
        return None
    if typ is not None and decoded.header.get("typ") != typ:
        return None
    return dict(decoded.claims)


# --- rows ------------------------------------------------------------------------------------
def _for_update(query, session: Session):
    # PostgreSQL: lock the row so two concurrent uses cannot both succeed. SQLite: writes are
    # already serialised (BEGIN IMMEDIATE in servicekit.db).
    return query.with_for_update() if session.get_bind().dialect.name == "postgresql" else query


def find_by_refresh(session: Session, refresh_token: str, *, lock: bool = False) -> Token | None:
    query = sa.select(Token).where(Token.refresh_hash == token_hash.hash_token(refresh_token))
    return session.scalars(_for_update(query, session) if lock else query).first()


def find_by_access(session: Session, settings, access_token: str) -> Token | None:
    claims = decode_own_jwt(session, settings, access_token, typ="at+jwt")
    if not claims or not claims.get("jti"):
        return None
    return session.scalars(sa.select(Token).where(Token.access_jti == claims["jti"])).first()


def access_is_active(row: Token) -> bool:
    return row.revoked_at is None and row.access_revoked_at is None and row.access_expires_at > now()


def refresh_is_active(row: Token) -> bool:
    return (row.revoked_at is None and row.rotated_at is None and row.refresh_hash is not None
            and row.refresh_expires_at is not None and row.refresh_expires_at > now())


def revoke_family(session: Session, family_id: str, reason: str) -> int:
    rows = session.scalars(sa.select(Token).where(Token.family_id == family_id, Token.revoked_at.is_(None))).all()
    stamp = now()
    for row in rows:
        row.revoked_at, row.revoke_reason = stamp, reason
    if rows:
        audit.record(session, "oidc.tokens_revoked", subject_user_id=rows[0].user_id, family_id=family_id,
                     reason=reason, count=len(rows), client_id=rows[0].client_id)
    return len(rows)


def revoke_for_sessions(session: Session, sids: list[str], reason: str) -> int:
    families = session.scalars(sa.select(Token.family_id).where(Token.sid.in_(sids), Token.revoked_at.is_(None))
                               .distinct()).all()
    return sum(revoke_family(session, f, reason) for f in families)


def revoke_for_user_client(session: Session, user_id: str, client_id: str, reason: str) -> int:
    families = session.scalars(sa.select(Token.family_id).where(Token.user_id == user_id, Token.client_id == client_id,
                                                               Token.revoked_at.is_(None)).distinct()).all()
    return sum(revoke_family(session, f, reason) for f in families)


@dataclass
class Issued:
    family_id: str
    refresh_expires_at: datetime | None


def record_issuance(session: Session, *, client: OAuthClient, user: User, scope: str, jti: str,
                    access_expires_at: datetime, refresh_token: str | None, family_id: str | None,
                    refresh_expires_at: datetime | None, refresh_ttl: int, sid: str, auth_time: datetime,
                    amr: list[str]) -> Token:
    """Store one issuance. A new family starts its absolute refresh lifetime now; a rotation
    keeps the family's expiry (refreshing never extends it)."""
    if family_id is None:
        family_id = str(uuid.uuid4())
        refresh_expires_at = now() + timedelta(seconds=refresh_ttl)
    row = Token(family_id=family_id, client_id=client.client_id, user_id=user.id, sid=sid, scope=scope,
                access_jti=jti, access_expires_at=access_expires_at,
                refresh_hash=token_hash.hash_token(refresh_token) if refresh_token else None,
                refresh_expires_at=refresh_expires_at if refresh_token else None,
                auth_time=auth_time, amr=list(amr or []))
    session.add(row)
    session.flush()
    return row
