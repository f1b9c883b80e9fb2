"""Password reset by e-mail: same answer for every address, single-use one-hour links stored
hashed, policy checked, every SSO session ended, PasswordChanged emitted (SQLite, PostgreSQL)."""
import hashlib
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))
from signin_testkit import (PASSWORD, PUBLIC_URL, app, audit_actions, client, clock, csrf_of, db,  # noqa: F401
                            db_url, login, make_user, outbox_events, sso_cookie, unique, unique_ip)

from identity import passwords, throttle
from identity.models import User
from identity.signin.models import PasswordResetToken, SsoSessionRecord

pytestmark = pytest.mark.integration
NEW_PASSWORD = "trois hérissons traversent la route"
SENT = "Si un compte existe pour cette adresse"


def ask_reset(client, email):
    token = csrf_of(client, "/oidc/password/forgot")
    return client.post("/oidc/password/forgot", data={"csrf_token": token, "email": email})


def reset_events(db, user_id):
    return [e for e in outbox_events(db, "password_reset.requested.v1") if e["data"]["user_id"] == user_id]


def link_token(db, user_id) -> str:
    link = reset_events(db, user_id)[-1]["data"]["link"]
    assert link.startswith(f"{PUBLIC_URL}/oidc/reset/")
    return link.rsplit("/", 1)[1]


def set_password(client, token, password=NEW_PASSWORD, confirm=None):
    csrf = csrf_of(client, f"/oidc/reset/{token}")
    return client.post(f"/oidc/reset/{token}", data={"csrf_token": csrf, "password": password,
                                                     "confirm": password if confirm is None else confirm})


def test_the_answer_is_the_same_whether_the_account_exists_or_not(client, db):
    user = make_user(db)
    known = ask_reset(client, user.email)
    unknown = ask_reset(client, f"{unique('nobody')}@example.org")
    assert known.status_code == unknown.status_code == 200
    assert SENT in known.text
    strip = lambda html: html.split('<main')[1]  # noqa: E731
    assert strip(known.text) == strip(unknown.text)
    assert len(reset_events(db, user.id)) == 1


def test_request_emits_the_event_with_a_link_whose_token_is_stored_hashed(client, db, clock):
    user = make_user(db)
    ask_reset(client, user.email.upper())
    event = reset_events(db, user.id)[-1]
    assert event["type"] == "password_reset.requested.v1" and event["source"] == "identity"
    assert event["data"]["email"] == user.email and event["data"]["given_name"] == "Claire"
    token = link_token(db, user.id)
    assert len(token) >= 22  # ≥ 128 bits in base64url
    with db.read() as s:
        row = s.scalars(sa.select(PasswordResetToken).where(PasswordResetToken.user_id == user.id)).one()
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert (row.expires_at.replace(tzinfo=None) - row.created_at.replace(tzinfo=None)).total_seconds() == 3600
    assert "password.reset_requested" in audit_actions(db, user_id=user.id)


def test_reset_sets_the_password_ends_every_session_and_notifies(app, client, db, clock):
    user = make_user(db)
    # Two devices signed in.
    phone = app.test_client(follow_redirects=False)
    phone.headers["X-Forwarded-For"] = unique_ip()
    assert login(phone, user.email).status_code == 302
    assert login(client, user.email).status_code == 302

    ask_reset(client, user.email)
    token = link_token(db, user.id)
    assert client.get(f"/oidc/reset/{token}").status_code == 200
    r = set_password(client, token)
    assert r.status_code == 302 and r.headers["location"].endswith("/oidc/login")
    follow = client.get(r.headers["location"])
    assert "Votre mot de passe a été modifié" in follow.text

    with db.read() as s:
        u = s.get(User, user.id)
        assert passwords.verify_password(u.password_hash, NEW_PASSWORD) and u.password_changed_at is not None
        reasons = s.scalars(sa.select(SsoSessionRecord.end_reason).where(SsoSessionRecord.user_id == user.id)).all()
    assert reasons and all(reason == "password_reset" for reason in reasons)
    changed = [e for e in outbox_events(db, "password.changed.v1") if e["data"]["user_id"] == user.id]
    assert len(changed) == 1 and changed[0]["data"]["reason"] == "reset"
    assert "password.reset_completed" in audit_actions(db, user_id=user.id)

    # The old password no longer works, the new one does; the other device is signed out.
    assert login(client, user.email, PASSWORD).status_code == 401
    assert login(client, user.email, NEW_PASSWORD).status_code == 302


def test_a_link_works_once(client, db):
    user = make_user(db)
    ask_reset(client, user.email)
    token = link_token(db, user.id)
    assert set_password(client, token).status_code == 302
    again = client.get(f"/oidc/reset/{token}")
    assert again.status_code == 410 and "plus valable" in again.text
    r = client.post(f"/oidc/reset/{token}", data={"csrf_token": "x", "password": "a", "confirm": "a"})
    assert r.status_code in (400, 410)


def test_a_new_password_uses_up_every_other_pending_link(client, db):
    user = make_user(db)
    ask_reset(client, user.email)
    first = link_token(db, user.id)
    ask_reset(client, user.email)
    second = link_token(db, user.id)
    assert first != second
    assert set_password(client, second).status_code == 302
    assert client.get(f"/oidc/reset/{first}").status_code == 410


def test_a_link_expires_after_one_hour(client, db, clock):
    user = make_user(db)
    ask_reset(client, user.email)
    token = link_token(db, user.id)
    clock.advance(minutes=59)
    assert client.get(f"/oidc/reset/{token}").status_code == 200
    clock.advance(minutes=1)
    assert client.get(f"/oidc/reset/{token}").status_code == 410
    with db.read() as s:
        assert passwords.verify_password(s.get(User, user.id).password_hash, PASSWORD)


def test_unknown_token_is_refused(client):
    assert client.get("/oidc/reset/not-a-real-token").status_code == 410


def test_the_password_policy_applies_and_errors_show_next_to_the_field(client, db):
    user = make_user(db, email=f"{unique('helene')}@example.org")
    ask_reset(client, user.email)
    token = link_token(db, user.id)
    weak = set_password(client, token, "azerty123456")
    assert weak.status_code == 400 and "trop courant" in weak.text and 'id="password-error"' in weak.text
    short = set_password(client, token, "court")
    assert short.status_code == 400 and "au moins 12 caractères" in short.text
    mine = set_password(client, token, user.email.split("@")[0] + " et son chat")
    assert mine.status_code == 400 and "adresse e-mail" in mine.text
    mismatch = set_password(client, token, NEW_PASSWORD, "autre chose encore ici")
    assert mismatch.status_code == 400 and "pas identiques" in mismatch.text
    # Refusals do not use the link up.
    assert set_password(client, token).status_code == 302


def test_reset_clears_the_accounts_login_back_off(client, db, clock):
    user = make_user(db)
    for _ in range(throttle.ACCOUNT_FREE_FAILURES):
        login(client, user.email, "wrong wrong wrong")
    assert login(client, user.email, PASSWORD).status_code == 429
    ask_reset(client, user.email)
    assert set_password(client, link_token(db, user.id)).status_code == 302
    assert login(client, user.email, NEW_PASSWORD).status_code == 302


def test_requests_are_limited_per_account_and_hour(client, db, clock):
    user = make_user(db)
    for _ in range(5):
        assert SENT in ask_reset(client, user.email).text
    assert len(reset_events(db, user.id)) == 3
    clock.advance(hours=1, seconds=1)
    ask_reset(client, user.email)
    assert len(reset_events(db, user.id)) == 4


def test_inactive_accounts_get_no_link(client, db):
    user = make_user(db, active=False)
    assert SENT in ask_reset(client, user.email).text
    assert reset_events(db, user.id) == []


def test_reset_form_requires_the_csrf_token(client, db):
    user = make_user(db)
    ask_reset(client, user.email)
    token = link_token(db, user.id)
    client.get(f"/oidc/reset/{token}")
    r = client.post(f"/oidc/reset/{token}", data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert r.status_code == 400 and "Ce formulaire a expiré" in r.text
    assert client.get(f"/oidc/reset/{token}").status_code == 200
