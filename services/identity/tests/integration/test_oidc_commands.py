"""Operator commands (`python -m identity register-client | ensure-client | rotate-keys | revoke-consent`)
run as real processes against a temporary database."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from servicekit import migrations
from servicekit.db import Database

from servicekit import token_hash
from identity.oidc.models import Consent, OAuthClient, SigningKey
from identity.oidc.testing import MIGRATIONS, make_user


@pytest.fixture
def env(tmp_path):
    url = f"sqlite:///{tmp_path / 'identity.db'}"
    migrations.upgrade(MIGRATIONS, url)
    return {**os.environ, "IDENTITY_DATABASE_URL": url, "EF_ENV": "test", "EF_VAR_DIR": str(tmp_path),
            "LOG_FORMAT": "text", "LOG_LEVEL": "WARNING"}, Database(url)


def run(env, *args):
    return subprocess.run([sys.executable, "-m", "identity", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_register_client_prints_id_and_secret_and_stores_only_a_hash(env):
    environ, db = env
    out = run(environ, "register-client", "--name", "Portail factures", "--redirect-uri",
              "https://factures.example.org/cb", "--backchannel-logout-uri", "https://factures.example.org/bcl",
              "--post-logout-redirect-uri", "https://factures.example.org/")
    assert out.returncode == 0, out.stderr
    values = dict(line.split("=", 1) for line in out.stdout.split())
    with db.read() as s:
        client = s.get(OAuthClient, values["client_id"])
        assert client.secret_hash == token_hash.hash_token(values["client_secret"])
        assert values["client_secret"] not in str(client.__dict__)
        assert client.backchannel_logout_uri == "https://factures.example.org/bcl" and not client.first_party


def test_register_client_refuses_bad_uris(env):
    environ, _ = env
    out = run(environ, "register-client", "--name", "X", "--redirect-uri", "http://factures.example.org/cb")
    assert out.returncode == 2 and "https" in out.stderr


def test_ensure_client_is_idempotent_and_updates(env):
    environ, db = env
    environ = {**environ, "GATEWAY_OIDC_SECRET": "first-secret"}
    args = ["ensure-client", "--client-id", "gateway", "--secret-env", "GATEWAY_OIDC_SECRET", "--redirect-uri",
            "http://127.0.0.1:8000/auth/callback", "--first-party"]
    assert run(environ, *args).returncode == 0
    environ["GATEWAY_OIDC_SECRET"] = "second-secret"
    assert run(environ, *args, "--post-logout-redirect-uri", "http://127.0.0.1:8000/").returncode == 0
    with db.read() as s:
        clients = s.scalars(sa.select(OAuthClient)).all()
        assert len(clients) == 1 and clients[0].first_party
        assert clients[0].secret_hash == token_hash.hash_token("second-secret")
        assert clients[0].post_logout_redirect_uris == ["http://127.0.0.1:8000/"]
    missing = run({k: v for k, v in environ.items() if k != "GATEWAY_OIDC_SECRET"}, *args)
    assert missing.returncode == 2


def test_rotate_keys_waits_for_the_next_key_to_be_published_unless_forced(env):
    environ, db = env
    assert run(environ, "rotate-keys").returncode == 2  # keys just created: too soon
    out = run(environ, "rotate-keys", "--force")
    assert out.returncode == 0, out.stderr
    with db.read() as s:
        states = sorted(s.scalars(sa.select(SigningKey.state)).all())
    assert states == ["active", "next", "retired"]


def test_revoke_consent_command(env):
    environ, db = env
    user = make_user(db)
    with db.transaction() as s:
        s.add(OAuthClient(client_id="portal", name="Portail", secret_hash=token_hash.hash_token("x"),
                          redirect_uris=["https://p.example/cb"], post_logout_redirect_uris=[], first_party=False))
        s.flush()
        s.add(Consent(user_id=user.id, client_id="portal", scope="openid email", kind="explicit"))
    out = run(environ, "revoke-consent", "--email", user.email, "--client-id", "portal")
    assert out.returncode == 0 and "revoked" in out.stdout
    with db.read() as s:
        assert s.get(Consent, (user.id, "portal")).revoked_at is not None
    assert "no active consent" in run(environ, "revoke-consent", "--email", user.email, "--client-id", "portal").stdout


def test_register_client_grants_the_scopes_it_is_given(env):
    environ, db = env
    out = run(environ, "register-client", "--name", "Portail", "--redirect-uri", "https://p.example.org/cb",
              "--scopes", "profile invoices:read")
    assert out.returncode == 0, out.stderr
    client_id = dict(line.split("=", 1) for line in out.stdout.split())["client_id"]
    with db.read() as s:
        assert s.get(OAuthClient, client_id).scopes == "openid profile invoices:read"
    listed = run(environ, "list-clients")
    assert "openid profile invoices:read" in listed.stdout


def test_a_client_registered_without_scopes_gets_no_api_scope(env):
    environ, db = env
    out = run(environ, "register-client", "--name", "Portail", "--redirect-uri", "https://p.example.org/cb")
    client_id = dict(line.split("=", 1) for line in out.stdout.split())["client_id"]
    with db.read() as s:
        assert s.get(OAuthClient, client_id).scopes == "openid profile email"


def test_unknown_scopes_are_refused(env):
    environ, _ = env
    out = run(environ, "register-client", "--name", "X", "--redirect-uri", "https://p.example.org/cb",
              "--scopes", "openid invoices:write")
    assert out.returncode == 2 and "invoices:write" in out.stderr


def test_ensure_client_sets_the_granted_scopes(env):
    environ, db = env
    args = ["ensure-client", "--client-id", "portal", "--redirect-uri", "https://p.example.org/cb"]
    assert run(environ, *args, "--scopes", "openid requests:read").returncode == 0
    with db.read() as s:
        assert s.get(OAuthClient, "portal").scopes == "openid requests:read"
    assert run(environ, *args).returncode == 0
    with db.read() as s:
        assert s.get(OAuthClient, "portal").scopes == "openid profile email"
