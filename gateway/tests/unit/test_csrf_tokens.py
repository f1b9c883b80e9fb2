"""gateway.csrf_tokens: flask_wtf's CSRF protection, its signed tokens signed and checked once per process."""
import pytest
from flask import Flask, render_template_string, session
from flask_wtf import csrf as wtf
from itsdangerous import URLSafeTimedSerializer

from gateway import csrf_tokens
from gateway.csrf_tokens import CSRFProtect

KEY = "s" * 40
RAW = "r" * 40


def _app(protect_class, **config) -> Flask:
    app = Flask(__name__)
    app.config.update({"SECRET_KEY": KEY, "WTF_CSRF_TIME_LIMIT": None, "WTF_CSRF_CHECK_DEFAULT": False, **config})
    protect = protect_class()
    protect.init_app(app)

    @app.before_request
    def _csrf():
        protect.protect()

    @app.route("/form", methods=["GET", "POST"])
    def form():
        return render_template_string("{{ csrf_token() }}")

    return app


def _signed(raw: str = RAW, key: str = KEY) -> str:
    return URLSafeTimedSerializer(key, salt="wtf-csrf-token").dumps(raw)


CASES = [  # (session's raw token, form data, headers, base_url)
    (RAW, {}, {}, "http://localhost"),
    (RAW, {"csrf_token": ""}, {}, "http://localhost"),
    (RAW, {"csrf_token": "nonsense"}, {}, "http://localhost"),
    (RAW, {"csrf_token": _signed()}, {}, "http://localhost"),
    (RAW, {"csrf_token": _signed("other" * 8)}, {}, "http://localhost"),
    (RAW, {"csrf_token": _signed(key="k" * 40)}, {}, "http://localhost"),
    (RAW, {"csrf_token": _signed()[:-2]}, {}, "http://localhost"),
    (RAW, {}, {"X-CSRFToken": _signed()}, "http://localhost"),
    (None, {"csrf_token": _signed()}, {}, "http://localhost"),
    (RAW, {"csrf_token": _signed()}, {}, "https://localhost"),
    (RAW, {"csrf_token": _signed()}, {"Referer": "https://elsewhere/"}, "https://localhost"),
    (RAW, {"csrf_token": _signed()}, {"Referer": "https://localhost/page"}, "https://localhost"),
]


def _post(app: Flask, raw, data, headers, base_url) -> int:
    with app.test_client() as client:
        with client.session_transaction() as s:
            if raw is not None:
                s["csrf_token"] = raw
        return client.post("/form", data=data, headers=headers, base_url=base_url).status_code


@pytest.mark.parametrize("raw,data,headers,base_url", CASES)
def test_decides_as_flask_wtf_twice(raw, data, headers, base_url):
    ours, theirs = _app(CSRFProtect), _app(wtf.CSRFProtect)
    expected = _post(theirs, raw, data, headers, base_url)
    assert _post(ours, raw, data, headers, base_url) == expected  # checked
    assert _post(ours, raw, data, headers, base_url) == expected  # and again, from what was kept
    assert expected in (200, 400)


def test_a_token_is_signed_and_checked_once(monkeypatch):
    csrf_tokens._signed.clear()
    csrf_tokens._checked.clear()
    app = _app(CSRFProtect)
    calls = []
    for name in ("dumps", "loads"):
        real = getattr(URLSafeTimedSerializer, name)
        monkeypatch.setattr(URLSafeTimedSerializer, name,
                            lambda self, *a, name=name, real=real, **k:
                            (self.salt == b"wtf-csrf-token" and calls.append(name)) or real(self, *a, **k))
    with app.test_client() as client:
        with client.session_transaction() as s:
            s["csrf_token"] = RAW
        pages = [client.get("/form").text for _ in range(3)]
        assert pages[0] == pages[1] == pages[2] and wtf.URLSafeTimedSerializer(KEY, salt="wtf-csrf-token").loads(
            pages[0]) == RAW
        assert [client.post("/form", data={"csrf_token": pages[0]}).status_code for _ in range(3)] == [200] * 3
    assert calls.count("dumps") == 1 and calls.count("loads") == 2  # the second load: this test's own


def test_a_new_session_gets_its_raw_token_from_flask_wtf():
    app = _app(CSRFProtect)
    with app.test_client() as client:
        token = client.get("/form").text
        with client.session_transaction() as s:
            raw = s["csrf_token"]
        assert URLSafeTimedSerializer(KEY, salt="wtf-csrf-token").loads(token) == raw
        assert client.post("/form", data={"csrf_token": token}).status_code == 200


def test_with_a_time_limit_flask_wtf_does_it_all(monkeypatch):
    app = _app(CSRFProtect, WTF_CSRF_TIME_LIMIT=3600)
    seen = []
    monkeypatch.setattr(wtf, "validate_csrf", lambda data: seen.append(data))
    monkeypatch.setattr(wtf, "generate_csrf", lambda *a: seen.append("made") or "t")
    with app.test_request_context("/form", method="POST", data={"csrf_token": "x"}):
        session["csrf_token"] = RAW
        csrf_tokens.validate_csrf("x")
        assert csrf_tokens.generate_csrf() == "t"
    assert seen == ["x", "made"]


def test_the_gateway_uses_it(flask_app):
    assert isinstance(flask_app.extensions["csrf"], CSRFProtect)
    assert flask_app.jinja_env.globals["csrf_token"] is csrf_tokens.generate_csrf
