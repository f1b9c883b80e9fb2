"""The database seen from a web request (ADR 0007): a slow query must not stall the other
requests of the process; a lost connection is a 503 to retry, not a 500.

Async operations run their database work with `Database.run_read` / `run_write`, in a worker
thread: while one request waits on a 1.5 s query, the event loop keeps answering the others.
Shown on real PostgreSQL through a real uvicorn server with ONE worker process: the fast
requests sent after the slow one all come back before it.
"""
from __future__ import annotations

import socket
import textwrap
import threading
import time

import pytest
import requests
import sqlalchemy as sa
import uvicorn

from servicekit.db import Database
from servicekit.settings import ServiceSettings, load
from servicekit.web import create_app, state

pytestmark = pytest.mark.integration

SPEC = textwrap.dedent("""
    openapi: 3.0.3
    info: {title: probe, version: "1"}
    paths:
      /internal/slow:
        get:
          operationId: slow
          responses: {"200": {description: ok}}
      /internal/fast:
        get:
          operationId: fast
          responses: {"200": {description: ok}}
""")


def _sleep(session, seconds):
    return session.execute(sa.text("SELECT pg_sleep(:s)"), {"s": seconds}).scalar()


def _one(session):
    return session.execute(sa.text("SELECT 1")).scalar()


async def slow():
    await state()["db"].run_read(_sleep, 1.5)
    return {"done": time.monotonic()}


async def fast():
    return {"value": await state()["db"].run_read(_one), "done": time.monotonic()}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path, pg_url):
    (tmp_path / "openapi.yaml").write_text(SPEC)
    settings = load(ServiceSettings, "probe", env={"EF_VAR_DIR": str(tmp_path), "DATABASE_URL": pg_url,
                                                   "AMQP_URL": "amqp://guest:guest@127.0.0.1:1//"})
    db = Database(settings.database_url)
    app = create_app(settings, db, tmp_path / "openapi.yaml", __name__)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", workers=1))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)
    db.dispose()


def test_fast_requests_are_answered_while_a_slow_query_runs(server):
    results: dict = {}

    def call_slow():
        results["slow"] = requests.get(f"{server}/internal/slow", timeout=30).json()["done"]

    slow_thread = threading.Thread(target=call_slow)
    slow_thread.start()
    time.sleep(0.3)  # the slow request is in its query now
    fast_done = []
    for _ in range(5):
        reply = requests.get(f"{server}/internal/fast", timeout=30)
        assert reply.status_code == 200 and reply.json()["value"] == 1
        fast_done.append(reply.json()["done"])
    slow_thread.join(30)
    # Every fast request finished while the slow one was still waiting on its query.
    assert max(fast_done) < results["slow"]


async def broken():
    await state()["db"].run_read(_terminate_own_connection)


def _terminate_own_connection(session):
    # The server ends this very connection, as a PostgreSQL restart would.
    session.execute(sa.text("SELECT pg_terminate_backend(pg_backend_pid())"))


def test_a_lost_database_connection_is_a_503_then_the_next_request_works(tmp_path, pg_url):
    spec = SPEC + textwrap.indent(textwrap.dedent("""
        /internal/broken:
          get:
            operationId: broken
            responses: {"200": {description: ok}}
    """), "  ")
    (tmp_path / "openapi.yaml").write_text(spec)
    settings = load(ServiceSettings, "probe", env={"EF_VAR_DIR": str(tmp_path), "DATABASE_URL": pg_url,
                                                   "AMQP_URL": "amqp://guest:guest@127.0.0.1:1//"})
    db = Database(settings.database_url)
    client = create_app(settings, db, tmp_path / "openapi.yaml", __name__).test_client()
    reply = client.get("/internal/broken")
    assert reply.status_code == 503
    assert reply.headers["content-type"].startswith("application/problem+json")
    assert "indisponible" in reply.json()["detail"]
    assert client.get("/internal/fast").json()["value"] == 1
    db.dispose()
