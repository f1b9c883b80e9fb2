"""Consumers under load: batches in one transaction without savepoints, one inbox statement per
batch, one ack per batch, several consumer threads; payloads that do not validate go to the DLQ
at once (issue 7, defect 11)."""
import threading
import uuid

import psycopg
import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from contracts.envelope import Envelope
from servicekit.messaging import dlq, inbox
from servicekit.messaging.deferred import DEFERRED
from servicekit.messaging.worker import Worker
from servicekit.testing import wait_until
from sk_messaging_helpers import ThingCreated, children, count_effects, effects, make_database, parents, running, \
    settings_for, things, unique_service

pytestmark = pytest.mark.integration


def consumed(service, queue, outcome):
    return REGISTRY.get_sample_value("events_consumed_total",
                                     {"service": service, "consumer": queue, "outcome": outcome}) or 0


def thing(name="n", thing_id=None) -> Envelope:
    return Envelope(type=ThingCreated.EVENT_TYPE, source="upstream",
                    data={"thing_id": thing_id or str(uuid.uuid4()), "name": name})


def publish(broker, *envelopes: Envelope) -> None:
    for env in envelopes:
        broker.publish_raw("upstream", ThingCreated.EVENT_TYPE, env.model_dump_json().encode(), env.id)


def record(session, envelope):
    session.execute(effects.insert().values(consumer="record", event_id=envelope.id))


def queued_while_stopped(new_worker, broker, queue, envelopes):
    """Declare the queue with a first run, then queue `envelopes` so that they arrive together."""
    with running(new_worker()):
        pass
    publish(broker, *envelopes)
    wait_until(lambda: broker.depth(queue) == len(envelopes))


class StatementLog:
    """The SQL the consumer threads send, counted at psycopg's level (the inbox claims go through
    psycopg itself: servicekit.pg), and the commits of a database engine."""

    def __init__(self, db):
        self.statements: list[str] = []
        self.commits = 0
        self.engine = db.engine
        self._execute = execute = psycopg.Cursor.execute
        log = self

        def counted(cursor, query, *args, **kwargs):
            if "-consumers-" in threading.current_thread().name:
                log.statements.append(" ".join(str(query).split()).upper())
            return execute(cursor, query, *args, **kwargs)

        psycopg.Cursor.execute = counted
        sa.event.listen(self.engine, "commit", self._commit)

    def _commit(self, _conn):
        self.commits += 1

    def close(self):
        psycopg.Cursor.execute = self._execute
        sa.event.remove(self.engine, "commit", self._commit)


def test_messages_that_arrive_together_share_one_inbox_insert_and_commit_without_savepoints(
        pg_database, broker, module_vhost_url):
    service = unique_service()
    queue = f"{service}.record"

    def new_worker():
        worker = Worker(settings_for(service, pg_database, module_vhost_url), pg_database, prefetch=100,
                        consumer_threads=1)
        worker.handler("upstream", ThingCreated.EVENT_TYPE, "record")(record)
        return worker

    envelopes = [thing(str(i)) for i in range(40)]
    queued_while_stopped(new_worker, broker, queue, envelopes)
    worker = new_worker()
    log = StatementLog(worker.events_db)  # the consumers' connections
    try:
        with running(worker):
            wait_until(lambda: count_effects(pg_database) == 40)
    finally:
        log.close()
    inbox_inserts = [s for s in log.statements if s.startswith("INSERT INTO INBOX")]
    assert not [s for s in log.statements if s.startswith("SAVEPOINT")]
    assert 1 <= len(inbox_inserts) < 10  # one per batch, not one per message
    assert log.commits < 10
    assert broker.depth(queue) == 0  # every message acked (unacked ones come back when the worker stops)


def test_duplicates_inside_a_batch_and_already_processed_events_have_no_second_effect(
        pg_database, broker, module_vhost_url):
    service = unique_service()
    queue = f"{service}.record"

    def new_worker():
        worker = Worker(settings_for(service, pg_database, module_vhost_url), pg_database, consumer_threads=1)
        worker.handler("upstream", ThingCreated.EVENT_TYPE, "record")(record)
        return worker

    fresh = [thing(str(i)) for i in range(5)]
    seen_before = thing("old")
    with pg_database.transaction() as s:
        assert inbox.claim_many(s, [(queue, seen_before.id)]) == {(queue, seen_before.id)}
    twice = fresh[2]
    queued_while_stopped(new_worker, broker, queue, [*fresh, twice, seen_before, twice])
    with running(new_worker()):
        wait_until(lambda: consumed(service, queue, "duplicate") == 3 and consumed(service, queue, "ok") == 5)
    assert [count_effects(pg_database, e.id) for e in fresh] == [1] * 5
    assert count_effects(pg_database, seen_before.id) == 0
    assert broker.depth(queue) == 0


def test_a_batch_whose_commit_fails_is_split_until_only_the_culprit_is_retried(pg_database, broker, module_vhost_url):
    """Deferred foreign key: the fast path and the savepoint path both fail at COMMIT; each
    message then gets its own transaction and only the orphan goes to a delay queue."""
    service = unique_service()
    queue = f"{service}.adopt"
    with pg_database.transaction() as s:
        s.execute(parents.insert(), [{"id": "p1"}, {"id": "p2"}, {"id": "p3"}])

    def new_worker():
        worker = Worker(settings_for(service, pg_database, module_vhost_url), pg_database, max_retries=1,
                        retry_delays_ms=(60000,), consumer_threads=1)

        @worker.handler("upstream", ThingCreated.EVENT_TYPE, "adopt")
        def adopt(session, envelope):
            session.execute(children.insert().values(parent_id=envelope.data["thing_id"]))
        return worker

    envelopes = [thing(thing_id=p) for p in ("p1", "p2", "orphan", "p3")]
    queued_while_stopped(new_worker, broker, queue, envelopes)
    with running(new_worker()):
        wait_until(lambda: consumed(service, queue, "ok") == 3 and consumed(service, queue, "retried") == 1)
    with pg_database.read() as s:
        assert sorted(s.execute(sa.select(children.c.parent_id)).scalars()) == ["p1", "p2", "p3"]
    assert broker.depth(queue) == 0 and broker.depth(f"{queue}.retry.60000") == 1


def test_a_batch_s_handlers_write_without_waiting_and_a_late_error_still_falls_on_its_own_message(
        pg_database, broker, module_vhost_url):
    """The fast path runs in pipeline mode: a handler's plain INSERT does not wait for its
    result, so a duplicate key shows only at the end of the batch; the batch is then redone
    with one savepoint per message and only the culprit is retried."""
    service = unique_service()
    queue = f"{service}.store"
    with pg_database.transaction() as s:
        s.execute(things.insert().values(id="taken", name="before"))
    modes = []

    def new_worker():
        worker = Worker(settings_for(service, pg_database, module_vhost_url), pg_database, max_retries=1,
                        retry_delays_ms=(60000,), consumer_threads=1)

        @worker.handler("upstream", ThingCreated.EVENT_TYPE, "store")
        def store(session, envelope):
            modes.append(session.connection().connection.driver_connection.pgconn.pipeline_status != 0)
            session.execute(things.insert().values(id=envelope.data["thing_id"], name=envelope.data["name"]))
        return worker

    envelopes = [thing("a", "t1"), thing("b", "t2"), thing("dup", "taken"), thing("c", "t3")]
    queued_while_stopped(new_worker, broker, queue, envelopes)
    with running(new_worker()):
        wait_until(lambda: consumed(service, queue, "ok") == 3 and consumed(service, queue, "retried") == 1)
    # the first two tries (the claim not awaited, then awaited), each in one pipelined transaction
    assert modes[:8] == [True] * 8
    assert modes[8:] == [False] * 4  # again, one savepoint each: errors where they happen
    with pg_database.read() as s:
        assert dict(s.execute(sa.select(things.c.id, things.c.name)).all()) == {
            "taken": "before", "t1": "a", "t2": "b", "t3": "c"}
    assert broker.depth(queue) == 0 and broker.depth(f"{queue}.retry.60000") == 1


def test_a_batch_s_one_row_handlers_send_one_insert_and_a_duplicate_among_them_falls_on_its_own_message(
        pg_database, broker, module_vhost_url):
    """The fast path defers the handlers' plain INSERTs (servicekit.messaging.deferred): a
    handler that builds its statement once costs the batch one multi-row INSERT; a duplicate
    key among them fails that statement, and the savepoint path finds the culprit."""
    service = unique_service()
    queue = f"{service}.store"
    with pg_database.transaction() as s:
        s.execute(things.insert().values(id="taken", name="before"))
    insert_thing = things.insert()

    def new_worker():
        worker = Worker(settings_for(service, pg_database, module_vhost_url), pg_database, max_retries=1,
                        retry_delays_ms=(60000,), consumer_threads=1)

        @worker.handler("upstream", ThingCreated.EVENT_TYPE, "store")
        def store(session, envelope):
            session.execute(insert_thing, {"id": envelope.data["thing_id"], "name": envelope.data["name"]})
        return worker

    fine = [thing(str(i), f"t{i}") for i in range(30)]
    queued_while_stopped(new_worker, broker, queue, fine)
    worker = new_worker()
    log = StatementLog(worker.events_db)
    try:
        with running(worker):
            wait_until(lambda: consumed(service, queue, "ok") == 30)
        thing_inserts = [s for s in log.statements if s.startswith("INSERT INTO THINGS")]
        assert 1 <= len(thing_inserts) < 10  # one per batch, not one per event
        assert sum(s.count("), (") + 1 for s in thing_inserts) == 30
    finally:
        log.close()

    failing = [thing("a", "u1"), thing("dup", "taken"), thing("c", "u2")]
    queued_while_stopped(new_worker, broker, queue, failing)
    with running(new_worker()):
        wait_until(lambda: consumed(service, queue, "ok") == 32 and consumed(service, queue, "retried") == 1)
    with pg_database.read() as s:
        stored = dict(s.execute(sa.select(things.c.id, things.c.name)).all())
    assert stored == {"taken": "before", "u1": "a", "u2": "c", **{f"t{i}": str(i) for i in range(30)}}
    assert broker.depth(queue) == 0 and broker.depth(f"{queue}.retry.60000") == 1


def test_a_lone_new_event_is_one_round_trip_its_insert_sent_as_it_is_and_its_commit_with_it(
        pg_database, broker, module_vhost_url, monkeypatch):
    """A batch of one (events one at a time, as at a low rate): nothing to send together, so the
    handler's INSERT is not deferred; the inbox insert does not wait for its result; the COMMIT
    goes out with them in the pipeline's one wait, and SQLAlchemy's commit then finds the
    transaction over."""
    service = unique_service()
    queue = f"{service}.store"
    insert_thing = things.insert()
    results, at_commit, waits = [], [], []
    original_sync = psycopg.Pipeline.sync
    monkeypatch.setattr(psycopg.Pipeline, "sync", lambda self: (
        "-consumers-" in threading.current_thread().name and waits.append(1), original_sync(self))[1])
    original_commit = psycopg.Connection.commit
    monkeypatch.setattr(psycopg.Connection, "commit", lambda self: (
        "-consumers-" in threading.current_thread().name and at_commit.append(self.pgconn.transaction_status),
        original_commit(self))[1])
    worker = Worker(settings_for(service, pg_database, module_vhost_url), pg_database, consumer_threads=1)

    @worker.handler("upstream", ThingCreated.EVENT_TYPE, "store")
    def store(session, envelope):
        results.append(session.execute(insert_thing, {"id": envelope.data["thing_id"], "name": "x"}))

    with running(worker):
        publish(broker, thing("one", "t1"))
        wait_until(lambda: consumed(service, queue, "ok") == 1)
        wait_until(lambda: broker.depth(queue) == 0)
    assert len(results) == 1 and results[0] is not DEFERRED
    assert at_commit == [psycopg.pq.TransactionStatus.IDLE]  # committed by the pipeline: nothing more sent
    assert waits == []  # no wait in the middle: BEGIN, inbox insert, INSERT and COMMIT in one round trip
    with pg_database.read() as s:
        assert s.execute(sa.select(things.c.id)).scalars().all() == ["t1"]


def test_a_payload_that_does_not_validate_goes_to_the_dead_letter_queue_without_retries(
        pg_database, broker, module_vhost_url):
    """Retrying cannot make a payload valid: no minutes of delay queues first (issue 7, defect 11)."""
    service = unique_service()
    worker = Worker(settings_for(service, pg_database, module_vhost_url), pg_database, max_retries=5,
                    retry_delays_ms=(60000,))
    queue = f"{service}.strict"
    calls = []

    @worker.handler("upstream", ThingCreated.EVENT_TYPE, "strict")
    def strict(session, envelope):
        calls.append(envelope.id)
        envelope.payload(ThingCreated)
        record(session, envelope)

    bad = Envelope(type=ThingCreated.EVENT_TYPE, source="upstream", data={"thing_id": "t"})  # no name
    good = thing("fine")
    with running(worker):
        # One at a time: in one batch, the failed batch's fallback (each event alone) would run
        # the handler a second time in the same delivery, which is not what is tested here.
        publish(broker, bad)
        [letter] = wait_until(lambda: dlq.list_dead_letters(module_vhost_url, worker.queues), timeout=15)
        publish(broker, good)
        wait_until(lambda: consumed(service, queue, "ok") == 1)
    assert letter.event_id == bad.id and letter.retries == 0
    assert "ValidationError" in letter.error and "name" in letter.error
    assert calls.count(bad.id) == 1  # not retried, not even once
    assert consumed(service, queue, "retried") == 0 and consumed(service, queue, "dead") == 1
    assert broker.depth(f"{queue}.retry.60000") == 0


def test_several_consumer_threads_share_the_queue_and_each_event_has_one_effect(
        pg_database, broker, module_vhost_url):
    service = unique_service()
    queue = f"{service}.record"
    worker = Worker(settings_for(service, pg_database, module_vhost_url), pg_database, consumer_threads=3, prefetch=10)
    worker.handler("upstream", ThingCreated.EVENT_TYPE, "record")(record)
    envelopes = [thing(str(i)) for i in range(300)]
    with running(worker):
        wait_until(lambda: broker.channel.queue_declare(queue, passive=True).consumer_count == 3)
        publish(broker, *envelopes)
        wait_until(lambda: count_effects(pg_database) == 300, timeout=30)
    assert consumed(service, queue, "ok") == 300 and consumed(service, queue, "duplicate") == 0
    with pg_database.read() as s:
        assert s.execute(sa.select(sa.func.count(sa.distinct(effects.c.event_id)))).scalar_one() == 300
    assert broker.depth(queue) == 0


def test_consumer_threads_default_to_one(database, module_vhost_url):
    """One per worker (ADR 0013): more threads cost more wake-ups and latency per event."""
    worker = Worker(settings_for(unique_service(), database, module_vhost_url), database)
    assert worker.consumer_threads == 1
    assert Worker(settings_for(unique_service(), database, module_vhost_url), database,
                  consumer_threads=2).consumer_threads == 2
    with pytest.raises(ValueError):
        Worker(settings_for(unique_service(), database, module_vhost_url), database, consumer_threads=0)


def test_one_ack_settles_a_batch_mixing_good_failing_and_malformed_messages(pg_database, broker, module_vhost_url):
    service = unique_service()
    queue = f"{service}.mixed"

    def mixed(session, envelope):
        if envelope.data["name"] == "bad":
            raise RuntimeError("cannot")
        record(session, envelope)

    def new_worker():
        worker = Worker(settings_for(service, pg_database, module_vhost_url), pg_database, max_retries=1,
                        retry_delays_ms=(60000,), consumer_threads=1)
        worker.handler("upstream", ThingCreated.EVENT_TYPE, "mixed")(mixed)
        return worker

    good = [thing("a"), thing("b")]
    failing = thing("bad")
    with running(new_worker()):
        pass
    publish(broker, good[0], failing)
    broker.publish_raw("upstream", ThingCreated.EVENT_TYPE, b"{not an envelope", "junk-1")
    publish(broker, good[1])
    wait_until(lambda: broker.depth(queue) == 4)
    with running(new_worker()):
        wait_until(lambda: consumed(service, queue, "ok") == 2 and consumed(service, queue, "retried") == 1
                   and consumed(service, queue, "dead") == 1)
    assert [count_effects(pg_database, e.id) for e in good] == [1, 1]
    assert count_effects(pg_database, failing.id) == 0
    # Everything was acked (unacked messages would be back in the queue once the worker stopped).
    assert broker.depth(queue) == 0
    assert broker.depth(f"{queue}.retry.60000") == 1
    [letter] = dlq.list_dead_letters(module_vhost_url, [queue])
    assert letter.event_id == "junk-1" and letter.error.startswith("malformed message")


def test_consumers_skip_the_pre_ping_and_run_a_lone_event_again_at_once_when_postgres_cut_the_connection(
        pg_database, broker, module_vhost_url):
    """Issue 11: no ping round trip before each consumer transaction; a transaction that fails
    because PostgreSQL cut the connection runs again on a new one, without a retry queue."""
    service = unique_service()
    queue = f"{service}.record"
    worker = Worker(settings_for(service, pg_database, module_vhost_url), pg_database, consumer_threads=1)
    worker.handler("upstream", ThingCreated.EVENT_TYPE, "record")(record)
    assert worker.events_db.engine.pool._pre_ping is False
    assert pg_database.engine.pool._pre_ping is False  # web requests ping idle connections only (servicekit.db)
    first, second = thing("first"), thing("second")
    with running(worker):
        publish(broker, first)
        wait_until(lambda: count_effects(pg_database, first.id) == 1)
        with pg_database.transaction() as s:  # as a PostgreSQL restart or a failover would
            s.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
        pg_database.engine.dispose()  # the test's own reads below: the pool they come from died too
        publish(broker, second)
        wait_until(lambda: count_effects(pg_database, second.id) == 1)
        assert consumed(service, queue, "retried") == 0
    assert count_effects(pg_database) == 2
    assert broker.depth(queue) == 0


def test_a_worker_process_freezes_what_it_allocated_before_running_and_a_worker_thread_does_not(
        tmp_path, module_vhost_url, monkeypatch):
    """Run in a process's main thread (the `worker` command), the worker moves the objects alive
    at start out of the collector's generations; tests run workers in threads and keep theirs."""
    frozen = []
    monkeypatch.setattr("servicekit.gcfreeze.gc.freeze", lambda: frozen.append(1))
    database = make_database(f"sqlite:///{tmp_path / 'service.db'}")
    worker = Worker(settings_for(unique_service(), database, module_vhost_url), database)
    worker.stop()  # run() returns at once
    with running(worker):
        pass
    assert frozen == []
    worker = Worker(settings_for(unique_service(), database, module_vhost_url), database)
    worker.stop()
    worker.run()
    assert frozen == [1]
    database.dispose()


def test_a_lone_duplicate_fails_its_first_try_and_has_no_second_effect(pg_database, broker, module_vhost_url):
    """The first try does not wait for the inbox insert: a delivery of an event already processed
    fails it, nothing of that try is kept (its handler ran, rolled back), and the claim awaited
    first then says duplicate."""
    service = unique_service()
    queue = f"{service}.store"
    calls = []
    worker = Worker(settings_for(service, pg_database, module_vhost_url), pg_database, consumer_threads=1)

    @worker.handler("upstream", ThingCreated.EVENT_TYPE, "store")
    def store(session, envelope):
        calls.append(envelope.id)
        session.execute(effects.insert().values(consumer="store", event_id=envelope.id))

    seen = thing("seen")
    with pg_database.transaction() as s:
        assert inbox.claim_many(s, [(queue, seen.id)]) == {(queue, seen.id)}
    fresh = thing("fresh")
    with running(worker):
        publish(broker, seen)
        wait_until(lambda: consumed(service, queue, "duplicate") == 1)
        publish(broker, fresh)
        wait_until(lambda: consumed(service, queue, "ok") == 1)
        wait_until(lambda: broker.depth(queue) == 0)
    assert calls == [seen.id, fresh.id]  # the duplicate's handler ran once, in the try rolled back
    assert count_effects(pg_database, seen.id) == 0 and count_effects(pg_database, fresh.id) == 1


def test_a_consumer_thread_keeps_its_database_connection_between_transactions_and_takes_another_after_a_failure(
        pg_database, broker, module_vhost_url):
    """No pool check-out and check-in per batch (PostgreSQL); a transaction that failed may have
    left its connection dead, so the next one starts on a connection from the pool."""
    service = unique_service()
    queue = f"{service}.store"
    worker = Worker(settings_for(service, pg_database, module_vhost_url), pg_database, max_retries=0,
                    consumer_threads=1)

    @worker.handler("upstream", ThingCreated.EVENT_TYPE, "store")
    def store(session, envelope):
        if envelope.data["name"] == "bad":
            raise RuntimeError("bad event")
        session.execute(effects.insert().values(consumer="store", event_id=envelope.id))

    checkouts = []

    def checkout(*_args):
        if "-consumers-" in threading.current_thread().name:
            checkouts.append(1)

    sa.event.listen(worker.events_db.engine, "checkout", checkout)
    with running(worker):
        for n in range(1, 4):  # one at a time: three transactions
            publish(broker, thing(str(n)))
            wait_until(lambda: consumed(service, queue, "ok") == n)
        assert len(checkouts) == 1
        publish(broker, thing("bad"))
        wait_until(lambda: consumed(service, queue, "dead") == 1)
        for n in range(4, 6):
            publish(broker, thing(str(n)))
            wait_until(lambda: consumed(service, queue, "ok") == n)
    assert len(checkouts) == 2
    assert count_effects(pg_database) == 5
