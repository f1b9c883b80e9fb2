"""SSO sessions as the OIDC endpoints use them (identity.sessions over a real database and a
real sign-in cookie): idle and absolute expiry, logout, ending all of a user's sessions."""
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Response

sys.path.insert(0, str(Path(__file__).parent))
from signin_testkit import (app, audit_actions, client, clock, db, db_url, login, make_user,  # noqa: F401
                            sso_cookie, unique_ip)

from identity import sessions
from identity.models import User
from identity.oidc.models import SessionLogout
from identity.signin.models import SsoSessionRecord

pytestmark = pytest.mark.integration


def current(app, db, cookie):
    """What the OIDC endpoints see for a browser presenting `cookie`."""
    headers = {"Cookie": f"ef_sso={cookie}"} if cookie else {}
    with app.app.test_request_context("/oidc/authorize", headers=headers) as ctx:
        with db.transaction() as s:
            return sessions.current(s, ctx.request)


def row(db, user_id):
    with db.read() as s:
        r = s.scalars(sa.select(SsoSessionRecord).where(SsoSessionRecord.user_id == user_id)
                      .order_by(SsoSessionRecord.created_at.desc())).first()
        return {"sid": r.sid, "ended_at": r.ended_at, "end_reason": r.end_reason, "last_seen_at": r.last_seen_at}


def test_current_gives_the_signed_in_user_with_auth_time_and_amr(app, client, db, clock):
    user = make_user(db)
    login(client, user.email)
    sso = current(app, db, sso_cookie(client))
    assert sso is not None and sso.user_id == user.id and sso.amr == ["pwd"]
    assert abs((sso.auth_time - clock.now).total_seconds()) < 1
    assert sso.sid == row(db, user.id)["sid"]


def test_no_cookie_or_a_forged_one_gives_no_session(app, db):
    assert current(app, db, None) is None
    assert current(app, db, "forged-cookie-value") is None


def test_idle_for_30_minutes_ends_the_session_but_use_keeps_it_alive(app, client, db, clock):
    user = make_user(db)
    login(client, user.email)
    cookie = sso_cookie(client)
    clock.advance(minutes=29)
    assert current(app, db, cookie) is not None  # touches last_seen
    clock.advance(minutes=29)
    assert current(app, db, cookie) is not None
    clock.advance(minutes=30)
    assert current(app, db, cookie) is None
    state = row(db, user.id)
    assert state["end_reason"] == "idle" and state["ended_at"] is not None
    clock.advance(seconds=-3600)  # even back in time, an ended session stays ended
    assert current(app, db, cookie) is None
    assert "signin.session_expired" in audit_actions(db, user_id=user.id)


def test_twelve_hours_after_sign_in_the_session_ends_even_when_in_use(app, client, db, clock):
    user = make_user(db)
    login(client, user.email)
    cookie = sso_cookie(client)
    for _ in range(35):  # 35 × 20 min = 11 h 40
        clock.advance(minutes=20)
        assert current(app, db, cookie) is not None
    clock.advance(minutes=20)  # 12 h
    assert current(app, db, cookie) is None
    assert row(db, user.id)["end_reason"] == "absolute"


def test_a_deactivated_account_loses_its_session(app, client, db, clock):
    user = make_user(db)
    login(client, user.email)
    with db.transaction() as s:
        s.get(User, user.id).is_active = False
    assert current(app, db, sso_cookie(client)) is None
    assert row(db, user.id)["end_reason"] == "account_inactive"


def test_end_closes_the_session_clears_the_cookie_and_is_audited(app, client, db):
    user = make_user(db)
    login(client, user.email)
    cookie = sso_cookie(client)
    sid = row(db, user.id)["sid"]
    response = Response()
    with app.app.test_request_context("/oidc/end-session"):
        with db.transaction() as s:
            sessions.end(s, response, sid)
    cleared = response.headers.get("Set-Cookie")
    assert cleared.startswith("ef_sso=;") and "Path=/oidc" in cleared and "Max-Age=0" in cleared
    assert current(app, db, cookie) is None
    assert row(db, user.id)["end_reason"] == "logout"
    assert "signin.logout" in audit_actions(db, user_id=user.id)


def test_end_all_for_user_spares_one_session_and_tells_the_oidc_side(app, db):
    user = make_user(db)
    browsers = []
    for _ in range(3):
        b = app.test_client(follow_redirects=False)
        b.headers["X-Forwarded-For"] = unique_ip()
        login(b, user.email)
        browsers.append(sso_cookie(b))
    keep = current(app, db, browsers[0]).sid
    with app.app.test_request_context("/"):
        with db.transaction() as s:
            ended = sessions.end_all_for_user(s, user.id, except_sid=keep)
    assert len(ended) == 2 and keep not in ended
    assert current(app, db, browsers[0]) is not None
    assert current(app, db, browsers[1]) is None and current(app, db, browsers[2]) is None
    with db.read() as s:
        announced = set(s.scalars(sa.select(SessionLogout.sid).where(SessionLogout.sid.in_(ended))).all())
    assert announced == set(ended)
