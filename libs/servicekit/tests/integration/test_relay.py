import json
import threading

import psycopg
import pytest
import sqlalchemy as sa

from servicekit.messaging.outbox import add_event
from servicekit.messaging.relay import Relay
from servicekit.messaging.tables import outbox
from servicekit.messaging.broker import BROKER_ERRORS
from servicekit.testing import wait_until
from sk_messaging_helpers import ThingCreated, unique_service

pytestmark = pytest.mark.integration


def write_events(db, source, count):
    ids = []
    for i in range(count):
        with db.transaction() as s:
            ids.append(add_event(s, source, ThingCreated(thing_id=str(i), name=f"n{i}"), correlation_id=f"c{i}").id)
    return ids


def outbox_state(db):
    with db.read() as s:
        return {r.event_id: r for r in s.execute(sa.select(outbox))}


def test_relay_publishes_in_seq_order_with_confirms_and_marks_rows(database, broker):
    source = unique_service()
    probe = broker.bind_probe(source)
    ids = write_events(database, source, 30)

    relay = Relay(source, database, broker.url, batch_size=500)
    try:
        assert relay.relay_once() == 30
        assert relay.relay_once() == 0  # nothing left
    finally:
        relay.disconnect()

    messages = broker.get_all(probe)
    assert [m.properties["message_id"] for m in messages] == ids
    first = messages[0]
    assert first.properties["content_type"] == "application/json"
    assert first.properties["delivery_mode"] == 2
    assert first.headers["correlation_id"] == "c0"
    assert first.delivery_info["routing_key"] == "thing.created.v1"
    assert json.loads(first.body)["id"] == ids[0]
    assert all(row.published_at is not None for row in outbox_state(database).values())


def test_unroutable_event_is_kept_retried_then_delivered_once_a_queue_is_bound(database, broker):
    source = unique_service()
    [event_id] = write_events(database, source, 1)
    relay = Relay(source, database, broker.url)
    try:
        assert relay.relay_once() == 1  # published with mandatory: returned, nobody bound
        row = outbox_state(database)[event_id]
        assert row.published_at is None
        assert row.attempts == 1
        assert "unroutable" in row.last_error
        assert row.next_attempt_at is not None
        assert relay.relay_once() == 0  # backing off

        probe = broker.bind_probe(source, "thing.created.v1")
        wait_until(lambda: relay.relay_once() and outbox_state(database)[event_id].published_at, timeout=10)
    finally:
        relay.disconnect()
    assert [m.properties["message_id"] for m in broker.get_all(probe)] == [event_id]


def test_relay_keeps_rows_when_the_broker_is_unreachable(database):
    source = unique_service()
    write_events(database, source, 2)
    relay = Relay(source, database, "amqp://guest:guest@127.0.0.1:1/none")
    with pytest.raises(BROKER_ERRORS):
        relay.relay_once()
    rows = outbox_state(database).values()
    assert all(r.published_at is None and r.attempts == 0 for r in rows)


def test_two_relays_on_postgres_never_publish_a_row_twice(pg_database, broker):
    source = unique_service()
    probe = broker.bind_probe(source)
    ids = write_events(pg_database, source, 400)
    relays = [Relay(source, pg_database, broker.url, batch_size=20) for _ in range(2)]
    counts = [0, 0]

    def drain(i):
        while (n := relays[i].relay_once()):
            counts[i] += n

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for r in relays:
        r.disconnect()
    assert sum(counts) == 400
    received = [m.properties["message_id"] for m in broker.get_all(probe)]
    assert sorted(received) == sorted(ids)


def make_due(db, event_id):
    """Skip the back-off wait of a failed row (the test does not sleep through it)."""
    with db.transaction() as s:
        s.execute(outbox.update().where(outbox.c.event_id == event_id).values(next_attempt_at=None))


def test_unroutable_event_is_parked_after_max_attempts_then_replayed_by_an_operator(database, broker):
    from servicekit.health import outbox_lag
    from servicekit.messaging import metrics, parking

    source = unique_service()
    [event_id] = write_events(database, source, 1)
    relay = Relay(source, database, broker.url, max_attempts=3)
    try:
        for attempt in (1, 2):
            assert relay.relay_once() == 1
            row = outbox_state(database)[event_id]
            assert row.attempts == attempt and row.parked_at is None and row.next_attempt_at is not None
            make_due(database, event_id)
        assert relay.relay_once() == 1  # third refusal: parked
        row = outbox_state(database)[event_id]
        assert row.parked_at is not None and row.next_attempt_at is None and row.published_at is None
        assert row.attempts == 3 and "unroutable" in row.last_error
        assert metrics.EVENTS_PARKED.labels(source, "unroutable")._value.get() == 1
        make_due(database, event_id)
        assert relay.relay_once() == 0  # a parked row is never tried again by itself
        # Parked is not lag: the outbox is not "late", it waits for an operator.
        assert outbox_lag(database) == {"pending": 0, "oldest_age_seconds": 0.0, "parked": 1}

        probe = broker.bind_probe(source, "thing.created.v1")
        with database.transaction() as s:
            assert parking.unpark(s, source, [event_id]) == [event_id]
        row = outbox_state(database)[event_id]
        assert row.parked_at is None and row.attempts == 0
        assert relay.relay_once() == 1
    finally:
        relay.disconnect()
    assert outbox_state(database)[event_id].published_at is not None
    assert [m.properties["message_id"] for m in broker.get_all(probe)] == [event_id]


def test_worker_parks_after_the_configured_number_of_attempts(pg_database, module_vhost_url):
    from servicekit.messaging.worker import Worker
    from servicekit.settings import ServiceSettings
    from sk_messaging_helpers import running

    source = unique_service()
    settings = ServiceSettings(service=source, database_url=pg_database.url, amqp_url=module_vhost_url,
                               outbox_max_attempts=2)
    [event_id] = write_events(pg_database, source, 1)
    with running(Worker(settings, pg_database)):
        # Two refusals 0.5 s apart, then parked (the default would keep trying for minutes).
        row = wait_until(lambda: (r := outbox_state(pg_database)[event_id]).parked_at is not None and r, timeout=15)
    assert row.attempts == 2 and row.published_at is None


def relay_engine(relay):
    return relay._relay_sessions().kw["bind"]


def test_a_relay_round_on_postgres_is_claim_and_mark_on_its_own_connection_without_ping_or_flush(
        pg_database, broker, monkeypatch):
    """Issue 11: the relay leg's round trips. No pre-ping and no `SET LOCAL synchronous_commit`
    per round: the relay's connection has `synchronous_commit=off` for good."""
    source = unique_service()
    broker.bind_probe(source)
    write_events(pg_database, source, 3)
    relay = Relay(source, pg_database, broker.url)
    try:
        engine = relay_engine(relay)
        assert engine is not pg_database.engine
        assert engine.pool._pre_ping is False
        with engine.connect() as c:  # the relay's one connection (pool of one)
            relay_conn = c.connection.driver_connection
        statements = []  # at psycopg's level: the claim and the mark bypass SQLAlchemy (servicekit.pg)
        original_execute = psycopg.Cursor.execute
        monkeypatch.setattr(psycopg.Cursor, "execute", lambda self, query, params=None, **kw: (
            self.connection is relay_conn and statements.append((str(query).split()[0].upper(), kw.get("prepare"))),
            original_execute(self, query, params, **kw))[1])
        reads = []  # the waits that read PostgreSQL's answers (round trips)
        original_wait = psycopg.Connection.wait
        monkeypatch.setattr(psycopg.Connection, "wait", lambda self, gen, *a, **kw: (
            self is relay_conn and gen.__name__ in ("_fetch_gen", "_sync_gen", "_exit_gen") and reads.append(gen.__name__),
            original_wait(self, gen, *a, **kw))[1])
        at_commit = []  # the transaction's state when SQLAlchemy commits
        original_commit = psycopg.Connection.commit
        monkeypatch.setattr(psycopg.Connection, "commit", lambda self: (
            at_commit.append(self.pgconn.transaction_status), original_commit(self))[1])
        assert relay.relay_once() == 3
        # The claim and the mark, prepared, then the COMMIT (servicekit.messaging.pipeline).
        assert statements == [("SELECT", True), ("UPDATE", True), ("COMMIT", None)]
        # Pipeline mode: BEGIN goes out with the claim (its one wait); the mark and the COMMIT
        # go out together at the end of the block: two round trips, not four.
        assert reads == ["_fetch_gen", "_exit_gen"]
        assert at_commit == [psycopg.pq.TransactionStatus.IDLE]  # committed already: nothing more sent
        with relay._relay_sessions()() as s:
            assert s.execute(sa.text("SHOW synchronous_commit")).scalar_one() == "off"
    finally:
        relay.disconnect()
    with pg_database.read() as s:  # everyone else's transactions still wait for the flush
        assert s.execute(sa.text("SHOW synchronous_commit")).scalar_one() == "on"


def test_relay_runs_a_round_again_at_once_when_postgres_cut_its_connection(pg_database, broker):
    source = unique_service()
    probe = broker.bind_probe(source)
    [first] = write_events(pg_database, source, 1)
    relay = Relay(source, pg_database, broker.url)
    try:
        assert relay.relay_once() == 1
        with relay._relay_sessions()() as s:
            backend = s.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        with pg_database.transaction() as s:  # as a PostgreSQL restart or a failover would
            s.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        [second] = write_events(pg_database, source, 1)
        assert relay.relay_once() == 1  # no error: the round ran again on a new connection
    finally:
        relay.disconnect()
    assert [m.properties["message_id"] for m in broker.get_all(probe)] == [first, second]
    assert all(row.published_at is not None for row in outbox_state(pg_database).values())
