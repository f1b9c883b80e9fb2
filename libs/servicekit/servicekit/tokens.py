"""Short-lived service tokens: how the gateway tells a service who is asking.

The gateway has already authenticated the user; it mints a JWT (HS256, 60 s) naming the user,
their role, family and commune, addressed to one service (`aud`). Services trust nothing else:
every internal endpoint except health and metrics requires one.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

import jwt

ISSUER = "espace-famille-gateway"
ALGORITHM = "HS256"
DEFAULT_TTL_SECONDS = 60

# "anonymous": a visitor who is not signed in (public pages, activation and invitation links);
# sees nothing tenant-scoped. "system": platform processes that see every commune (never a browser).
ROLES = ("parent", "agent", "admin", "operator", "system", "anonymous")
ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Caller:
    """Who a request is made for. `commune` is the agent's commune (tenant) when role is agent/admin."""

    sub: str
    role: str
    family_id: str | None = None
    commune: str | None = None
    communes: tuple[str, ...] = field(default_factory=tuple)
    name: str | None = None

    def claims(self) -> dict:
        return {
            "sub": self.sub,
            "role": self.role,
            "family_id": self.family_id,
            "commune": self.commune,
            "communes": list(self.communes),
            "name": self.name,
        }

    @classmethod
    def from_claims(cls, claims: dict) -> "Caller":
        return cls(
            sub=claims["sub"],
            role=claims["role"],
            family_id=claims.get("family_id"),
            commune=claims.get("commune"),
            communes=tuple(claims.get("communes") or ()),
            name=claims.get("name"),
        )


class InvalidToken(Exception):
    pass


def mint(caller: Caller, audience: str, secret: str, ttl: int = DEFAULT_TTL_SECONDS) -> str:
    if caller.role not in ROLES:
        raise ValueError(f"unknown role {caller.role!r}")
    now = int(time.time())
    payload = {**caller.claims(), "iss": ISSUER, "aud": audience, "iat": now, "exp": now + ttl, "jti": uuid.uuid4().hex}
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


# Tokens verified already, until their expiry: the gateway reuses one token per caller for half
# its life (gateway.clients.service_token), so a service sees the same token on most of a user's
# requests, and a JWT's decoding and HMAC cost ~0.1-0.3 ms each time. A hit gives what a full
# verification would: the key is the whole token with the audience and the secret it was checked
# against, the signature and claims cannot change, and past `exp` (the last moment PyJWT accepts
# it, leeway aside) the token is verified in full again. Only successes are kept.
_verified: dict[tuple[str, str, str], tuple[Caller, float]] = {}
VERIFIED_MAX = 4096


def verify(token: str, audience: str, secret: str) -> Caller:
    key = (token, audience, secret)
    hit = _verified.get(key)
    if hit is not None and time.time() < hit[1]:
        return hit[0]
    caller, expires = _verify(token, audience, secret)
    if len(_verified) >= VERIFIED_MAX:
        now = time.time()
        kept = list(_verified.items())  # one C-level copy: other threads may verify meanwhile
        for old in [k for k, (_, exp) in kept if exp <= now] or [k for k, _ in kept]:
            _verified.pop(old, None)
    _verified[key] = (caller, expires)
    return caller


def _verify(token: str, audience: str, secret: str) -> tuple[Caller, float]:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            leeway=5,
        )
        return Caller.from_claims(claims), float(claims["exp"])
    except (jwt.PyJWTError, KeyError, TypeError, ValueError) as exc:
        raise InvalidToken(str(exc)) from exc
