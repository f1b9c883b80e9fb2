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


# --- JSON calls through urllib3's pool (no requests on the hot path) -------------------------------
class _Recorder:
    """A loopback HTTP server answering from a queue of (status, content type, body), recording
    each request (method, path, headers, body)."""

    def __init__(self):
        import http.server
        import threading

        recorder = self
        self.seen: list[tuple[str, str, dict, bytes]] = []
        self.answers: list[tuple[int, str, bytes]] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                recorder.seen.append((self.command, self.path, dict(self.headers), body))
                status, content_type, payload = recorder.answers.pop(0) if recorder.answers else (200, "", b"")
                self.send_response(status)
                if content_type:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def client(self, base_path: str = "") -> clients.ServiceClient:
        session = requests.Session()

        def no_requests(*args, **kwargs):
            raise AssertionError("a JSON call went through requests")

        session.request = no_requests
        return clients.ServiceClient("booking", self.url + base_path, "s" * 40, session,
                                     clients.json_pool(self.url + base_path))


@pytest.fixture
def recorder():
    server = _Recorder()
    yield server
    server.server.shutdown()
    server.server.server_close()


PARENT_CALLER = tokens.Caller(sub="u1", role="parent", family_id="f1")


def test_a_json_call_goes_through_the_pool_with_token_body_and_query(recorder):
    from servicekit import context

    recorder.answers.append((200, "application/json", b'{"id": "cart-1", "lines": []}'))
    token = context.set_correlation_id("cid-123")
    try:
        answer = recorder.client("/base").post("/internal/parent/cart/lines", caller=PARENT_CALLER,
                                               params={"a": ["1", "2"], "b": None, "c": "é"},
                                               json={"lines": [{"date": "2027-01-04"}]}, idempotency_key="k" * 20)
    finally:
        context.reset_correlation_id(token)
    assert answer == {"id": "cart-1", "lines": []}
    method, path, headers, body = recorder.seen[0]
    assert (method, path) == ("POST", "/base/internal/parent/cart/lines?a=1&a=2&c=%C3%A9")
    assert headers["Content-Type"] == "application/json" and headers["Idempotency-Key"] == "k" * 20
    assert headers[context.HEADER] == "cid-123" and headers["Accept"] == "application/json"
    assert tokens.verify(headers["Authorization"].removeprefix("Bearer "), "booking", "s" * 40) == PARENT_CALLER
    assert body == b'{"lines": [{"date": "2027-01-04"}]}'


def test_a_json_call_without_body_or_answer(recorder):
    assert recorder.client().post("/internal/parent/cart/validate", caller=PARENT_CALLER) is None
    method, _path, headers, body = recorder.seen[0]
    assert method == "POST" and headers["Content-Length"] == "0" and body == b""


@pytest.mark.parametrize("params", [{"per_page": 200, "q": "a b&c", "none": None}, [("k", "1"), ("k", "2")],
                                    {"list": ["x", None, "y"], "n": 0}, "raw=1&b=2"])
def test_query_strings_are_encoded_as_requests_encodes_them(params):
    expected = requests.Request("GET", "http://x/p", params=params).prepare().url.partition("?")[2]
    assert clients.query_string(params) == expected


def test_json_call_errors_keep_the_remote_errors_table(recorder):
    recorder.answers.append((422, "application/problem+json",
                             b'{"detail": "Date invalide.", "errors": {"date": "Format AAAA-MM-JJ."}}'))
    with pytest.raises(clients.ServiceError) as exc:
        recorder.client().post("/internal/x", caller=PARENT_CALLER, json={})
    assert (exc.value.status, exc.value.detail, exc.value.errors) == (422, "Date invalide.", {"date": "Format AAAA-MM-JJ."})
    recorder.answers.append((200, "text/html", b"<html>"))
    with pytest.raises(clients.ServiceUnavailable):
        recorder.client().get("/internal/y", caller=PARENT_CALLER)


def test_json_calls_retry_a_503_for_idempotent_methods_only(recorder):
    recorder.answers.extend([(503, "", b""), (200, "application/json", b"[]")])
    assert recorder.client().get("/internal/read", caller=PARENT_CALLER) == []
    assert len(recorder.seen) == 2
    recorder.answers.extend([(503, "", b""), (200, "application/json", b"[]")])
    with pytest.raises(clients.ServiceUnavailable):
        recorder.client().post("/internal/write", caller=PARENT_CALLER, json={})
    assert len(recorder.seen) == 3  # the POST was sent once


def test_json_call_to_a_closed_port_is_unavailable_and_proxies_are_ignored(monkeypatch, recorder):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "")
    assert recorder.client().get("/internal/read", caller=PARENT_CALLER) is None
    closed = clients.ServiceClient("booking", "http://127.0.0.1:9", "s" * 40, requests.Session(),
                                   clients.json_pool("http://127.0.0.1:9"))
    with pytest.raises(clients.ServiceUnavailable):
        closed.get("/internal/read", caller=PARENT_CALLER, timeout=(0.5, 0.5))


def test_files_and_raw_answers_still_go_through_requests(recorder):
    client = recorder.client()
    sent = []
    answers = [response(200, b"%PDF", "application/pdf"), response(201, b'{"id": "d1"}', "application/json")]
    client.session.request = lambda method, url, **kwargs: sent.append((method, url)) or answers.pop(0)
    assert client.get("/internal/doc.pdf", caller=PARENT_CALLER, raw=True).content == b"%PDF"
    assert client.post("/internal/docs", caller=PARENT_CALLER, data={"a": "b"},
                       files=[("file", ("a.txt", b"x", "text/plain"))]) == {"id": "d1"}
    assert [m for m, _u in sent] == ["GET", "POST"] and recorder.seen == []


def test_the_services_clients_use_the_json_pool(flask_app):
    with flask_app.app_context():
        booking = clients.booking()
    assert booking.pool is clients.json_pool(flask_app.config["SERVICE_SETTINGS"].booking_url)
