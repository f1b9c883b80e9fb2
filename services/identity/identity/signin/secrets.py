"""Random tokens and how they are stored (hashed)."""
from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_BYTES = 32  # 256 random bits: above the 128-bit floor for bearer secrets


def new_token() -> str:
    """A URL-safe random token (43 characters for 32 bytes)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """SHA-256 hex digest: enough for high-entropy tokens (no salt or slow hash needed)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a, b)
