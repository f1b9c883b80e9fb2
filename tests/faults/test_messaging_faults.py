"""Reliable messaging under faults, across real processes, PostgreSQL and RabbitMQ."""
from __future__ import annotations

import subprocess
import sys

import pytest

import faultapp
from broker_control import FAULTAPP, broker_accepts_connections, rabbitmqctl, restore_broker
from contracts.envelope import Envelope
from servicekit.messaging import dlq
from servicekit.messaging.broker import close_quietly, connect, events_exchange
from servicekit.testing import wait_until

pytestmark = pytest.mark.integration


def test_worker_killed_between_broker_confirm_and_marking_delivers_once_after_restart(services):
    services.start_consumer()
    producer = services.process("producer").start(SERVICEKIT_FAULT="relay_crash_after_publish")
    envelope = faultapp.make_change(services.producer_db, services.producer_name, "crash")

    assert producer.popen.wait(30) == 137
    assert services.outbox_row(envelope.id).published_at is None  # the crash left it unmarked
    wait_until(lambda: services.effects(envelope.id) == 1, timeout=20)  # the confirmed copy arrived

    services.process("producer").start()  # restarted without the fault: publishes the row again
    wait_until(lambda: services.outbox_row(envelope.id).published_at is not None, timeout=20)
    consumer_log = lambda: next(p for p in services.processes if p.role == "consumer").log()
    wait_until(lambda: f"duplicate event {envelope.id}" in consumer_log(), timeout=20)
    assert services.effects(envelope.id) == 1


def test_change_accepted_while_broker_is_down_is_delivered_when_it_returns(services):
    services.start_consumer()
    producer = services.process("producer").start()
    warm_up = faultapp.make_change(services.producer_db, services.producer_name, "before")
    wait_until(lambda: services.effects(warm_up.id) == 1, timeout=20)

    rabbitmqctl("stop_app")
    try:
        assert not broker_accepts_connections()
        envelope = faultapp.make_change(services.producer_db, services.producer_name, "during outage")
        assert services.outbox_row(envelope.id).published_at is None  # committed, waiting
        wait_until(lambda: "outbox relay: broker unavailable" in producer.log(), timeout=20)
    finally:
        restore_broker()

    wait_until(lambda: services.effects(envelope.id) == 1, timeout=60)
    assert services.outbox_row(envelope.id).published_at is not None
    assert services.effects(warm_up.id) == 1


def test_always_failing_handler_is_retried_dead_lettered_and_replayed_with_the_cli(services):
    with services.consumer_db.transaction() as s:
        s.execute(faultapp.switches.insert().values(name="broken", on=True))
    services.start_consumer()
    services.process("producer").start()
    envelope = faultapp.make_change(services.producer_db, services.producer_name, "fragile", fragile=True)

    queues = [f"{services.consumer_name}.record", f"{services.consumer_name}.fragile"]
    [letter] = wait_until(lambda: dlq.list_dead_letters(services.amqp_url, queues), timeout=30)
    assert letter.event_id == envelope.id and letter.queue == f"{services.consumer_name}.fragile"
    assert letter.retries == 2 and "downstream system is broken" in letter.error
    assert services.effects(envelope.id, "fragile") == 0

    with services.consumer_db.transaction() as s:
        s.execute(faultapp.switches.update().values(on=False))
    env = {**services.base_env, "FAULT_SERVICE": services.consumer_name, "DATABASE_URL": services.consumer_db.url}
    listing = subprocess.run([sys.executable, str(FAULTAPP), "dlq", "list"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    assert envelope.id in listing.stdout and "1 dead letter(s)" in listing.stdout
    replay = subprocess.run([sys.executable, str(FAULTAPP), "dlq", "replay", "--id", envelope.id], env=env,
                            capture_output=True, text=True, timeout=60)
    assert replay.returncode == 0, replay.stderr
    assert "1 dead letter(s) replayed" in replay.stdout

    wait_until(lambda: services.effects(envelope.id, "fragile") == 1, timeout=20)
    assert dlq.list_dead_letters(services.amqp_url, queues) == []


def test_same_event_delivered_twice_has_one_effect(services):
    consumer = services.start_consumer()
    envelope = Envelope(type=faultapp.ChangeMade.EVENT_TYPE, source=services.producer_name,
                        data={"change_id": "c-1", "label": "twice"})
    conn = connect(services.amqp_url)
    try:
        channel = conn.channel()
        exchange = events_exchange(services.producer_name)(channel)
        for _ in range(2):
            message = channel.prepare_message(envelope.model_dump_json().encode(), content_type="application/json",
                                              content_encoding="utf-8",
                                              properties={"message_id": envelope.id, "delivery_mode": 2})
            exchange.publish(message, routing_key=envelope.type)
    finally:
        close_quietly(conn)

    wait_until(lambda: f"duplicate event {envelope.id}" in consumer.log(), timeout=20)
    assert services.effects(envelope.id) == 1
