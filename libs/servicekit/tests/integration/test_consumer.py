import json
import threading
import time
import uuid

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from contracts.envelope import Envelope
from servicekit import context
from servicekit.messaging import dlq
from servicekit.messaging.outbox import add_event
from servicekit.messaging.tables import inbox
from servicekit.messaging.worker import Worker
from servicekit.testing import wait_until
from sk_messaging_helpers import (ThingCreated, children, count_effects, effects, parents, running, settings_for,
                                  switches, things, unique_service)

pytestmark = pytest.mark.integration

FAST_RETRIES = dict(max_retries=2, retry_delays_ms=(100, 200))


def consumed(service, queue, outcome):
    return REGISTRY.get_sample_value("events_consumed_total",
                                     {"service": service, "consumer": queue, "outcome": outcome}) or 0


def record_effect(session, envelope):
    session.execute(effects.insert().values(consumer="record", event_id=envelope.id,
                                            correlation_id=context.get_correlation_id()))


def emit(db, source, name="x", correlation_id=None):
    thing_id = str(uuid.uuid4())
    with db.transaction() as s:
        s.execute(things.insert().values(id=thing_id, name=name))
        return add_event(s, source, ThingCreated(thing_id=thing_id, name=name), correlation_id=correlation_id)


def test_event_flows_from_commit_to_handler_with_its_correlation_id(database, pg_database_2, module_vhost_url):
    producer_name, consumer_name = unique_service("prod"), unique_service("cons")
    producer = Worker(settings_for(producer_name, database, module_vhost_url), database)
    consumer = Worker(settings_for(consumer_name, pg_database_2, module_vhost_url), pg_database_2)
    consumer.handler(producer_name, ThingCreated.EVENT_TYPE, "record")(record_effect)
    assert consumer.queues == [f"{consumer_name}.record"]

    with running(consumer), running(producer):
        envelope = emit(database, producer_name, correlation_id="journey-42")
        wait_until(lambda: count_effects(pg_database_2, envelope.id) == 1)
    with pg_database_2.read() as s:
        assert s.execute(sa.select(effects.c.correlation_id)).scalar_one() == "journey-42"
        assert s.execute(sa.select(inbox.c.consumer, inbox.c.event_id)).all() == [(f"{consumer_name}.record", envelope.id)]
    assert consumed(consumer_name, f"{consumer_name}.record", "ok") == 1


def test_ready_once_every_consumer_thread_consumes_and_said_so(pg_database, module_vhost_url, caplog, monkeypatch):
    """A fixture yields as soon as `ready` is set: a consumer thread still starting (logging) then
    would write into pytest's log capture of a finished phase ("I/O operation on closed file")."""
    from servicekit.messaging import consumer

    first, connect = threading.Event(), consumer.connect

    def slow_after_the_first(url):  # one thread connects at once, the others a moment later
        if first.is_set():
            time.sleep(0.5)
        first.set()
        return connect(url)

    monkeypatch.setattr(consumer, "connect", slow_after_the_first)
    worker = Worker(settings_for(unique_service(), pg_database, module_vhost_url), pg_database, consumer_threads=4)
    worker.handler("upstream", ThingCreated.EVENT_TYPE, "record")(record_effect)
    with caplog.at_level("INFO", logger="servicekit.messaging.consumer"), running(worker):
        said = [r for r in caplog.records if r.getMessage().startswith("consuming ")]
        assert len(said) == 4


def test_duplicate_delivery_has_one_effect(pg_database, broker, module_vhost_url):
    service = unique_service()
    worker = Worker(settings_for(service, pg_database, module_vhost_url), pg_database)
    worker.handler("upstream", ThingCreated.EVENT_TYPE, "record")(record_effect)
    queue = f"{service}.record"
    envelope = Envelope(type=ThingCreated.EVENT_TYPE, source="upstream", data={"thing_id": "t", "name": "n"})
    with running(worker):
        for _ in range(3):
            broker.publish_raw("upstream", ThingCreated.EVENT_TYPE, envelope.model_dump_json().encode(), envelope.id)
        wait_until(lambda: consumed(service, queue, "duplicate") == 2)
    assert count_effects(pg_database, envelope.id) == 1
    assert consumed(service, queue, "ok") == 1


def test_message_is_not_taken_as_processed_until_the_handler_committed(pg_database, broker, module_vhost_url):
    """The handler's insert violates a deferred foreign key: it fails at COMMIT, after the
    handler returned. The message must come back (retry), not be acked as done."""
    service = unique_service()
    worker = Worker(settings_for(service, pg_database, module_vhost_url), pg_database, **FAST_RETRIES)
    queue = f"{service}.adopt"

    @worker.handler("upstream", ThingCreated.EVENT_TYPE, "adopt")
    def adopt(session, envelope):
        session.execute(children.insert().values(parent_id=envelope.data["thing_id"]))

    envelope = Envelope(type=ThingCreated.EVENT_TYPE, source="upstream", data={"thing_id": "p1", "name": "n"})
    with running(worker):
        broker.publish_raw("upstream", ThingCreated.EVENT_TYPE, envelope.model_dump_json().encode(), envelope.id)
        wait_until(lambda: consumed(service, queue, "retried") >= 1)
        with pg_database.read() as s:
            assert s.execute(sa.select(sa.func.count()).select_from(children)).scalar_one() == 0
            assert s.execute(sa.select(sa.func.count()).select_from(inbox)).scalar_one() == 0
        with pg_database.transaction() as s:
            s.execute(parents.insert().values(id="p1"))
        wait_until(lambda: consumed(service, queue, "ok") == 1)
    with pg_database.read() as s:
        assert s.execute(sa.select(children.c.parent_id)).scalars().all() == ["p1"]


def test_failing_handler_is_retried_then_dead_lettered_then_replayed(database, broker, module_vhost_url):
    service = unique_service()
    worker = Worker(settings_for(service, database, module_vhost_url), database, **FAST_RETRIES)
    queue = f"{service}.fragile"
    calls = []
    with database.transaction() as s:
        s.execute(switches.insert().values(name="broken", on=True))

    @worker.handler("upstream", ThingCreated.EVENT_TYPE, "fragile")
    def fragile(session, envelope):
        calls.append(envelope.id)
        if session.execute(sa.select(switches.c.on).where(switches.c.name == "broken")).scalar_one():
            raise RuntimeError("downstream is broken")
        record_effect(session, envelope)

    envelope = Envelope(type=ThingCreated.EVENT_TYPE, source="upstream", data={"thing_id": "t", "name": "n"})
    with running(worker):
        broker.publish_raw("upstream", ThingCreated.EVENT_TYPE, envelope.model_dump_json().encode(), envelope.id)
        [letter] = wait_until(lambda: dlq.list_dead_letters(module_vhost_url, worker.queues), timeout=15)
        assert letter.queue == queue and letter.event_id == envelope.id
        assert letter.event_type == ThingCreated.EVENT_TYPE
        assert letter.retries == 2 and "downstream is broken" in letter.error and letter.failed_at
        assert calls == [envelope.id] * 3  # first delivery + 2 retries
        assert consumed(service, queue, "retried") == 2 and consumed(service, queue, "dead") == 1
        # Listing does not consume.
        assert len(dlq.list_dead_letters(module_vhost_url, worker.queues)) == 1

        with database.transaction() as s:
            s.execute(switches.update().values(on=False))
        assert dlq.main(["replay", "--id", envelope.id], worker.settings, worker.queues) == 0
        wait_until(lambda: count_effects(database, envelope.id) == 1)
    assert dlq.list_dead_letters(module_vhost_url, worker.queues) == []
    assert broker.depth(f"{queue}.dlq") == 0


def test_replay_selects_by_event_id_and_leaves_the_rest(pg_database, broker, module_vhost_url):
    service = unique_service()
    worker = Worker(settings_for(service, pg_database, module_vhost_url), pg_database, max_retries=0)

    @worker.handler("upstream", ThingCreated.EVENT_TYPE, "never")
    def never(session, envelope):
        raise ValueError("always fails")

    ids = []
    with running(worker):
        for _ in range(2):
            env = Envelope(type=ThingCreated.EVENT_TYPE, source="upstream", data={"thing_id": "t", "name": "n"})
            ids.append(env.id)
            broker.publish_raw("upstream", ThingCreated.EVENT_TYPE, env.model_dump_json().encode(), env.id)
        wait_until(lambda: len(dlq.list_dead_letters(module_vhost_url, worker.queues)) == 2)
    # Worker stopped: the replayed message waits in the consumer queue.
    replayed = dlq.replay(module_vhost_url, worker.queues, event_id=ids[1])
    assert [l.event_id for l in replayed] == [ids[1]]
    assert [l.event_id for l in dlq.list_dead_letters(module_vhost_url, worker.queues)] == [ids[0]]
    [message] = broker.get_all(f"{service}.never")
    assert message.properties["message_id"] == ids[1]
    assert message.headers["x-retries"] == 0 and "x-error" not in message.headers


def test_malformed_message_goes_straight_to_the_dead_letter_queue(pg_database, broker, module_vhost_url):
    service = unique_service()
    worker = Worker(settings_for(service, pg_database, module_vhost_url), pg_database)
    worker.handler("upstream", ThingCreated.EVENT_TYPE, "record")(record_effect)
    with running(worker):
        broker.publish_raw("upstream", ThingCreated.EVENT_TYPE, b"{not json", "bad-1")
        [letter] = wait_until(lambda: dlq.list_dead_letters(module_vhost_url, worker.queues))
    assert letter.event_id == "bad-1" and letter.error.startswith("malformed message")
    assert count_effects(pg_database) == 0


def test_dlq_cli_lists_for_operators(pg_database, broker, module_vhost_url, capsys):
    service = unique_service()
    worker = Worker(settings_for(service, pg_database, module_vhost_url), pg_database, max_retries=0)
    worker.handler("upstream", ThingCreated.EVENT_TYPE, "never")(lambda s, e: 1 / 0)
    env = Envelope(type=ThingCreated.EVENT_TYPE, source="upstream", data={"thing_id": "t", "name": "n"})
    with running(worker):
        broker.publish_raw("upstream", ThingCreated.EVENT_TYPE, env.model_dump_json().encode(), env.id)
        wait_until(lambda: dlq.list_dead_letters(module_vhost_url, worker.queues))
    capsys.readouterr()
    assert dlq.main(["list"], worker.settings, worker.queues) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["QUEUE", "EVENT", "ID", "TYPE", "RETRIES", "FAILED", "AT", "ERROR"]
    assert env.id in out and "ZeroDivisionError" in out and "1 dead letter(s)" in out
    assert dlq.main(["replay", "--queue", "nope"], worker.settings, worker.queues) == 2


def test_handler_events_commit_atomically_with_the_inbox(database, module_vhost_url):
    """A handler that emits its own event: both land together (and the relay sends it)."""
    service = unique_service()
    worker = Worker(settings_for(service, database, module_vhost_url), database)

    @worker.handler(service, ThingCreated.EVENT_TYPE, "echo")
    def echo(session, envelope):
        if envelope.data["name"] == "first":
            add_event(session, service, ThingCreated(thing_id="t2", name="second"), causation_id=envelope.id)
        record_effect(session, envelope)

    with running(worker):
        first = emit(database, service, name="first")
        wait_until(lambda: count_effects(database) == 2)
    with database.read() as s:
        rows = [json.loads(b) for b in s.execute(sa.select(sa.text("body")).select_from(sa.text("outbox"))).scalars()]
    assert [r["data"]["name"] for r in rows] == ["first", "second"]
    assert rows[1]["causation_id"] == first.id


def test_jobs_run_repeatedly_and_survive_exceptions(database, module_vhost_url):
    worker = Worker(settings_for(unique_service(), database, module_vhost_url), database)
    ticks = {"good": 0, "bad": 0}

    @worker.every(0.02, name="good")
    def good(db):
        ticks["good"] += 1

    @worker.every(0.02, name="bad")
    def bad(db):
        ticks["bad"] += 1
        raise RuntimeError("job bug")

    with running(worker):
        wait_until(lambda: ticks["good"] >= 3 and ticks["bad"] >= 3)


def test_jobs_never_overlap_across_replicas_on_postgres(pg_database, module_vhost_url):
    service = unique_service()
    active, overlaps, runs = [], [], []
    lock = threading.Lock()

    def job(db):
        with lock:
            active.append(1)
            if len(active) > 1:
                overlaps.append(1)
        with db.read() as s:
            s.execute(sa.text("SELECT pg_sleep(0.02)"))
        with lock:
            active.pop()
            runs.append(1)

    replicas = [Worker(settings_for(service, pg_database, module_vhost_url), pg_database) for _ in range(3)]
    for w in replicas:
        w.every(0.005, name="exclusive")(job)
    with running(replicas[0]), running(replicas[1]), running(replicas[2]):
        wait_until(lambda: len(runs) >= 15)
    assert overlaps == []


def test_a_failing_message_in_a_batch_only_undoes_its_own_savepoint(database, broker, module_vhost_url):
    service = unique_service()
    queue = f"{service}.picky"

    def picky(session, envelope):
        record_effect(session, envelope)  # written, then undone for the bad one
        if envelope.data["name"] == "bad":
            raise ValueError("bad thing")

    def new_worker():  # a Worker runs once
        worker = Worker(settings_for(service, database, module_vhost_url), database, max_retries=0)
        worker.handler("upstream", ThingCreated.EVENT_TYPE, "picky")(picky)
        return worker

    with running(new_worker()):
        pass  # declares the queue; the messages below wait in it, so they arrive as one batch
    envelopes = [Envelope(type=ThingCreated.EVENT_TYPE, source="upstream", data={"thing_id": str(i), "name": name})
                 for i, name in enumerate(["a", "b", "bad", "c", "d"])]
    for env in envelopes:
        broker.publish_raw("upstream", ThingCreated.EVENT_TYPE, env.model_dump_json().encode(), env.id)
    wait_until(lambda: broker.depth(queue) == 5)
    with running(new_worker()):
        wait_until(lambda: consumed(service, queue, "ok") == 4 and consumed(service, queue, "dead") == 1)
    assert sorted(count_effects(database, e.id) for e in envelopes) == [0, 1, 1, 1, 1]
    assert count_effects(database, envelopes[2].id) == 0
    [letter] = dlq.list_dead_letters(module_vhost_url, [queue])
    assert letter.event_id == envelopes[2].id and "bad thing" in letter.error
