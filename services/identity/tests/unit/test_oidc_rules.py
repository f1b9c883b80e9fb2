"""Rules of the provider that need no I/O: scopes, client URIs, secret storage."""
from __future__ import annotations

import pytest

from servicekit import token_hash

from identity.oidc import scopes
from identity.oidc.clients import InvalidClientMetadata, check_uri
from identity.oidc.models import OAuthClient


def test_allowed_scope_drops_unknown_scopes_and_orders_them():
    assert scopes.allowed_scope("email admin openid") == "openid email"
    assert scopes.allowed_scope(None) == ""


def test_scope_coverage_and_union():
    assert scopes.covers("openid profile email", "openid email")
    assert not scopes.covers("openid", "openid email")
    assert scopes.union("openid", "email profile") == "openid profile email"


def test_claims_follow_scopes():
    assert scopes.claim_names("openid") == {"sub"}
    assert {"email", "email_verified"} <= scopes.claim_names("openid email")
    assert {"family_id", "communes", "agent_of", "platform_role", "name"} <= scopes.claim_names("openid profile")


@pytest.mark.parametrize("uri", ["https://portail.example.org/cb", "http://127.0.0.1:8765/callback",
                                 "http://localhost:3000/cb", "http://[::1]:8080/cb"])
def test_accepted_redirect_uris(uri):
    assert check_uri(uri) == uri


@pytest.mark.parametrize("uri", ["http://portail.example.org/cb", "https://portail.example.org/cb#frag",
                                 "javascript:alert(1)", "/relative", "", "ftp://127.0.0.1/x"])
def test_refused_redirect_uris(uri):
    with pytest.raises(InvalidClientMetadata):
        check_uri(uri)


def test_client_secrets_are_stored_hashed_and_compared_exactly():
    value = token_hash.new_token()
    client = OAuthClient(client_id="c", name="C", secret_hash=token_hash.hash_token(value), redirect_uris=[])
    assert client.secret_hash != value and len(client.secret_hash) == 64
    assert client.check_client_secret(value)
    assert not client.check_client_secret(value + "x")
    assert not OAuthClient(client_id="p", name="P", secret_hash=None, redirect_uris=[]).check_client_secret(value)


def test_client_redirect_uri_match_is_exact_and_auth_methods_follow_client_type():
    client = OAuthClient(client_id="c", name="C", secret_hash=token_hash.hash_token("s"),
                         redirect_uris=["https://a.example/cb"], post_logout_redirect_uris=[])
    assert client.check_redirect_uri("https://a.example/cb")
    assert not client.check_redirect_uri("https://a.example/cb/")
    assert not client.check_redirect_uri("https://a.example/cb?x=1")
    assert client.check_endpoint_auth_method("client_secret_basic", "token")
    assert not client.check_endpoint_auth_method("none", "token")
    public = OAuthClient(client_id="p", name="P", secret_hash=None, redirect_uris=["https://a.example/cb"])
    assert public.check_endpoint_auth_method("none", "token")
    assert not public.check_endpoint_auth_method("client_secret_post", "token")
    assert client.check_response_type("code") and not client.check_response_type("token")
    assert not client.check_grant_type("client_credentials")


def test_a_request_is_narrowed_to_the_scopes_granted_to_the_client():
    granted = "openid profile invoices:read"
    assert scopes.allowed_scope("openid email invoices:read requests:read", granted) == "openid invoices:read"
    assert scopes.allowed_scope("requests:read", granted) == ""


def test_scopes_granted_at_registration_are_known_and_include_openid():
    assert scopes.client_scopes(None) == "openid profile email"
    assert scopes.client_scopes("requests:read profile") == "openid profile requests:read"
    assert scopes.client_scopes(["email", "invoices:read"]) == "openid email invoices:read"
    with pytest.raises(scopes.UnknownScope):
        scopes.client_scopes("openid invoices:write")


def test_every_scope_has_french_consent_wording():
    assert set(scopes.SCOPE_DESCRIPTIONS_FR) == set(scopes.SUPPORTED)
