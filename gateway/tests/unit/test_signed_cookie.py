"""gateway.sessions.SignedCookie: Flask's session cookie, its serializer made once per set of keys."""
from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from gateway.sessions import SignedCookie


def _app(key: str) -> Flask:
    app = Flask(__name__)
    app.secret_key = key
    return app


def test_the_cookie_is_flasks_both_ways():
    app = _app("k" * 40)
    data = {"user": {"sub": "u1", "communes": [{"slug": "heillecourt"}]}, "_flashes": [("success", "Ajouté.")]}
    ours, flasks = SignedCookie().get_signing_serializer(app), SecureCookieSessionInterface().get_signing_serializer(app)
    assert flasks.loads(ours.dumps(data)) == ours.loads(flasks.dumps(data)) == data


def test_the_serializer_is_made_once_then_again_when_the_keys_change():
    app = _app("k" * 40)
    cookie = SignedCookie()
    first = cookie.get_signing_serializer(app)
    assert cookie.get_signing_serializer(app) is first
    signed = first.dumps({"a": 1})
    app.secret_key = "n" * 40
    app.config["SECRET_KEY_FALLBACKS"] = ["k" * 40]
    rotated = cookie.get_signing_serializer(app)
    assert rotated is not first and rotated.loads(signed) == {"a": 1}  # the old key still reads old cookies
    assert SecureCookieSessionInterface().get_signing_serializer(_app("n" * 40)).loads(rotated.dumps({"b": 2})) == {"b": 2}


def test_the_gateway_uses_it(flask_app):
    assert isinstance(flask_app.session_interface, SignedCookie)


# --- the fast reading and writing: Flask's bytes, Flask's decisions ------------------------------------
import datetime as _dt  # noqa: E402
import time as _time  # noqa: E402
import uuid as _uuid  # noqa: E402

import pytest  # noqa: E402
from flask import Response  # noqa: E402
from markupsafe import Markup  # noqa: E402

from gateway import sessions  # noqa: E402

SESSIONS = [
    {"user": {"sub": "u1", "name": "Léa Müller", "communes": [{"slug": "heillecourt", "name": "Heillecourt"}],
              "agent_of": [], "platform_role": None}, "auth_at": 1_900_000_000.25, "seen_at": 1_900_000_001.5,
     "gsid": "abc", "_permanent": True, "csrf_token": "f" * 40},
    {"_flashes": [("success", "20 réservations ajoutées à votre panier."), ("info", "Vous avez été déconnecté.")]},
    {"tricky": {" t": [1, 2]}, "tagged": {" di": "x"}, "nested": [[1, (2, 3)], {"a": None}], "b": True, "n": 3},
    {"m": Markup("<b>gras</b>"), "raw": b"\x00\xff", "when": _dt.datetime(2026, 12, 2, 4, 0, tzinfo=_dt.timezone.utc),
     "id": _uuid.UUID(int=7), "short": 1},
    {"short": 1},  # too short to compress
]


@pytest.mark.parametrize("data", SESSIONS)
def test_writes_flasks_bytes_and_both_read_each_other(monkeypatch, data):
    app = _app("k" * 40)
    monkeypatch.setattr(_time, "time", lambda: 1_900_000_000.0)
    ours, flasks = SignedCookie(), SecureCookieSessionInterface()
    with app.app_context():
        mine = sessions._write(app, data, ours._keys(app)[0], ours.serializer)
        assert mine == flasks.get_signing_serializer(app).dumps(data)
        read = sessions._read(mine, ours._keys(app), 60, ours.serializer)
    assert read == flasks.get_signing_serializer(app).loads(mine) == data
    assert {k: type(v) for k, v in read.items()} == {k: type(v) for k, v in data.items()}


def _opened(app, cookie: str | None, interface=None):
    interface = interface or app.session_interface
    headers = {"Cookie": f"session={cookie}"} if cookie is not None else {}
    with app.test_request_context("/", headers=headers):
        from flask import request
        return interface.open_session(app, request)


def test_reads_what_flask_reads_and_refuses_what_flask_refuses():
    app = _app("k" * 40)
    app.session_interface = SignedCookie()
    good = SecureCookieSessionInterface().get_signing_serializer(app).dumps(SESSIONS[0])
    other_key = SecureCookieSessionInterface().get_signing_serializer(_app("x" * 40)).dumps(SESSIONS[0])
    variants = [good, other_key, good[:-1] + ("A" if good[-1] != "A" else "B"), good.replace(".", "", 1), "",
                "garbage", good.rsplit(".", 1)[0], "." + good, good + "." + good]
    for cookie in variants:
        assert dict(_opened(app, cookie)) == dict(_opened(app, cookie, SecureCookieSessionInterface())), cookie
    assert dict(_opened(app, good)) == SESSIONS[0]
    assert dict(_opened(app, other_key)) == {} and dict(_opened(app, None)) == {}


def test_an_expired_or_future_cookie_is_refused_as_flask_does(monkeypatch):
    app = _app("k" * 40)
    app.session_interface = SignedCookie()
    cookie = SecureCookieSessionInterface().get_signing_serializer(app).dumps({"a": 1})
    lifetime = app.permanent_session_lifetime.total_seconds()
    real = _time.time
    for shift, kept in ((lifetime - 5, True), (lifetime + 5, False), (-5, False)):
        monkeypatch.setattr(_time, "time", lambda shift=shift: real() + shift)
        assert dict(_opened(app, cookie)) == ({"a": 1} if kept else {})
        assert dict(_opened(app, cookie, SecureCookieSessionInterface())) == ({"a": 1} if kept else {})


def test_rotated_keys_read_old_cookies_and_sign_with_the_new_key():
    old_app = _app("o" * 40)
    old = SecureCookieSessionInterface().get_signing_serializer(old_app).dumps({"a": 1})
    app = _app("n" * 40)
    app.config["SECRET_KEY_FALLBACKS"] = ["o" * 40]
    app.session_interface = SignedCookie()
    assert dict(_opened(app, old)) == {"a": 1}
    with app.app_context():
        fresh = sessions._write(app, {"b": 2}, app.session_interface._keys(app)[0], app.session_interface.serializer)
    assert SecureCookieSessionInterface().get_signing_serializer(_app("n" * 40)).loads(fresh) == {"b": 2}


def test_save_session_sets_the_same_cookie_attributes_as_flask(monkeypatch):
    monkeypatch.setattr(_time, "time", lambda: 1_900_000_000.0)
    app = _app("k" * 40)
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=True)
    headers = []
    for interface in (SignedCookie(), SecureCookieSessionInterface()):
        session = interface.session_class(SESSIONS[0])
        session.permanent = True
        response = Response()
        with app.test_request_context("/"):
            interface.save_session(app, session, response)
        headers.append((response.headers.getlist("Set-Cookie"), response.headers.get("Vary")))
    # The Expires attribute is made from datetime.now(): equal to the second, or one apart.
    mine, flasks = headers
    strip = [c.split("; Expires=")[0] + c.split(" GMT")[1] for c in mine[0] + flasks[0]]
    assert strip[0] == strip[1] and mine[1] == flasks[1] == "Cookie"
