"""Signing keys (RS256) kept in the identity database, and their rotation.

Life of a key: `next` (published in the JWKS, not signing yet) -> `active` (signs) ->
`retired` (published until every token it signed has expired) -> deleted. There is always
one `next` key, so relying parties that cache the JWKS already know a key before it signs.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy.orm import Session

from identity.oidc.models import SigningKey

ALG = "RS256"
KEY_SIZE = 2048
# Relying parties may cache the JWKS this long (Cache-Control on /oidc/jwks).
JWKS_MAX_AGE = 300
# Retired keys stay published this long: longer than any token they signed lives, and long
# enough for id_token_hint at logout to still verify.
RETIRED_PUBLISHED_FOR = timedelta(hours=24)

_parsed: dict[str, RSAKey] = {}


class RotationTooSoon(Exception):
    """The next key has not been published long enough for caches to have seen it."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _generate(state: str, now: datetime) -> SigningKey:
    kid = uuid.uuid4().hex
    key = RSAKey.generate_key(KEY_SIZE, parameters={"kid": kid, "use": "sig", "alg": ALG}, private=True)
    return SigningKey(kid=kid, private_pem=key.as_pem(private=True).decode("ascii"), state=state,
                      created_at=now, activated_at=now if state == "active" else None)


def _parse(row: SigningKey) -> RSAKey:
    key = _parsed.get(row.kid)
    if key is None:
        key = RSAKey.import_key(row.private_pem, parameters={"kid": row.kid, "use": "sig", "alg": ALG})
        _parsed[row.kid] = key
    return key


def ensure_keys(session: Session) -> None:
    """First use: create the active key and the next one."""
    states = set(session.scalars(sa.select(SigningKey.state)).all())
    now = _now()
    if "active" not in states:
        session.add(_generate("active", now))
    if "next" not in states:
        session.add(_generate("next", now))
    session.flush()


def active_key(session: Session) -> RSAKey:
    row = session.scalars(sa.select(SigningKey).where(SigningKey.state == "active")
                          .order_by(SigningKey.activated_at.desc()).limit(1)).first()
    if row is None:
        ensure_keys(session)
        return active_key(session)
    return _parse(row)


def _published_rows(session: Session, now: datetime) -> list[SigningKey]:
    rows = session.scalars(sa.select(SigningKey).order_by(SigningKey.created_at)).all()
    return [r for r in rows if r.state != "retired" or r.retired_at + RETIRED_PUBLISHED_FOR > now]


def public_jwks(session: Session) -> dict:
    """The JWKS document: next, active and recently retired public keys."""
    rows = _published_rows(session, _now())
    if not any(r.state == "active" for r in rows):
        ensure_keys(session)
        rows = _published_rows(session, _now())
    return {"keys": [_parse(r).as_dict(private=False) for r in rows]}


def verification_keys(session: Session) -> KeySet:
    """Every published key (tokens we signed verify against these)."""
    return KeySet([_parse(r) for r in _published_rows(session, _now())])


def rotate(session: Session, *, force: bool = False, now: datetime | None = None) -> dict:
    """Promote the next key, retire the active one, publish a new next key, drop old keys.

    Refused (unless `force`) when the next key was published less than JWKS_MAX_AGE ago:
    relying parties could still hold a JWKS without it.
    """
    now = now or _now()
    ensure_keys(session)
    nxt = session.scalars(sa.select(SigningKey).where(SigningKey.state == "next")
                          .order_by(SigningKey.created_at).limit(1)).one()
    if not force and nxt.created_at + timedelta(seconds=JWKS_MAX_AGE) > now:
        raise RotationTooSoon(nxt.kid)
    retired = []
    for row in session.scalars(sa.select(SigningKey).where(SigningKey.state == "active")).all():
        row.state, row.retired_at = "retired", now
        retired.append(row.kid)
    nxt.state, nxt.activated_at = "active", now
    new_next = _generate("next", now)
    session.add(new_next)
    dropped = []
    for row in session.scalars(sa.select(SigningKey).where(SigningKey.state == "retired")).all():
        if row.retired_at + RETIRED_PUBLISHED_FOR <= now:
            dropped.append(row.kid)
            session.delete(row)
            _parsed.pop(row.kid, None)
    session.flush()
    return {"active": nxt.kid, "next": new_next.kid, "retired": retired, "dropped": dropped}
