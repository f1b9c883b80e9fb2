"""Back-channel logout survives a failing relying party and a restart of identity's worker
(real PostgreSQL and RabbitMQ): the request is an outbox event, consumed and retried by the worker."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from servicekit.testing import wait_until

from identity.oidc.clients import ensure_client
from identity.oidc.testing import GW_REDIRECT, Browser, running_provider, verify
from identity.worker import create_worker

pytestmark = pytest.mark.integration

FAST_RETRIES = {"max_retries": 20, "retry_delays_ms": (200,)}


class FlakyGateway(BaseHTTPRequestHandler):
    """Answers 503 while `down` is set (a gateway restarting), 200 otherwise."""

    down = threading.Event()
    answers: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        status = 503 if type(self).down.is_set() else 200
        type(self).answers.append((status, parse_qs(body)["logout_token"][0]))
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def gateway():
    handler = type("Gateway", (FlakyGateway,), {"down": threading.Event(), "answers": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield handler, f"http://127.0.0.1:{server.server_address[1]}/auth/backchannel-logout"
    server.shutdown()
    server.server_close()


@pytest.fixture
def provider(pg_url, gateway):
    _, uri = gateway
    with running_provider(pg_url) as p:
        with p.db.transaction() as s:
            ensure_client(s, "gateway", "gateway-secret", "Espace Famille", [GW_REDIRECT], True,
                          backchannel_logout_uri=uri)
        yield p


class RunningWorker:
    def __init__(self, provider, amqp_url):
        settings = provider.settings.model_copy(update={"amqp_url": amqp_url})
        self.worker = create_worker(settings, provider.db, **FAST_RETRIES)
        self.thread = threading.Thread(target=self.worker.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        assert self.worker.ready.wait(30)
        return self

    def __exit__(self, *exc):
        self.worker.stop()
        self.thread.join(30)


def sign_out(provider) -> Browser:
    b = Browser(provider)
    tok = b.tokens()
    assert b.http.get("/oidc/end-session", query_string={"id_token_hint": tok["id_token"]}).status_code == 200
    return b


def delivered(answers) -> list[str]:
    return [token for status, token in answers if status == 200]


def test_a_gateway_down_at_logout_time_gets_the_logout_once_it_is_back(provider, gateway, amqp_vhost_url):
    answers, _ = gateway
    answers.down.set()
    with RunningWorker(provider, amqp_vhost_url):
        b = sign_out(provider)
        wait_until(lambda: len(answers.answers) >= 2, timeout=30)  # refused, then tried again
        answers.down.clear()
        [token] = wait_until(lambda: delivered(answers.answers), timeout=30)
    claims = verify(provider, token, "gateway")
    assert claims["sid"] == b.sid and claims["sub"] == b.user.sub
    assert all(status == 503 for status, _ in answers.answers[:-1])


def test_a_restart_of_identity_loses_no_logout(provider, gateway, amqp_vhost_url):
    answers, _ = gateway
    # Identity's worker is not running when the user signs out (deploy, crash): the request waits
    # in the outbox, committed with the end of the session.
    b = sign_out(provider)
    answers.down.set()
    with RunningWorker(provider, amqp_vhost_url):
        wait_until(lambda: answers.answers, timeout=30)
    # Stopped while the message waits in its retry queue; the next worker delivers it.
    answers.down.clear()
    with RunningWorker(provider, amqp_vhost_url):
        [token] = wait_until(lambda: delivered(answers.answers), timeout=30)
    assert verify(provider, token, "gateway")["sid"] == b.sid
