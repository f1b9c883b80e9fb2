"""Random tokens, their hashing, and the `next` check of the login page (pure rules)."""
import hashlib

from identity.signin.secrets import new_token, same_hash, token_hash


def test_tokens_carry_at_least_128_random_bits_and_differ():
    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200
    # token_urlsafe(32): 43 base64url characters = 256 bits.
    assert all(len(t) >= 43 for t in tokens)


def test_token_hash_is_sha256_hex_of_the_token():
    token = new_token()
    assert token_hash(token) == hashlib.sha256(token.encode()).hexdigest()
    assert len(token_hash(token)) == 64 and token_hash(token) != token
    assert same_hash(token_hash(token), token_hash(token))
    assert not same_hash(token_hash(token), token_hash(new_token()))


def test_safe_next_accepts_only_relative_urls_inside_oidc():
    from identity.signin.views import safe_next

    assert safe_next("/oidc/authorize?client_id=a&redirect_uri=https%3A%2F%2Fx") == \
        "/oidc/authorize?client_id=a&redirect_uri=https%3A%2F%2Fx"
    for bad in (None, "", "https://evil.example/oidc/x", "//evil.example/oidc/x", "/\\evil.example",
                "/oidc/../famille", "/famille", "oidc/authorize", "javascript:alert(1)",
                "/oidc/authorize\r\nSet-Cookie: x=1", "/oidc/" + "a" * 5000):
        assert safe_next(bad) is None, bad
