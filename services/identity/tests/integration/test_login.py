"""Sign-in with e-mail and password through identity's real app (SQLite and PostgreSQL)."""
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))
from signin_testkit import (PASSWORD, PUBLIC_URL, app, audit_actions, client, clock, csrf_of, db,  # noqa: F401
                            db_url, login, make_user, sso_cookie, unique)

from identity.models import User
from identity.signin.models import SsoSessionRecord

pytestmark = pytest.mark.integration

LOGIN_FAILED = "Adresse e-mail ou mot de passe incorrect."


def test_login_page_is_french_accessible_and_has_a_csrf_token(client):
    r = client.get("/oidc/login")
    assert r.status_code == 200
    html = r.text
    assert '<html lang="fr">' in html and 'href="#contenu"' in html and 'id="contenu"' in html
    assert "Espace Famille" in html and 'href="/accessibilite"' in html and "/static/css/app.css" in html
    assert '<label for="email">' in html and '<label for="password">' in html
    assert 'name="csrf_token"' in html and "Mot de passe oublié ?" in html
    assert r.headers["Cache-Control"] == "no-store" and "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]


def test_parent_without_totp_signs_in_with_password_only_and_goes_to_next(client, db):
    user = make_user(db)
    r = login(client, user.email.upper(), next_url="/oidc/authorize?client_id=x&state=1")
    assert r.status_code == 302
    assert r.headers["location"] == "/oidc/authorize?client_id=x&state=1"
    assert sso_cookie(client)
    with db.read() as s:
        row = s.scalars(sa.select(SsoSessionRecord).where(SsoSessionRecord.user_id == user.id)).one()
        assert row.amr == ["pwd"] and row.ended_at is None
        # Only the hash of the cookie secret is stored.
        assert row.token_hash != sso_cookie(client) and len(row.token_hash) == 64
    assert "signin.succeeded" in audit_actions(db, user_id=user.id)


def test_without_next_or_with_foreign_next_the_user_lands_on_the_portal_home(client, db):
    user = make_user(db)
    for next_url in ("", "https://evil.example/phish", "//evil.example/oidc/", "/oidc/../admin", "/gateway/page"):
        client.cookies.clear()
        r = login(client, user.email, next_url=next_url)
        assert r.status_code == 302, next_url
        assert r.headers["location"] == PUBLIC_URL + "/", next_url


def test_unknown_email_and_wrong_password_get_the_same_answer(client, db):
    user = make_user(db)
    wrong = login(client, user.email, "not the right password at all")
    unknown = login(client, f"{unique('nobody')}@example.org", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert LOGIN_FAILED in wrong.text and LOGIN_FAILED in unknown.text
    strip = lambda html: html.replace(user.email, "").split('name="csrf_token"')[0]  # noqa: E731
    assert strip(wrong.text).count("incorrect") == strip(unknown.text).count("incorrect")
    assert sso_cookie(client) is None
    assert "signin.failed" in audit_actions(db, user_id=user.id)


def test_inactive_account_cannot_sign_in_and_gets_the_same_message(client, db):
    user = make_user(db, active=False)
    r = login(client, user.email)
    assert r.status_code == 401 and LOGIN_FAILED in r.text


def test_empty_fields_are_reported_next_to_the_fields_and_in_a_summary(client):
    token = csrf_of(client, "/oidc/login")
    r = client.post("/oidc/login", data={"csrf_token": token, "email": "", "password": ""})
    assert r.status_code == 400
    assert 'class="error-summary"' in r.text and 'href="#email"' in r.text
    assert 'id="email-error"' in r.text and 'aria-describedby="email-error"' in r.text
    assert "Saisissez votre mot de passe." in r.text


def test_sso_cookie_flags(client, db):
    user = make_user(db)
    r = login(client, user.email)
    header = [h for h in r.headers.get_list("set-cookie") if h.startswith("ef_sso=")][0]
    lowered = header.lower()
    assert "path=/oidc" in lowered and "httponly" in lowered and "samesite=lax" in lowered
    assert "secure" not in lowered  # EF_ENV=test: plain http on loopback
    assert "max-age" not in lowered and "expires" not in lowered  # browser-session cookie


def test_sso_cookie_is_secure_outside_development_and_test(app, client, db):
    settings = app.app.config["SERVICE_SETTINGS"]
    user = make_user(db)
    original = settings.ef_env
    object.__setattr__(settings, "ef_env", "production")
    try:
        r = login(client, user.email)
    finally:
        object.__setattr__(settings, "ef_env", original)
    header = [h for h in r.headers.get_list("set-cookie") if h.startswith("ef_sso=")][0]
    assert "secure" in header.lower()


def test_post_without_csrf_token_is_refused(client, db):
    user = make_user(db)
    client.get("/oidc/login")
    r = client.post("/oidc/login", data={"email": user.email, "password": PASSWORD})
    assert r.status_code == 400
    assert "Ce formulaire a expiré" in r.text and sso_cookie(client) is None


def test_csrf_token_of_another_browser_is_refused(app, client, db):
    user = make_user(db)
    other = app.test_client(follow_redirects=False)
    token = csrf_of(other, "/oidc/login")
    client.get("/oidc/login")
    r = client.post("/oidc/login", data={"csrf_token": token, "email": user.email, "password": PASSWORD})
    assert r.status_code == 400 and sso_cookie(client) is None


def test_old_hash_parameters_are_upgraded_at_sign_in(client, db):
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    user = make_user(db)
    with db.transaction() as s:
        s.get(User, user.id).password_hash = weak
    assert login(client, user.email).status_code == 302
    with db.read() as s:
        upgraded = s.get(User, user.id).password_hash
    assert upgraded != weak and "m=47104,t=1,p=1" in upgraded


def test_signing_in_again_as_the_same_user_keeps_the_sid_and_refreshes_auth_time(client, db, clock):
    user = make_user(db)
    login(client, user.email)
    first_cookie = sso_cookie(client)
    with db.read() as s:
        first = s.scalars(sa.select(SsoSessionRecord).where(SsoSessionRecord.user_id == user.id)).one()
        first_sid, first_auth_time = first.sid, first.auth_time
    clock.advance(minutes=5)
    assert login(client, user.email).status_code == 302
    with db.read() as s:
        rows = [(r.sid, r.auth_time) for r in
                s.scalars(sa.select(SsoSessionRecord).where(SsoSessionRecord.user_id == user.id))]
    assert len(rows) == 1 and rows[0][0] == first_sid
    assert rows[0][1] > first_auth_time
    assert sso_cookie(client) != first_cookie  # the cookie secret is rotated


def test_signing_in_as_someone_else_ends_the_previous_session(client, db):
    alice, bob = make_user(db), make_user(db)
    login(client, alice.email)
    login(client, bob.email)
    with db.read() as s:
        alice_row = s.scalars(sa.select(SsoSessionRecord).where(SsoSessionRecord.user_id == alice.id)).one()
        assert alice_row.ended_at is not None and alice_row.end_reason == "replaced"
