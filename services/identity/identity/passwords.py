"""Password hashing and rules.

Argon2id (argon2-cffi). Rules after current guidance (NIST SP 800-63B, ANSSI): at least 12
characters, no composition rules, refused when found in the shipped list of common/breached
passwords or when it contains the e-mail's local part.
"""
from __future__ import annotations

import unicodedata
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 256
# A local part shorter than this ("a@…") would forbid too many ordinary passwords.
MIN_LOCAL_PART_CHECKED = 3
COMMON_PASSWORDS_FILE = Path(__file__).with_name("data") / "common-passwords.txt"

# Argon2id with OWASP's first recommended setting (46 MiB, t=1, p=1). RFC 9106's t=3/64 MiB/p=4
# measured 170 ms on this 2-vCPU machine when idle but 0.7-1.4 s under the load of the other
# services' tests, while this setting stays under 250 ms there (bench/identity_login.py,
# bench/results/identity_login.md). Hashes made with other parameters are upgraded at the next
# successful sign-in (needs_rehash).
ARGON2_TIME_COST = 1
ARGON2_MEMORY_KIB = 46 * 1024
ARGON2_PARALLELISM = 1
_hasher = PasswordHasher(time_cost=ARGON2_TIME_COST, memory_cost=ARGON2_MEMORY_KIB,
                         parallelism=ARGON2_PARALLELISM)


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


# --- policy ------------------------------------------------------------------------------------
TOO_SHORT = f"Le mot de passe doit contenir au moins {MIN_LENGTH} caractères."
TOO_LONG = f"Le mot de passe ne doit pas dépasser {MAX_LENGTH} caractères."
TOO_COMMON = ("Ce mot de passe est trop courant ou figure dans des fuites de données connues : "
              "choisissez-en un autre.")
TOO_REPETITIVE = "Ce mot de passe est trop répétitif : choisissez-en un moins prévisible."
CONTAINS_EMAIL = "Le mot de passe ne doit pas contenir votre adresse e-mail (ni la partie avant le « @ »)."


def check_policy(password: str, email: str | None = None) -> list[str]:
    """Why `password` is refused, in French (empty list: accepted).

    Length counts Unicode characters after NFKC normalisation (so "é" typed either way counts
    once). No composition rules: long passphrases are encouraged.
    """
    normalised = unicodedata.normalize("NFKC", password or "")
    errors = []
    if len(normalised) < MIN_LENGTH:
        errors.append(TOO_SHORT)
    if len(normalised) > MAX_LENGTH:
        errors.append(TOO_LONG)
        return errors  # no point looking a 10 kB string up
    folded = normalised.casefold()
    if _is_common(folded):
        errors.append(TOO_COMMON)
    elif normalised and len(set(folded)) < 3:
        errors.append(TOO_REPETITIVE)
    local_part = _email_local_part(email)
    if local_part and local_part in folded:
        errors.append(CONTAINS_EMAIL)
    return errors


# What people append to a common password to pass length rules ("azerty123456!").
_DECORATION = "0123456789!?.,;:*_-+=@#$%&/ "


# Runs of digits and keyboard rows ("1234567890123", "azertyuiopqsd"): the first guesses.
_SEQUENCES = tuple(run * 10 for run in ("0123456789", "9876543210", "azertyuiopqsdfghjklmwxcvbn",
                                        "qwertyuiopasdfghjklzxcvbnm", "abcdefghijklmnopqrstuvwxyz"))


def _is_common(folded: str) -> bool:
    common = common_passwords()
    if folded in common or any(folded in run for run in _SEQUENCES):
        return True
    base = folded.rstrip(_DECORATION)
    return base != folded and len(base) >= 4 and base in common


def _email_local_part(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    local = unicodedata.normalize("NFKC", email.rsplit("@", 1)[0]).casefold()
    return local if len(local) >= MIN_LOCAL_PART_CHECKED else None


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list of common/breached passwords, case-folded (one per line, '#' comments)."""
    with COMMON_PASSWORDS_FILE.open(encoding="utf-8") as fh:
        return frozenset(line.rstrip("\n").casefold() for line in fh
                         if line.strip() and not line.startswith("#"))
