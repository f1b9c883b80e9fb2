"""The `next` check of the login page (pure rules). Random tokens and their hashing are
servicekit.token_hash's (tested there)."""


def test_safe_next_accepts_only_relative_urls_inside_oidc():
    from identity.signin.views import safe_next

    assert safe_next("/oidc/authorize?client_id=a&redirect_uri=https%3A%2F%2Fx") == \
        "/oidc/authorize?client_id=a&redirect_uri=https%3A%2F%2Fx"
    for bad in (None, "", "https://evil.example/oidc/x", "//evil.example/oidc/x", "/\\evil.example",
                "/oidc/../famille", "/famille", "oidc/authorize", "javascript:alert(1)",
                "/oidc/authorize\r\nSet-Cookie: x=1", "/oidc/" + "a" * 5000):
        assert safe_next(bad) is None, bad
