import time

import jwt
import pytest

from servicekit import tokens

SECRET = "s" * 40


def test_round_trip_carries_the_caller():
    caller = tokens.Caller(sub="u1", role="agent", commune="heillecourt", communes=("heillecourt",), name="A")
    assert tokens.verify(tokens.mint(caller, "identity", SECRET), "identity", SECRET) == caller


def test_token_for_another_service_is_refused():
    token = tokens.mint(tokens.Caller(sub="u1", role="parent"), "billing", SECRET)
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(token, "identity", SECRET)


def test_expired_token_is_refused():
    token = tokens.mint(tokens.Caller(sub="u1", role="parent"), "identity", SECRET, ttl=-60)
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(token, "identity", SECRET)


def test_wrong_secret_and_unsigned_tokens_are_refused():
    token = tokens.mint(tokens.Caller(sub="u1", role="parent"), "identity", SECRET)
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(token, "identity", "t" * 40)
    now = int(time.time())
    unsigned = jwt.encode({"sub": "u1", "role": "operator", "aud": "identity", "iss": tokens.ISSUER,
                           "iat": now, "exp": now + 60}, key=None, algorithm="none")
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(unsigned, "identity", SECRET)


def test_unknown_role_cannot_be_minted():
    with pytest.raises(ValueError):
        tokens.mint(tokens.Caller(sub="u1", role="superuser"), "identity", SECRET)
