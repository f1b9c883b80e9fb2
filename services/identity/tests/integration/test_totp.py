"""TOTP second factor: mandatory for agents (enrolment at first sign-in, before any session),
then a code at every sign-in; codes are single-use; failures are throttled (SQLite, PostgreSQL)."""
import re
import sys
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))
from signin_testkit import (PUBLIC_URL, app, audit_actions, client, clock, csrf_of, db, db_url, login,  # noqa: F401
                            make_user, sso_cookie, submit_code, totp_code)

from identity import throttle
from identity.models import User
from identity.signin.models import SsoSessionRecord

pytestmark = pytest.mark.integration
ENROL = "/oidc/login/totp/enrol"
CODE = "/oidc/login/totp"
NEXT = "/oidc/authorize?client_id=gateway&state=abc"


def sessions_of(db, user_id):
    with db.read() as s:
        return [(r.amr, r.ended_at) for r in
                s.scalars(sa.select(SsoSessionRecord).where(SsoSessionRecord.user_id == user_id))]


def secret_shown(html: str) -> str:
    uri = re.search(r'id="totp-uri"[^>]*>([^<]+)<', html).group(1).replace("&amp;", "&")
    return pyotp.parse_uri(uri).secret


def test_an_agent_without_totp_enrols_before_any_session_exists(client, db, clock):
    agent = make_user(db, agent=True)
    r = login(client, agent.email, next_url=NEXT)
    assert r.status_code == 302 and r.headers["location"].endswith(ENROL)
    assert sso_cookie(client) is None and sessions_of(db, agent.id) == []

    page = client.get(ENROL)
    assert page.status_code == 200
    secret = secret_shown(page.text)
    assert "otpauth://totp/Espace%20Famille:" in page.text
    assert re.sub(r"\s", "", re.search(r'id="totp-secret">([^<]+)<', page.text).group(1)) == secret
    with db.read() as s:
        stored = s.get(User, agent.id)
        assert stored.totp_secret == secret and stored.totp_enabled is False

    wrong = submit_code(client, ENROL, "000000" if totp_code(secret) != "000000" else "111111")
    assert wrong.status_code == 401 and "Code incorrect" in wrong.text and sso_cookie(client) is None

    ok = submit_code(client, ENROL, totp_code(secret))
    assert ok.status_code == 302 and ok.headers["location"] == NEXT
    assert sso_cookie(client)
    with db.read() as s:
        assert s.get(User, agent.id).totp_enabled is True
    assert sessions_of(db, agent.id)[0][0] == ["pwd", "otp", "mfa"]
    actions = audit_actions(db, user_id=agent.id)
    assert "totp.enrolled" in actions and "totp.failed" in actions and "signin.succeeded" in actions


def test_an_enrolled_agent_gives_a_code_at_each_sign_in(client, db, clock):
    secret = pyotp.random_base32()
    agent = make_user(db, agent=True, totp_secret=secret)
    r = login(client, agent.email)
    assert r.status_code == 302 and r.headers["location"].endswith(CODE)
    assert sso_cookie(client) is None
    ok = submit_code(client, CODE, totp_code(secret))
    assert ok.status_code == 302 and ok.headers["location"] == PUBLIC_URL + "/"
    assert sessions_of(db, agent.id)[0][0] == ["pwd", "otp", "mfa"]


def test_a_code_cannot_be_used_twice(app, client, db, clock):
    secret = pyotp.random_base32()
    agent = make_user(db, agent=True, totp_secret=secret)
    code = totp_code(secret)
    login(client, agent.email)
    assert submit_code(client, CODE, code).status_code == 302
    second = app.test_client(follow_redirects=False)
    second.headers["X-Forwarded-For"] = "10.99.99.99"
    login(second, agent.email)
    assert submit_code(second, CODE, code).status_code == 401
    clock.advance(seconds=30)
    assert submit_code(second, CODE, totp_code(secret)).status_code == 302


def test_codes_from_the_neighbouring_time_steps_are_accepted_older_ones_not(client, db, clock):
    secret = pyotp.random_base32()
    agent = make_user(db, agent=True, totp_secret=secret)
    login(client, agent.email)
    assert submit_code(client, CODE, totp_code(secret, clock.now - timedelta(seconds=90))).status_code == 401
    assert submit_code(client, CODE, totp_code(secret, clock.now - timedelta(seconds=30))).status_code == 302


def test_the_second_step_expires(client, db, clock):
    secret = pyotp.random_base32()
    agent = make_user(db, agent=True, totp_secret=secret)
    login(client, agent.email)
    csrf = csrf_of(client, CODE)
    clock.advance(minutes=6)
    r = client.post(CODE, data={"csrf_token": csrf, "code": totp_code(secret)})
    assert r.status_code == 302 and r.headers["location"].endswith("/oidc/login")
    assert sso_cookie(client) is None
    assert client.get(CODE).status_code == 302


def test_the_second_step_cannot_be_reached_without_the_password(client):
    r = client.get(CODE)
    assert r.status_code == 302 and r.headers["location"].endswith("/oidc/login")
    assert client.get(ENROL).status_code == 302


def test_wrong_codes_are_throttled_and_a_correct_password_does_not_reset_that(client, db, clock):
    secret = pyotp.random_base32()
    agent = make_user(db, agent=True, totp_secret=secret)
    login(client, agent.email)
    for _ in range(throttle.ACCOUNT_FREE_FAILURES):
        bad = "123456" if totp_code(secret) != "123456" else "654321"
        assert submit_code(client, CODE, bad).status_code == 401
    r = submit_code(client, CODE, totp_code(secret))
    assert r.status_code == 429 and "Trop de tentatives" in r.text
    assert sso_cookie(client) is None


def test_each_enrolment_attempt_gets_a_fresh_secret(client, db, clock):
    agent = make_user(db, agent=True)
    login(client, agent.email)
    first = secret_shown(client.get(ENROL).text)
    client.cookies.clear()
    login(client, agent.email)
    second = secret_shown(client.get(ENROL).text)
    assert first != second
    assert submit_code(client, ENROL, totp_code(first)).status_code == 401


def test_a_parent_who_enrolled_by_choice_also_gives_a_code(client, db, clock):
    secret = pyotp.random_base32()
    parent = make_user(db, totp_secret=secret)
    r = login(client, parent.email)
    assert r.headers["location"].endswith(CODE)


def test_code_form_requires_csrf(client, db, clock):
    secret = pyotp.random_base32()
    agent = make_user(db, agent=True, totp_secret=secret)
    login(client, agent.email)
    r = client.post(CODE, data={"code": totp_code(secret)})
    assert r.status_code == 400 and sso_cookie(client) is None
