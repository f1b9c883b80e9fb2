"""Random secrets of the provider and how they are stored (SHA-256, compared in constant time)."""
from __future__ import annotations

import hashlib
import hmac
import secrets


def new_secret(nbytes: int = 32) -> str:
    """A URL-safe random string (256 bits by default)."""
    return secrets.token_urlsafe(nbytes)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def matches(value: str, expected_digest: str | None) -> bool:
    if not expected_digest or value is None:
        return False
    return hmac.compare_digest(digest(value), expected_digest)
