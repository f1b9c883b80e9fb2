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


def test_a_verified_token_is_not_decoded_again_until_its_expiry(monkeypatch):
    caller = tokens.Caller(sub="u-cache", role="parent", family_id="f1")
    token = tokens.mint(caller, "booking", SECRET, ttl=60)
    assert tokens.verify(token, "booking", SECRET) == caller
    decoded = []
    real_decode = jwt.decode
    monkeypatch.setattr(jwt, "decode", lambda *a, **kw: decoded.append(1) or real_decode(*a, **kw))
    assert tokens.verify(token, "booking", SECRET) == caller
    assert decoded == []  # kept
    # the same token for another audience or checked with another secret: verified, and refused
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(token, "billing", SECRET)
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(token, "booking", "t" * 40)
    assert len(decoded) == 2
    # past its expiry (the cache's clock moved on; PyJWT's has its own) it is decoded in full again
    later = time.time() + 61
    monkeypatch.setattr(tokens.time, "time", lambda: later)
    decoded.clear()
    tokens.verify(token, "booking", SECRET)
    assert decoded == [1]


def test_the_kept_tokens_are_bounded_expired_ones_dropped_first(monkeypatch):
    monkeypatch.setattr(tokens, "_verified", {})
    monkeypatch.setattr(tokens, "VERIFIED_MAX", 3)
    stale = tokens.mint(tokens.Caller(sub="old", role="parent"), "booking", SECRET, ttl=1)
    tokens.verify(stale, "booking", SECRET)
    fresh = [tokens.mint(tokens.Caller(sub=f"u{i}", role="parent"), "booking", SECRET) for i in range(3)]
    for token in fresh[:2]:
        tokens.verify(token, "booking", SECRET)
    now = time.time()
    monkeypatch.setattr(tokens.time, "time", lambda: now + 2)
    tokens.verify(fresh[2], "booking", SECRET)
    assert {key[0] for key in tokens._verified} == set(fresh)
