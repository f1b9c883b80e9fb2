import json
import uuid

import psycopg
import pytest
import sqlalchemy as sa

from servicekit import context
from servicekit.messaging.outbox import add_event, add_events
from servicekit.messaging.tables import outbox
from sk_messaging_helpers import ThingCreated, things

pytestmark = pytest.mark.integration


def outbox_rows(db):
    with db.read() as s:
        return s.execute(sa.select(outbox).order_by(outbox.c.seq)).all()


def test_event_is_written_in_the_business_transaction(database):
    thing_id = str(uuid.uuid4())
    token = context.set_correlation_id("corr-123")
    try:
        with database.transaction() as s:
            s.execute(things.insert().values(id=thing_id, name="Lina"))
            envelope = add_event(s, "catalog", ThingCreated(thing_id=thing_id, name="Lina"), causation_id="cause-1")
    finally:
        context.reset_correlation_id(token)

    [row] = outbox_rows(database)
    assert row.event_id == envelope.id
    assert row.exchange == "catalog.events"
    assert row.routing_key == "thing.created.v1"
    assert row.published_at is None and row.attempts == 0
    body = json.loads(row.body)
    assert body["type"] == "thing.created.v1" and body["source"] == "catalog"
    assert body["data"] == {"thing_id": thing_id, "name": "Lina"}
    assert body["correlation_id"] == "corr-123" and body["causation_id"] == "cause-1"


def test_explicit_correlation_id_wins_over_the_context(database):
    with database.transaction() as s:
        envelope = add_event(s, "catalog", ThingCreated(thing_id="t", name="n"), correlation_id="explicit")
    assert envelope.correlation_id == "explicit"


def test_event_is_rolled_back_with_the_business_change(database):
    with pytest.raises(RuntimeError):
        with database.transaction() as s:
            s.execute(things.insert().values(id="t1", name="x"))
            add_event(s, "catalog", ThingCreated(thing_id="t1", name="x"))
            raise RuntimeError("business rule failed after the event was added")
    assert outbox_rows(database) == []
    with database.read() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(things)).scalar_one() == 0


def test_postgres_notifies_the_relay_only_at_commit(pg_database):
    conninfo = sa.make_url(pg_database.url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as listener:
        listener.execute('LISTEN "outbox_catalog"')
        with pg_database.transaction() as s:
            add_event(s, "catalog", ThingCreated(thing_id="t", name="n"))
            assert list(listener.notifies(timeout=0.2, stop_after=1)) == []  # not before commit
        received = list(listener.notifies(timeout=5, stop_after=1))
    assert [n.channel for n in received] == ["outbox_catalog"]


def test_published_events_past_retention_are_purged_and_nothing_else(database):
    """Pending and parked events stay, however old."""
    from datetime import datetime, timedelta, timezone

    from servicekit.messaging.outbox import purge_published

    with database.transaction() as s:
        for name in ("old", "recent", "pending", "parked"):
            add_event(s, "catalog", ThingCreated(thing_id=name, name=name))
    now = datetime.now(timezone.utc)
    with database.transaction() as s:
        for thing, published_at in (("old", now - timedelta(hours=80)), ("recent", now - timedelta(hours=1))):
            s.execute(outbox.update().where(outbox.c.body.contains(f'"thing_id":"{thing}"'))
                      .values(published_at=published_at))
        s.execute(outbox.update().where(outbox.c.body.contains('"thing_id":"parked"'))
                  .values(parked_at=now - timedelta(days=30)))
    with database.transaction() as s:
        assert purge_published(s, timedelta(hours=72)) == 1
    left = [json.loads(row.body)["data"]["thing_id"] for row in outbox_rows(database)]
    assert left == ["recent", "pending", "parked"]


def test_every_worker_runs_the_retention_jobs(database):
    from servicekit.messaging.worker import Worker
    from servicekit.settings import ServiceSettings

    worker = Worker(ServiceSettings(service="catalog", database_url=database.url), database)
    assert [(job.name, job.seconds) for job in worker.jobs] == [("outbox_retention", 3600), ("inbox_retention", 3600)]


def test_several_events_are_written_in_order_with_one_statement(database):
    """add_events: one INSERT (and one relay wake-up on PostgreSQL) for all of them, so a use case
    holding locks until commit pays one round trip, not two per event."""
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement.split()[0].upper() + (" many" if executemany else ""))

    token = context.set_correlation_id("corr-many")
    sa.event.listen(database.engine, "before_cursor_execute", count)
    try:
        with database.transaction() as s:
            statements.clear()
            envelopes = add_events(s, "catalog", [ThingCreated(thing_id=f"t{i}", name=f"n{i}") for i in range(5)])
            sent = list(statements)
    finally:
        sa.event.remove(database.engine, "before_cursor_execute", count)
        context.reset_correlation_id(token)

    inserts = [x for x in sent if x.startswith("INSERT")]
    assert len(inserts) == 1 and len(sent) <= 2  # the INSERT, and on PostgreSQL the pg_notify
    rows = outbox_rows(database)
    assert [row.event_id for row in rows] == [e.id for e in envelopes]
    assert [json.loads(row.body)["data"]["thing_id"] for row in rows] == [f"t{i}" for i in range(5)]
    assert {json.loads(row.body)["correlation_id"] for row in rows} == {"corr-many"}
    assert add_events(s, "catalog", []) == []


def test_on_postgres_the_relay_is_woken_after_the_commit_not_by_a_notify_inside_the_transaction(pg_database):
    """Issue 11: a NOTIFY inside the writing transaction makes PostgreSQL serialize the commits
    of every notifying transaction (a cluster-wide lock held through the disk flush). The wake-up
    is sent after the commit, on another connection, and only for a transaction that committed."""
    from servicekit.messaging.names import notify_channel

    source = f"wake{uuid.uuid4().hex[:8]}"
    listener = psycopg.connect(sa.make_url(pg_database.url).set(drivername="postgresql")
                               .render_as_string(hide_password=False), autocommit=True)
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement.split()[0].upper())

    sa.event.listen(pg_database.engine, "before_cursor_execute", count)
    try:
        listener.execute(f'LISTEN "{notify_channel(source)}"')
        with pytest.raises(RuntimeError):
            with pg_database.transaction() as s:
                add_event(s, source, ThingCreated(thing_id="t0", name="rolled back"))
                raise RuntimeError("the use case fails")
        assert list(listener.notifies(timeout=0.5)) == []  # nothing committed, nobody woken

        with pg_database.transaction() as s:
            statements.clear()
            add_event(s, source, ThingCreated(thing_id="t1", name="n1"))
            add_event(s, source, ThingCreated(thing_id="t2", name="n2"))
            assert statements == ["INSERT", "INSERT"]  # no pg_notify in the transaction
        woken = list(listener.notifies(timeout=5, stop_after=1))
        assert [n.channel for n in woken] == [notify_channel(source)]
    finally:
        sa.event.remove(pg_database.engine, "before_cursor_execute", count)
        listener.close()


def test_the_wakeup_thread_notifies_then_gives_its_connection_back_when_idle(pg_database, monkeypatch):
    from servicekit.messaging import wakeup
    from servicekit.testing import wait_until

    monkeypatch.setattr(wakeup, "IDLE_CLOSE_SECONDS", 0.2)
    conninfo = sa.make_url(pg_database.url).set(drivername="postgresql").render_as_string(hide_password=False)
    listener = psycopg.connect(conninfo, autocommit=True)
    try:
        listener.execute('LISTEN "wake_idle_test"')
        waker = wakeup.Waker(conninfo)
        waker.wake({"wake_idle_test"})
        assert [n.channel for n in listener.notifies(timeout=5, stop_after=1)] == ["wake_idle_test"]
        wait_until(lambda: waker._conn is None, timeout=5)  # closed once idle
        waker.wake({"wake_idle_test"})  # and opened again for the next wake-up
        assert [n.channel for n in listener.notifies(timeout=5, stop_after=1)] == ["wake_idle_test"]
        wait_until(lambda: waker.sent == 2, timeout=5)  # counted once execute() returned
    finally:
        listener.close()


def test_write_events_writes_the_rows_add_events_would_in_order_and_wakes_the_relay_at_commit(database):
    """write_events (no Envelope models built, the bodies spliced from each payload's JSON): the same
    rows as add_events, bodies byte for byte an Envelope's JSON, in order, one statement."""
    from contracts.envelope import Envelope

    from servicekit.messaging.outbox import write_events
    from servicekit.messaging.wakeup import SESSION_KEY

    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement.split()[0].upper())

    token = context.set_correlation_id("corr-write")
    sa.event.listen(database.engine, "before_cursor_execute", count)
    try:
        with database.transaction() as s:
            statements.clear()
            write_events(s, "catalog", [ThingCreated(thing_id=f"t{i}", name=f"Noé \"{i}\"\n") for i in range(4)],
                         causation_id="cause-w")
            sent = list(statements)
            woken = dict(s.info.get(SESSION_KEY, {}))
    finally:
        sa.event.remove(database.engine, "before_cursor_execute", count)
        context.reset_correlation_id(token)

    assert [x for x in sent if x != "BEGIN"] == ["INSERT"]  # SQLite: pysqlite's own BEGIN
    assert [set(channels) for channels in woken.values()] == (
        [{"outbox_catalog"}] if database.engine.dialect.name == "postgresql" else [])
    rows = outbox_rows(database)
    envelopes = [Envelope.model_validate_json(row.body) for row in rows]
    assert [row.body for row in rows] == [e.model_dump_json() for e in envelopes]
    assert [e.payload(ThingCreated).thing_id for e in envelopes] == ["t0", "t1", "t2", "t3"]
    assert [row.event_id for row in rows] == [e.id for e in envelopes] and len({e.id for e in envelopes}) == 4
    assert {(row.exchange, row.routing_key, row.attempts) for row in rows} == {("catalog.events", "thing.created.v1", 0)}
    assert {(e.source, e.correlation_id, e.causation_id) for e in envelopes} == {("catalog", "corr-write", "cause-w")}
    assert all(abs((row.created_at - e.time).total_seconds()) < 1e-3 for row, e in zip(rows, envelopes))
