"""The gateway against real loopback HTTP servers and a real closed port."""
import gzip

import pytest
from flask import Flask, Response, jsonify, redirect, request

from helpers import closed_port, make_settings, migrate, serve

from gateway.app import create_app

pytestmark = pytest.mark.integration


def upstream_identity():
    app = Flask("upstream")
    seen = []

    @app.route("/oidc/<path:path>", methods=["GET", "POST"])
    def echo(path):
        seen.append({"path": path, "method": request.method, "query": request.query_string.decode(),
                     "body": request.get_data(), "cookies": dict(request.cookies),
                     "headers": dict(request.headers)})
        if path == "login":
            resp = redirect("/oidc/authorize?resume=1", code=302)
            resp.set_cookie("identity_session", "abc", httponly=True)
            resp.set_cookie("identity_csrf", "def")
            return resp
        if path == "zipped":
            return Response(gzip.compress(b"compressed body"), headers={"Content-Encoding": "gzip"},
                            content_type="text/plain")
        if path == "missing":
            return jsonify(error="not_found"), 404
        return jsonify(ok=True), 200, {"X-Identity": "yes"}

    return app, seen


@pytest.fixture
def proxied():
    app, seen = upstream_identity()
    with serve(app) as base:
        yield base, seen


@pytest.fixture
def client(proxied, tmp_path):
    base, _ = proxied
    settings = make_settings(tmp_path, IDENTITY_URL=base)
    migrate(settings)
    with create_app(settings).test_client() as c:
        yield c


def test_proxy_passes_method_query_body_cookies_and_forwarded_headers(client, proxied):
    _, seen = proxied
    client.cookies.set("identity_session", "s1", domain="testserver.local", path="/")
    resp = client.post("/oidc/token?x=1&y=2", content=b"grant_type=authorization_code&code=c",
                       headers={"Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-For": "10.0.0.1"})
    assert resp.status_code == 200 and resp.json() == {"ok": True} and resp.headers["x-identity"] == "yes"
    got = seen[-1]
    assert (got["path"], got["method"], got["query"]) == ("token", "POST", "x=1&y=2")
    assert got["body"] == b"grant_type=authorization_code&code=c"
    assert got["cookies"] == {"identity_session": "s1"}
    # The test client's peer is no trusted proxy: its X-Forwarded-For is not believed.
    assert got["headers"]["X-Forwarded-For"] == "testclient"
    assert got["headers"]["X-Forwarded-Proto"] == "http"
    assert got["headers"]["Host"] == got["headers"]["X-Forwarded-Host"] == "testserver"


def test_identity_is_told_the_client_named_by_a_trusted_ingress(proxied, tmp_path):
    base, seen = proxied
    settings = make_settings(tmp_path, IDENTITY_URL=base, FORWARDED_ALLOW_IPS="10.0.0.0/8")
    migrate(settings)
    app = create_app(settings)
    spoofing_browser = {"X-Forwarded-For": "198.51.100.66", "X-Forwarded-Proto": "https"}
    with app.test_client(client=("10.1.2.3", 40000)) as ingress:
        # The ingress appends the address it saw to what the browser sent.
        ingress.get("/oidc/login", headers={"X-Forwarded-For": "198.51.100.66, 203.0.113.9",
                                            "X-Forwarded-Proto": "https", "Host": "famille.example.org"},
                    follow_redirects=False)
    with app.test_client(client=("198.51.100.66", 40000)) as direct:
        direct.get("/oidc/login", headers=spoofing_browser, follow_redirects=False)
    through_ingress, spoofed = seen[-2]["headers"], seen[-1]["headers"]
    assert (through_ingress["X-Forwarded-For"], through_ingress["X-Forwarded-Proto"]) == ("203.0.113.9", "https")
    assert through_ingress["Host"] == "famille.example.org"
    assert (spoofed["X-Forwarded-For"], spoofed["X-Forwarded-Proto"]) == ("198.51.100.66", "http")


def test_proxy_returns_redirects_and_every_set_cookie_unchanged(client):
    resp = client.get("/oidc/login", follow_redirects=False)
    assert resp.status_code == 302 and resp.headers["location"] == "/oidc/authorize?resume=1"
    # The redirect's own body comes through whole, with a length that matches it.
    assert b"/oidc/authorize?resume=1" in resp.content
    assert resp.headers["content-length"] == str(len(resp.content))
    cookies = resp.headers.get_list("set-cookie")
    assert any(c.startswith("identity_session=abc") and "HttpOnly" in c for c in cookies)
    assert any(c.startswith("identity_csrf=def") for c in cookies)


def test_cookies_set_for_one_browser_never_reach_another(proxied, tmp_path):
    """The proxy's pooled connection is shared by every user: identity's session cookie set
    for one browser must not be replayed for the next one."""
    base, seen = proxied
    settings = make_settings(tmp_path, IDENTITY_URL=base)
    migrate(settings)
    app = create_app(settings)
    with app.test_client() as first:
        assert "identity_session=abc" in first.get("/oidc/login", follow_redirects=False).headers["set-cookie"]
    with app.test_client() as second:
        second.get("/oidc/userinfo")
    assert seen[-1]["path"] == "userinfo" and seen[-1]["cookies"] == {}


def test_proxy_passes_encoded_bodies_and_errors_through(client):
    zipped = client.get("/oidc/zipped", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip" and zipped.text == "compressed body"
    missing = client.get("/oidc/missing")
    assert missing.status_code == 404 and missing.json() == {"error": "not_found"}


def test_proxy_to_a_stopped_identity_is_a_french_503(tmp_path):
    settings = make_settings(tmp_path, IDENTITY_URL=f"http://127.0.0.1:{closed_port()}")
    migrate(settings)
    with create_app(settings).test_client() as c:
        resp = c.get("/oidc/authorize")
    assert resp.status_code == 503 and "momentanément indisponible" in resp.text


OPERATOR_TOKEN = "operator-token-for-tests-0123456789abcdef"
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
LEAKY_ERROR = "OperationalError: connection to server at db-7.internal failed: role identity_rw"


def ready_service(name, ok=True, seen=None):
    app = Flask(name)

    @app.get("/health/ready")
    def ready():
        if seen is not None:
            seen.append(request.headers.get("Authorization"))
        if ok:
            return jsonify(status="ok", service=name, checks={"database": {"ok": True}})
        return jsonify(status="unavailable", service=name, checks={"database": {"ok": False, "error": LEAKY_ERROR}}), 503

    return app


def test_platform_health_is_503_when_one_service_is_down(tmp_path):
    with serve(ready_service("identity")) as identity, serve(ready_service("booking")) as booking, \
            serve(ready_service("billing")) as billing, serve(ready_service("requests")) as demandes:
        env = dict(IDENTITY_URL=identity, BOOKING_URL=booking, BILLING_URL=billing, REQUESTS_URL=demandes,
                   OPERATOR_TOKEN=OPERATOR_TOKEN)
        down = make_settings(tmp_path, NOTIFY_URL=f"http://127.0.0.1:{closed_port()}", **env)
        migrate(down)
        with create_app(down).test_client() as c:
            resp = c.get("/health", headers=OPERATOR)
        assert resp.status_code == 503
        body = resp.json()
        assert body["services"]["notify"]["ready"] is False
        assert all(body["services"][s]["ready"] for s in ("identity", "booking", "billing", "requests"))

        with serve(ready_service("notify")) as notify:
            up = make_settings(tmp_path, NOTIFY_URL=notify, **env)
            with create_app(up).test_client() as c:
                resp = c.get("/health")
            assert resp.status_code == 200 and resp.json() == {"status": "ok"}


def test_the_public_gets_a_plain_platform_status_and_operators_the_details(tmp_path):
    seen = []
    with serve(ready_service("identity", ok=False, seen=seen)) as identity:
        settings = make_settings(tmp_path, IDENTITY_URL=identity, OPERATOR_TOKEN=OPERATOR_TOKEN)
        migrate(settings)
        with create_app(settings).test_client() as c:
            public = c.get("/health")
            wrong = c.get("/health", headers={"Authorization": "Bearer not-the-token"})
            operator = c.get("/health", headers=OPERATOR)
    for resp in (public, wrong):
        assert resp.status_code == 503 and resp.json() == {"status": "unavailable"}
        assert "db-7" not in resp.text
    assert operator.status_code == 503
    assert operator.json()["services"]["identity"]["checks"]["database"]["error"] == LEAKY_ERROR
    # The services see the operator's token only when an operator asked.
    assert seen == [None, None, f"Bearer {OPERATOR_TOKEN}"]


def test_own_readiness_keeps_the_error_text_for_operators(tmp_path):
    unreachable = f"postgresql://secret_role@127.0.0.1:{closed_port()}/gateway"
    settings = make_settings(tmp_path, DATABASE_URL=unreachable, OPERATOR_TOKEN=OPERATOR_TOKEN)
    with create_app(settings).test_client() as c:
        public = c.get("/health/ready")
        operator = c.get("/health/ready", headers=OPERATOR)
    assert public.status_code == 503 and public.json() == {"status": "unavailable", "service": "gateway"}
    assert operator.status_code == 503 and operator.json()["checks"]["database"]["ok"] is False
    assert "127.0.0.1" in operator.json()["checks"]["database"]["error"]


def test_own_liveness_readiness_and_metrics(tmp_path):
    settings = make_settings(tmp_path, OPERATOR_TOKEN=OPERATOR_TOKEN)
    migrate(settings)
    with create_app(settings).test_client() as c:
        assert c.get("/health/live").json()["status"] == "ok"
        assert c.get("/health/ready").json() == {"status": "ok", "service": "gateway"}
        assert c.get("/health/ready", headers=OPERATOR).json()["checks"]["database"]["ok"] is True
        c.get("/aide")
        refused = c.get("/metrics")
        assert refused.status_code == 401 and "http_requests_total" not in refused.text
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert 'http_requests_total{endpoint="/aide"' in c.get("/metrics", headers=OPERATOR).text


def test_without_an_operator_token_nobody_gets_details(tmp_path):
    settings = make_settings(tmp_path)
    migrate(settings)
    with create_app(settings).test_client() as c:
        assert c.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401
        assert "checks" not in c.get("/health/ready", headers={"Authorization": "Bearer "}).json()


def mailcatcher():
    app = Flask("mailcatcher")
    mails = [{"id": "m1", "from": "noreply@espace-famille.test", "to": ["parent@example.org"],
              "subject": "Activez votre compte", "date": "2026-11-26T09:00:00Z"}]

    @app.get("/messages")
    def messages():
        return jsonify(mails)

    @app.get("/messages/<mail_id>")
    def message(mail_id):
        if mail_id != "m1":
            return jsonify(error="not found"), 404
        return jsonify({**mails[0], "text": "Bonjour,\nActivez votre compte : http://127.0.0.1:8000/activation/abc.\n<script>x</script>",
                        "html": "<p>Bonjour <a href='http://127.0.0.1:8000/activation/abc'>Activer</a></p>"})

    return app


def test_dev_mails_lists_and_shows_caught_mails(tmp_path):
    with serve(mailcatcher()) as base:
        settings = make_settings(tmp_path, EF_ENV="development", MAILCATCHER_URL=base)
        migrate(settings)
        with create_app(settings).test_client() as c:
            listing = c.get("/dev/mails/")
            assert listing.status_code == 200 and "Activez votre compte" in listing.text
            mail = c.get("/dev/mails/m1")
            assert '<a href="http://127.0.0.1:8000/activation/abc">' in mail.text  # link clickable
            assert "&lt;script&gt;" in mail.text                                  # text escaped
            assert 'sandbox=""' in mail.text and "srcdoc=" in mail.text
            assert c.get("/dev/mails/unknown").status_code == 404
