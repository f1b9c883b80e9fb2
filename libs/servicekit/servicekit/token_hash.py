"""Opaque bearer secrets (link tokens, cookies, client secrets, codes) and how they are stored.

The token is 256 random bits, URL-safe; only its SHA-256 is stored. A fast unsalted hash is
enough for high-entropy random values (no dictionary to try), and a copy of the database then
opens nothing. Compare digests in constant time.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_BYTES = 32  # 256 bits: above the 128-bit floor for bearer secrets


def new_token(nbytes: int = TOKEN_BYTES) -> str:
    """A fresh URL-safe random token (43 characters for 32 bytes)."""
    return secrets.token_urlsafe(nbytes)


def hash_token(token: str) -> str:
    """The SHA-256 hex digest to store (64 characters)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token_and_hash(nbytes: int = TOKEN_BYTES) -> tuple[str, str]:
    """A fresh token (to send) and its hash (to store)."""
    token = new_token(nbytes)
    return token, hash_token(token)


def matches(token: str | None, expected_hash: str | None) -> bool:
    """True if `token` hashes to `expected_hash` (constant-time comparison)."""
    if not token or not expected_hash:
        return False
    return hmac.compare_digest(hash_token(token), expected_hash)
