"""The operators' messaging commands, run as operators run them: `python -m <service> dlq ...`
in a subprocess, against a real RabbitMQ vhost (and `outbox ...` against a real database)."""
from __future__ import annotations

import importlib
import os
import subprocess
import sys

import amqp
import pytest

from servicekit.messaging.broker import close_quietly, connect
from servicekit.messaging.consumer import declare_topology
from servicekit.messaging.retries import ERROR_HEADER, FAILED_AT_HEADER, RETRIES_HEADER

pytestmark = pytest.mark.integration

# `python -m <package>` of every service that has a worker
SERVICES_WITH_WORKERS = ("billing", "booking", "demandes", "identity", "notify")


def run_cli(package: str, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", package, *args], env=env, capture_output=True, text=True,
                          timeout=120)


def cli_env(tmp_path, amqp_url: str, database_url: str | None = None) -> dict:
    env = {**os.environ, "AMQP_URL": amqp_url, "EF_VAR_DIR": str(tmp_path), "LOG_FORMAT": "text"}
    env.pop("DATABASE_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def service_worker(package: str, amqp_url: str, tmp_path, monkeypatch):
    """The service's real worker (its handlers and queues), built in this process as its
    `__main__` builds it, configured for the test vhost."""
    from servicekit.cli import load_object

    monkeypatch.setenv("AMQP_URL", amqp_url)
    monkeypatch.setenv("EF_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    factory = load_object(importlib.import_module(f"{package}.__main__").COMMANDS.worker_factory)
    _clear_cached_settings(factory)
    try:
        return factory()
    finally:
        _clear_cached_settings(factory)  # later tests in this process get their own settings


def _clear_cached_settings(factory) -> None:
    for value in list(factory.__globals__.values()):
        if callable(getattr(value, "cache_clear", None)):
            value.cache_clear()


def dead_letter(channel, queue: str, event_id: str, error: str = "RuntimeError: boom") -> None:
    body = ('{"id": "%s", "type": "family.registered.v1"}' % event_id).encode()
    channel.basic_publish(amqp.Message(body, content_type="application/json", delivery_mode=2, message_id=event_id,
                                       application_headers={RETRIES_HEADER: 5, ERROR_HEADER: error,
                                                            FAILED_AT_HEADER: "2026-12-01T10:00:00+00:00"}),
                          exchange="", routing_key=f"{queue}.dlq")


@pytest.fixture
def vhost(amqp_vhost_url):
    conn = connect(amqp_vhost_url)
    channel = conn.channel()
    # Publisher confirms: each dead_letter() returns once RabbitMQ has the message, so what a test
    # reads next (a queue's message count) sees it (without them, 11 of 20 were counted once).
    channel.confirm_select()
    yield amqp_vhost_url, channel
    close_quietly(conn)


@pytest.mark.parametrize("package", SERVICES_WITH_WORKERS)
def test_dlq_list_runs_for_every_service(package, vhost, tmp_path, monkeypatch):
    url, channel = vhost
    worker = service_worker(package, url, tmp_path, monkeypatch)
    assert worker.queues, f"{package} has no consumer queue to test"
    declare_topology(channel, worker.handlers, worker.policy)
    dead_letter(channel, worker.queues[0], "ev-1")

    result = run_cli(package, cli_env(tmp_path, url), "dlq", "list")
    assert result.returncode == 0, result.stderr
    assert "ev-1" in result.stdout and "RuntimeError: boom" in result.stdout
    assert f"1 dead letter(s) in {len(worker.queues)} queue(s)" in result.stdout


def test_dlq_list_pages_and_replay_sends_back(vhost, tmp_path, monkeypatch):
    url, channel = vhost
    worker = service_worker("booking", url, tmp_path, monkeypatch)
    declare_topology(channel, worker.handlers, worker.policy)
    queue = worker.queues[0]
    ids = [f"ev-{i:02d}" for i in range(7)]
    for event_id in ids:
        dead_letter(channel, queue, event_id)
    env = cli_env(tmp_path, url)

    page = run_cli("booking", env, "dlq", "list", "--limit", "3", "--offset", "2")
    assert page.returncode == 0, page.stderr
    shown = [i for i in ids if i in page.stdout]
    assert shown == ids[2:5]
    assert "dead letter(s) 3 to 5 of 7" in page.stdout

    replayed = run_cli("booking", env, "dlq", "replay", "--queue", queue, "--id", "ev-04")
    assert replayed.returncode == 0, replayed.stderr
    assert "1 dead letter(s) replayed" in replayed.stdout
    assert channel.queue_declare(f"{queue}.dlq", passive=True).message_count == 6
    message = channel.basic_get(queue, no_ack=True)
    assert message.properties["message_id"] == "ev-04" and message.headers[RETRIES_HEADER] == 0

    capped = run_cli("booking", env, "dlq", "replay", "--limit", "2")
    assert capped.returncode == 0, capped.stderr
    assert "2 dead letter(s) replayed" in capped.stdout
    assert channel.queue_declare(f"{queue}.dlq", passive=True).message_count == 4


def test_dlq_rejects_bad_paging_with_a_clear_message(vhost, tmp_path):
    url, _channel = vhost
    result = run_cli("booking", cli_env(tmp_path, url), "dlq", "list", "--limit", "0")
    assert result.returncode == 2
    assert "--limit" in result.stderr and "Traceback" not in result.stderr


def test_outbox_parked_and_replay_parked(pg_url, tmp_path):
    from datetime import datetime, timezone

    import sqlalchemy as sa

    from contracts.envelope import Envelope
    from servicekit import migrations
    from servicekit.db import Database
    from servicekit.messaging.tables import outbox

    commands = importlib.import_module("booking.__main__").COMMANDS
    migrations.upgrade(commands.migrations_dir, pg_url)
    db = Database(pg_url)
    now = datetime.now(timezone.utc)
    ids = []
    with db.transaction() as s:
        for i in range(3):
            env = Envelope(type="booking.thing.v1", source="booking", data={"i": i})
            ids.append(env.id)
            s.execute(outbox.insert().values(event_id=env.id, exchange="booking.events", routing_key=env.type,
                                             body=env.model_dump_json(), created_at=now, attempts=20,
                                             last_error="unroutable: NO_ROUTE", parked_at=now))
    db.dispose()
    env = cli_env(tmp_path, "amqp://guest:guest@127.0.0.1:1//", pg_url)  # no broker needed

    status = run_cli("booking", env, "outbox", "status")
    assert status.returncode == 0, status.stderr
    assert "pending: 0" in status.stdout and "parked: 3" in status.stdout
    page = run_cli("booking", env, "outbox", "parked", "--limit", "2")
    assert page.returncode == 0, page.stderr
    assert [i for i in ids if i in page.stdout] == ids[:2]
    assert "unroutable: NO_ROUTE" in page.stdout and "1 to 2 of 3" in page.stdout

    replay = run_cli("booking", env, "outbox", "replay-parked", "--id", ids[1], "--id", "nope")
    assert replay.returncode == 1  # one of the ids was not parked: said so
    assert "1 parked event(s) made pending again" in replay.stdout and "nope" in replay.stderr
    engine = sa.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        rows = {r.event_id: r for r in conn.execute(sa.select(outbox))}
    engine.dispose()
    assert rows[ids[1]].parked_at is None and rows[ids[1]].attempts == 0
    assert rows[ids[0]].parked_at is not None and rows[ids[2]].parked_at is not None

    everything = run_cli("booking", env, "outbox", "replay-parked", "--all")
    assert everything.returncode == 0 and "2 parked event(s)" in everything.stdout
    assert "parked: 0" in run_cli("booking", env, "outbox", "status").stdout


def test_outbox_replay_needs_a_choice(tmp_path):
    result = run_cli("booking", cli_env(tmp_path, "amqp://guest:guest@127.0.0.1:1//"), "outbox", "replay-parked")
    assert result.returncode == 2 and "--id" in result.stderr and "Traceback" not in result.stderr


def test_a_page_reads_only_offset_plus_limit_messages_and_consumes_none(vhost, monkeypatch):
    from servicekit.messaging import dlq

    url, channel = vhost
    queues = ["svc.first", "svc.second"]
    for queue in queues:
        channel.queue_declare(f"{queue}.dlq", durable=True, auto_delete=False)
    for i in range(20):
        dead_letter(channel, queues[i % 2], f"ev-{i:02d}")
    gets = []
    real_get = amqp.Channel.basic_get
    monkeypatch.setattr(amqp.Channel, "basic_get", lambda self, *a, **kw: gets.append(1) or real_get(self, *a, **kw))

    letters, total = dlq.page_dead_letters(url, queues, limit=4, offset=12)
    assert total == 20
    # The first queue (10 letters) is skipped without reading it; 2 skipped then 4 read in the second.
    assert [(l.queue, l.event_id) for l in letters] == [("svc.second", f"ev-{i:02d}") for i in (5, 7, 9, 11)]
    assert len(gets) == 6
    assert [channel.queue_declare(f"{q}.dlq", passive=True).message_count for q in queues] == [10, 10]


def test_outbox_of_a_component_without_one_says_so(tmp_path):
    result = run_cli("gateway", cli_env(tmp_path, "amqp://guest:guest@127.0.0.1:1//"), "outbox", "status")
    assert result.returncode == 2 and "gateway has no outbox" in result.stderr and "Traceback" not in result.stderr
