from servicekit import token_hash


def test_new_tokens_are_long_random_and_url_safe():
    tokens = {token_hash.new_token() for _ in range(50)}
    assert len(tokens) == 50
    assert all(len(t) == 43 and all(c.isalnum() or c in "-_" for c in t) for t in tokens)


def test_hash_is_sha256_hex_and_stable():
    assert token_hash.hash_token("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_token_and_hash_match_and_others_do_not():
    token, digest = token_hash.new_token_and_hash()
    assert token_hash.matches(token, digest)
    assert not token_hash.matches(token + "x", digest)
    assert not token_hash.matches(None, digest) and not token_hash.matches(token, None)
