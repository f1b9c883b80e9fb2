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
