"""`wait-queues`: a worker's start gate (k8s initContainer) until every consumer queue exists."""
import uuid

import pytest

from servicekit.messaging import queue_wait
from servicekit.messaging.broker import close_quietly, connect

pytestmark = pytest.mark.integration


def test_waits_until_every_named_queue_is_declared_and_creates_none(module_vhost_url):
    names = [f"wq{uuid.uuid4().hex[:8]}.{n}" for n in ("a", "b")]
    assert queue_wait.missing_queues(module_vhost_url, names) == names  # checking declared nothing
    conn = connect(module_vhost_url)
    try:
        conn.channel().queue_declare(names[0], durable=True, auto_delete=False)
        assert queue_wait.missing_queues(module_vhost_url, names) == names[1:]
        ticks = iter(range(100))
        declared_later = []

        def sleep(_seconds):  # the other service's migrate declares its queue meanwhile
            if not declared_later:
                conn.channel().queue_declare(names[1], durable=True, auto_delete=False)
                declared_later.append(names[1])

        assert queue_wait.wait_for_queues(module_vhost_url, names, timeout=10, clock=lambda: next(ticks),
                                          sleep=sleep) == []
        assert declared_later
    finally:
        close_quietly(conn)


def test_gives_up_after_the_timeout_saying_what_is_missing(module_vhost_url, capsys):
    name = f"wq{uuid.uuid4().hex[:8]}.never"
    ticks = iter([0, 1, 2, 3, 50, 100])
    assert queue_wait.wait_for_queues(module_vhost_url, [name], timeout=3, clock=lambda: next(ticks),
                                      sleep=lambda _s: None) == [name]
    assert queue_wait.main(module_vhost_url, f" {name},\n", timeout=0) == 1
    assert f"1 of 1 consumer queue(s) still missing after 0s" in capsys.readouterr().err
    assert queue_wait.main(module_vhost_url, "", timeout=0) == 2


def test_a_broker_away_counts_as_missing(capsys):
    assert queue_wait.wait_for_queues("amqp://guest:guest@127.0.0.1:1//", ["q"], timeout=0) == ["q"]
    assert "the broker did not answer" in capsys.readouterr().err
