"""identity's signing keys (JWKS), cached, and RS256 JWT verification against them.

Used for bearer access tokens on the public API and for back-channel logout tokens. The key
set is cached for `ttl` seconds and fetched again when a token names an unknown `kid` (key
rotation), but at most once every `min_refetch` seconds so that forged kids cannot make the
gateway hammer identity.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

import jwt

ALGORITHMS = ["RS256"]


class InvalidJWT(Exception):
    pass


class JwksCache:
    def __init__(self, fetch: Callable[[], dict], ttl: float = 300.0, min_refetch: float = 10.0,
                 clock: Callable[[], float] = time.monotonic):
        self._fetch = fetch
        self.ttl = ttl
        self.min_refetch = min_refetch
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        key_set = jwt.PyJWKSet.from_dict(self._fetch())
        self._keys = {k.key_id: k for k in key_set.keys if k.key_id}
        self._fetched_at = self._clock()

    def key(self, kid: str | None) -> jwt.PyJWK:
        if not kid:
            raise InvalidJWT("token has no kid")
        with self._lock:
            now = self._clock()
            stale = self._fetched_at is None or now - self._fetched_at > self.ttl
            unknown = kid not in self._keys
            if stale or (unknown and now - self._fetched_at >= self.min_refetch):
                self._refresh()
            found = self._keys.get(kid)
        if found is None:
            raise InvalidJWT("unknown kid")
        return found

    def decode(self, token: str, *, issuer: str, audience: str | list[str], require: list[str],
               leeway: float = 30) -> dict:
        """Verify signature (RS256 only), issuer, audience and expiry; return the claims."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidJWT(f"malformed token: {exc}") from exc
        if header.get("alg") not in ALGORITHMS:
            raise InvalidJWT("unexpected algorithm")
        key = self.key(header.get("kid"))
        try:
            return jwt.decode(token, key.key, algorithms=ALGORITHMS, issuer=issuer, audience=audience,
                              options={"require": require}, leeway=leeway)
        except jwt.PyJWTError as exc:
            raise InvalidJWT(str(exc)) from exc
