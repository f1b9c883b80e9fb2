"""servicekit.clients.InternalClient against a real HTTP server on loopback: the token it sends,
what comes back, and every way the other service can fail to answer (Unreachable)."""
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from servicekit import context, tokens
from servicekit.clients import InternalClient, Unreachable

SECRET = "s" * 40


class Handler(BaseHTTPRequestHandler):
    answers: dict = {}
    seen: list = []

    def do_GET(self):  # noqa: N802
        Handler.seen.append((self.path, dict(self.headers)))
        status, body, delay = Handler.answers.get(self.path.split("?")[0], (404, {"detail": "Introuvable"}, 0))
        time.sleep(delay)
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            pass

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def client(url: str, **kw) -> InternalClient:
    return InternalClient(url, "requests", SECRET, "booking", **kw)


def test_asks_as_the_platform_with_a_token_for_the_called_service(server):
    Handler.answers["/internal/thing"] = (200, {"complete": True}, 0)
    token = context.set_correlation_id("corr-42")
    try:
        status, body = client(server).get("/internal/thing", params={"a": "1 2"})
    finally:
        context.reset_correlation_id(token)
    assert (status, body) == (200, {"complete": True})
    path, headers = Handler.seen[-1]
    assert path == "/internal/thing?a=1+2" and headers[context.HEADER] == "corr-42"
    caller = tokens.verify(headers["Authorization"].removeprefix("Bearer "), "requests", SECRET)
    assert (caller.sub, caller.role) == ("booking", "system")


def test_a_refusal_the_caller_can_act_on_comes_back(server):
    Handler.answers["/internal/refused"] = (404, {"detail": "Ce dossier est introuvable."}, 0)
    assert client(server).get("/internal/refused") == (404, {"detail": "Ce dossier est introuvable."})


@pytest.mark.parametrize("status", [500, 503, 401])
def test_a_failing_service_or_a_refused_token_is_unreachable(server, status):
    Handler.answers["/internal/failing"] = (status, {"detail": "x"}, 0)
    with pytest.raises(Unreachable):
        client(server).get("/internal/failing")


def test_a_slow_service_is_unreachable_after_the_read_timeout(server):
    Handler.answers["/internal/slow"] = (200, {}, 1.0)
    started = time.monotonic()
    with pytest.raises(Unreachable):
        client(server, read_timeout=0.2).get("/internal/slow")
    assert time.monotonic() - started < 0.9  # no retry of a read that timed out


def test_an_answer_without_json_is_unreachable(server):
    Handler.answers["/internal/html"] = (200, b"<html>proxy error</html>", 0)
    with pytest.raises(Unreachable):
        client(server).get("/internal/html")


def test_nobody_listening_is_unreachable():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(Unreachable):
        client(f"http://127.0.0.1:{port}", connect_timeout=0.5).get("/internal/anything")
