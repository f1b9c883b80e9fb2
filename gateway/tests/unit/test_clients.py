import pytest
import requests

from servicekit import tokens

from gateway import clients


def response(status: int, body: bytes = b"", content_type: str = "application/problem+json") -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp._content = body
    resp.headers["Content-Type"] = content_type
    return resp


def test_validation_problem_keeps_french_detail_and_field_errors():
    err = clients.error_from_response("identity", response(
        422, b'{"status": 422, "detail": "Certaines informations sont invalides.", "errors": {"email": "Adresse invalide."}}'))
    assert type(err) is clients.ServiceError
    assert (err.status, err.detail, err.errors) == (422, "Certaines informations sont invalides.", {"email": "Adresse invalide."})


@pytest.mark.parametrize("status", [500, 502, 503, 504, 401, 405])
def test_server_faults_and_refused_service_tokens_become_unavailable(status):
    err = clients.error_from_response("booking", response(status, b'{"detail": "Traceback..."}'))
    assert isinstance(err, clients.ServiceUnavailable)
    assert err.status == 503 and err.detail == clients.UNAVAILABLE_DETAIL and err.remote_status == status


def test_not_found_without_body_gets_a_french_fallback():
    err = clients.error_from_response("billing", response(404, b"", "text/plain"))
    assert err.status == 404 and err.detail == "Cette ressource est introuvable."


def test_parent_caller_carries_family_and_communes(flask_app):
    user = {"sub": "u1", "name": "Camille", "family_id": "f1",
            "communes": [{"slug": "heillecourt", "name": "Heillecourt"}], "agent_of": []}
    caller = clients.caller_for(user)
    assert caller == tokens.Caller(sub="u1", role="parent", family_id="f1", communes=("heillecourt",), name="Camille")


def test_agent_caller_uses_the_active_commune_and_its_role(flask_app):
    user = {"sub": "a1", "name": "Alex", "agent_of": [{"slug": "heillecourt", "name": "H", "role": "agent"},
                                                      {"slug": "ludres", "name": "L", "role": "admin"}]}
    with flask_app.test_request_context("/"):
        from flask import session
        session["user"] = user
        session["commune"] = "ludres"
        caller = clients.caller_for(user, as_agent=True)
        assert (caller.role, caller.commune, caller.communes) == ("admin", "ludres", ("heillecourt", "ludres"))
        session["commune"] = "nancy"  # not one of theirs
        with pytest.raises(clients.ServiceError) as exc:
            clients.caller_for(user, as_agent=True)
        assert exc.value.status == 403


def test_anonymous_visitor_is_the_gateway_itself_with_the_anonymous_role():
    caller = clients.caller_for(None)
    assert (caller.sub, caller.role) == ("gateway", "anonymous")


def test_retries_only_for_idempotent_methods():
    retry = clients.make_session().get_adapter("http://x").max_retries
    assert "GET" in retry.allowed_methods and "PUT" in retry.allowed_methods
    assert "POST" not in retry.allowed_methods and "PATCH" not in retry.allowed_methods


def test_service_tokens_are_reused_per_caller_and_service_then_renewed(monkeypatch):
    clients._token_cache.clear()
    secret = "s" * 40
    parent = tokens.Caller(sub="u1", role="parent", family_id="f1")
    first = clients.service_token(parent, "identity", secret)
    assert clients.service_token(parent, "identity", secret) == first
    assert tokens.verify(first, "identity", secret) == parent
    # Another service or another caller never gets that token.
    assert clients.service_token(parent, "billing", secret) != first
    other = clients.service_token(tokens.Caller(sub="u2", role="parent"), "identity", secret)
    assert tokens.verify(other, "identity", secret).sub == "u2"
    # Past half its life, a new one is minted (the old one still has 30 s left when replaced).
    later = clients.time.monotonic() + clients.TOKEN_REUSE_SECONDS + 1
    monkeypatch.setattr(clients.time, "monotonic", lambda: later)
    assert clients.service_token(parent, "identity", secret) != first


def test_internal_calls_ignore_proxies_from_the_environment(monkeypatch):
    """A proxy set for the container's outbound traffic must not capture calls to services."""
    import http.server
    import threading

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
        monkeypatch.setenv("NO_PROXY", "")
        resp = clients.make_session().get(f"http://127.0.0.1:{server.server_port}/", timeout=5)
        assert resp.status_code == 200 and resp.content == b"ok"
    finally:
        server.shutdown()


def test_pooled_sessions_are_made_once_per_name_with_their_options():
    probe = clients.pooled_session("test-probe", retries=False, pool_size=3)
    assert clients.pooled_session("test-probe") is probe
    adapter = probe.get_adapter("http://x")
    assert adapter.max_retries.total == 0 and adapter._pool_maxsize == 3
    assert clients.pooled_session("test-default").get_adapter("http://x").max_retries.total == 2


def test_a_service_token_is_not_reused_across_secrets():
    caller = tokens.Caller(sub="gateway", role="anonymous")
    first = clients.service_token(caller, "identity", "a" * 40)
    second = clients.service_token(caller, "identity", "b" * 40)
    assert tokens.verify(second, "identity", "b" * 40).sub == "gateway" and first != second
