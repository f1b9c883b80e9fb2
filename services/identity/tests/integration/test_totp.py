"""TOTP second factor: mandatory for agents (set up through a single-use link e-mailed at the
first sign-in, never with the password alone), then a code at every sign-in; codes are
single-use; failures are throttled (SQLite, PostgreSQL)."""
import re
import sys
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))
from signin_testkit import (PUBLIC_URL, app, audit_actions, client, clock, csrf_of, db, db_url, login,  # noqa: F401
                            make_user, outbox_events, sso_cookie, submit_code, totp_code)

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


def enrolment_link(db, email: str) -> str:
    """The path of the latest enrolment link e-mailed to `email` (the event notify receives)."""
    links = [e["data"]["link"] for e in outbox_events(db, "totp_enrolment.requested.v1")
             if e["data"]["email"] == email]
    assert links, f"no enrolment link for {email}"
    assert links[-1].startswith(PUBLIC_URL + ENROL + "/")
    return links[-1][len(PUBLIC_URL):]


def test_the_password_alone_never_shows_an_agents_second_factor_secret(client, db, clock):
    agent = make_user(db, agent=True)
    r = login(client, agent.email, next_url=NEXT)
    # No secret, no otpauth URI, no session: only a page saying an e-mail left.
    assert r.status_code == 200 and "otpauth://" not in r.text and 'id="totp-secret"' not in r.text
    assert "nous venons d'envoyer un lien" in r.text and agent.email in r.text
    assert sso_cookie(client) is None and sessions_of(db, agent.id) == []
    with db.read() as s:
        stored = s.get(User, agent.id)
        assert stored.totp_secret is None and stored.totp_enabled is False
    [event] = [e for e in outbox_events(db, "totp_enrolment.requested.v1") if e["data"]["email"] == agent.email]
    assert event["data"]["user_id"] == agent.sub
    assert "totp.enrolment_requested" in audit_actions(db, user_id=agent.id)


def test_an_agent_enrols_through_the_emailed_link_then_signs_in_with_a_code(client, db, clock):
    agent = make_user(db, agent=True)
    login(client, agent.email)
    link = enrolment_link(db, agent.email)

    browser = client  # the link may be opened anywhere: it is the credential
    page = browser.get(link)
    assert page.status_code == 200
    secret = secret_shown(page.text)
    assert "otpauth://totp/Espace%20Famille:" in page.text
    assert re.sub(r"\s", "", re.search(r'id="totp-secret">([^<]+)<', page.text).group(1)) == secret

    wrong = submit_code(browser, link, "000000" if totp_code(secret) != "000000" else "111111")
    assert wrong.status_code == 401 and "Code incorrect" in wrong.text
    with db.read() as s:
        assert s.get(User, agent.id).totp_enabled is False

    ok = submit_code(browser, link, totp_code(secret))
    assert ok.status_code == 302 and ok.headers["location"].endswith("/oidc/login")
    assert sso_cookie(client) is None  # enrolling does not sign in
    with db.read() as s:
        stored = s.get(User, agent.id)
        assert stored.totp_enabled is True and stored.totp_secret == secret
    assert browser.get(link).status_code == 410  # single use

    clock.advance(seconds=30)
    r = login(client, agent.email)
    assert r.status_code == 302 and r.headers["location"].endswith(CODE)
    assert submit_code(client, CODE, totp_code(secret)).status_code == 302
    assert sessions_of(db, agent.id)[0][0] == ["pwd", "otp", "mfa"]
    actions = audit_actions(db, user_id=agent.id)
    assert "totp.enrolled" in actions and "totp.failed" in actions and "signin.succeeded" in actions


def test_enrolment_links_expire_are_superseded_and_limited(client, db, clock):
    agent = make_user(db, agent=True)
    login(client, agent.email)
    first = enrolment_link(db, agent.email)
    client.cookies.clear()
    login(client, agent.email)
    second = enrolment_link(db, agent.email)
    assert first != second
    assert client.get(first).status_code == 410  # superseded
    assert secret_shown(client.get(second).text)
    login(client, agent.email)  # third link this hour
    third = enrolment_link(db, agent.email)
    login(client, agent.email)  # a fourth is not sent
    assert enrolment_link(db, agent.email) == third
    clock.advance(hours=25)
    assert client.get(third).status_code == 410  # expired
    assert client.get(ENROL + "/not-a-real-token").status_code == 410


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
