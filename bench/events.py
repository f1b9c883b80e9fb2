"""Event benchmarks: servicekit's outbox -> relay -> consumer path beside raw kombu.

(a) latency from business commit to consumer commit, p50/p99, at RATE events/s for
    DURATION s, through the real relay and consumer workers (subprocesses) on PostgreSQL;
    beside raw kombu publish -> consume latency measured in the same run at the same rate.
(b) relay throughput (batched publisher confirms, PostgreSQL outbox, rows marked published)
    beside raw kombu publishing with a confirm wait per message.

Needs PostgreSQL (postgres@127.0.0.1:5432, trust) and RabbitMQ (guest@127.0.0.1:5672,
rabbitmqctl); creates its own databases and vhost and removes them at the end.

    .venv/bin/python bench/events.py [--rate 200] [--duration 20] [--throughput-events 10000]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import kombu
import sqlalchemy as sa

from contracts.envelope import EventPayload
from servicekit.db import Database, declarative_base
from servicekit.messaging.broker import close_quietly, connect, events_exchange
from servicekit.messaging.outbox import add_event
from servicekit.messaging.relay import Relay
from servicekit.messaging.worker import Worker
from servicekit.settings import ServiceSettings
from servicekit.testing import create_pg_database, create_vhost, delete_vhost, drop_pg_database, wait_until

PRODUCER = "benchprod"
CONSUMER = "benchcons"

Base = declarative_base()
orders = sa.Table("orders", Base.metadata,
                  sa.Column("id", sa.String(36), primary_key=True), sa.Column("label", sa.String(100)))
receipts = sa.Table("receipts", Base.metadata,
                    sa.Column("event_id", sa.String(36), primary_key=True), sa.Column("label", sa.String(100)))


class OrderPlaced(EventPayload):
    EVENT_TYPE = "order.placed.v1"
    order_id: str
    label: str


class OrderArchived(EventPayload):
    EVENT_TYPE = "order.archived.v1"
    order_id: str
    label: str


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def paced(rate: float, duration: float):
    """Yield at `rate` per second for `duration` seconds (open loop: no catch-up bursts hidden)."""
    start = time.perf_counter()
    for i in range(int(rate * duration)):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        yield i


# --- subprocess roles -----------------------------------------------------------------------
def run_relay() -> None:
    settings = ServiceSettings(service=PRODUCER, database_url=os.environ["BENCH_DB"], amqp_url=os.environ["BENCH_AMQP"])
    Worker(settings, Database(settings.database_url)).run()


def run_consumer(out: str) -> None:
    settings = ServiceSettings(service=CONSUMER, database_url=os.environ["BENCH_DB"], amqp_url=os.environ["BENCH_AMQP"])
    worker = Worker(settings, Database(settings.database_url))
    committed: dict[str, float] = {}

    @worker.handler(PRODUCER, OrderPlaced.EVENT_TYPE, "receive")
    def receive(session, envelope):
        session.execute(receipts.insert().values(event_id=envelope.id, label=envelope.data["label"]))
        sa.event.listen(session, "after_commit",
                        lambda _s, event_id=envelope.id: committed.__setitem__(event_id, time.time()), once=True)

    worker.run()
    Path(out).write_text(json.dumps(committed))


def run_raw_consumer(out: str, queue: str, expected: int) -> None:
    latencies: list[float] = []
    with kombu.Connection(os.environ["BENCH_AMQP"]) as conn:
        def on_message(body, message):
            latencies.append(time.time() - body["sent_at"])  # kombu decoded the JSON
            message.ack()

        with kombu.Consumer(conn, [kombu.Queue(queue, durable=True, auto_delete=False)], callbacks=[on_message],
                            accept=["json"]):
            print("ready", flush=True)
            while len(latencies) < expected:
                try:
                    conn.drain_events(timeout=30)
                except TimeoutError:
                    break
    Path(out).write_text(json.dumps(latencies))


# --- orchestration ----------------------------------------------------------------------------
def spawn(*args: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, *args], env={**os.environ, **env},
                            stdout=subprocess.PIPE if args[0] == "_raw_consumer" else subprocess.DEVNULL,
                            text=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def queue_has_consumer(amqp_url: str, queue: str) -> bool:
    conn = connect(amqp_url)
    try:
        return conn.channel().queue_declare(queue, passive=True).consumer_count > 0
    except Exception:
        return False
    finally:
        close_quietly(conn)


def count(db: Database, table: sa.Table) -> int:
    with db.read() as s:
        return s.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def bench_latency(producer_db: Database, consumer_db: Database, amqp_url: str, rate: float, duration: float,
                  workdir: Path) -> dict:
    env_p = {"BENCH_DB": producer_db.url, "BENCH_AMQP": amqp_url}
    env_c = {"BENCH_DB": consumer_db.url, "BENCH_AMQP": amqp_url}
    out = workdir / "consumer.json"
    consumer = spawn("_consumer", str(out), env=env_c)
    relay = spawn("_relay", env=env_p)
    try:
        wait_until(lambda: queue_has_consumer(amqp_url, f"{CONSUMER}.receive"), timeout=30)

        def place(i: int) -> tuple[str, float]:
            order_id = str(uuid.uuid4())
            with producer_db.transaction() as s:
                s.execute(orders.insert().values(id=order_id, label=f"order {i}"))
                event = add_event(s, PRODUCER, OrderPlaced(order_id=order_id, label=f"order {i}"))
            return event.id, time.time()

        for i in range(50):  # warm-up: connections, caches
            place(i)
        wait_until(lambda: count(consumer_db, receipts) >= 50, timeout=30)
        warm = count(consumer_db, receipts)
        commits = dict(place(i) for i in paced(rate, duration))
        wait_until(lambda: count(consumer_db, receipts) >= warm + len(commits), timeout=60)
    finally:
        stop(relay)
        stop(consumer)
    consumed_at = json.loads(out.read_text())
    latencies = [consumed_at[e] - t for e, t in commits.items()]
    with producer_db.read() as s:
        published_at = {e: t.timestamp() for e, t in s.execute(
            sa.text("SELECT event_id, published_at FROM outbox WHERE published_at IS NOT NULL"))}
    relay_legs = [published_at[e] - t for e, t in commits.items()]

    # Raw kombu at the same rate, same vhost: publish (persistent, no confirm) -> consume + ack.
    queue = "bench.raw"
    expected = len(commits)
    raw_out = workdir / "raw.json"
    with kombu.Connection(amqp_url) as conn:
        kombu.Queue(queue, durable=True, auto_delete=False)(conn.default_channel).declare()
        raw_consumer = spawn("_raw_consumer", str(raw_out), queue, str(expected), env={"BENCH_AMQP": amqp_url})
        assert raw_consumer.stdout.readline().strip() == "ready"
        producer = kombu.Producer(conn, routing_key=queue, serializer="json")
        for i in paced(rate, duration):
            producer.publish({"n": i, "sent_at": time.time()}, delivery_mode=2)
        raw_consumer.wait(90)
    raw = json.loads(raw_out.read_text())
    return {"outbox": latencies, "raw": raw, "relay_leg": relay_legs}


def queue_depth(amqp_url: str, queue: str) -> int:
    conn = connect(amqp_url)
    try:
        return conn.channel().queue_declare(queue, passive=True).message_count
    finally:
        close_quietly(conn)


def bench_throughput(producer_db: Database, amqp_url: str, n: int) -> dict:
    sink = kombu.Queue("bench.sink", exchange=events_exchange(PRODUCER), routing_key=OrderArchived.EVENT_TYPE,
                       durable=True, auto_delete=False)
    with kombu.Connection(amqp_url) as conn:
        sink(conn.default_channel).declare()
    with producer_db.transaction() as s:
        for i in range(n):
            add_event(s, PRODUCER, OrderArchived(order_id=str(uuid.uuid4()), label=f"order {i}"))
    relay = Relay(PRODUCER, producer_db, amqp_url)
    started = time.perf_counter()
    while relay.relay_once():
        pass
    relay_seconds = time.perf_counter() - started
    relay.disconnect()
    assert queue_depth(amqp_url, "bench.sink") == n
    with kombu.Connection(amqp_url) as conn:
        sink(conn.default_channel).purge()

    # Raw kombu, confirm per message (transport option confirm_publish), same body size.
    body = {"id": str(uuid.uuid4()), "type": OrderArchived.EVENT_TYPE, "source": PRODUCER,
            "data": {"order_id": str(uuid.uuid4()), "label": "order 0"}}
    with kombu.Connection(amqp_url, transport_options={"confirm_publish": True}) as raw_conn:
        producer = kombu.Producer(raw_conn, exchange=events_exchange(PRODUCER), serializer="json")
        started = time.perf_counter()
        for _ in range(n):
            producer.publish(body, routing_key=OrderArchived.EVENT_TYPE, delivery_mode=2, mandatory=True)
        raw_seconds = time.perf_counter() - started
    assert queue_depth(amqp_url, "bench.sink") == n
    return {"relay": n / relay_seconds, "raw": n / raw_seconds, "n": n}


def main(argv: list[str]) -> int:
    if argv[:1] == ["_relay"]:
        run_relay()
        return 0
    if argv[:1] == ["_consumer"]:
        run_consumer(argv[1])
        return 0
    if argv[:1] == ["_raw_consumer"]:
        run_raw_consumer(argv[1], argv[2], int(argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--throughput-events", type=int, default=10000)
    args = parser.parse_args(argv)

    vhost, amqp_url = create_vhost("bench")
    urls = [create_pg_database("bench") for _ in range(2)]
    dbs = [Database(u) for u in urls]
    try:
        for db in dbs:
            Base.metadata.create_all(db.engine)
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            lat = bench_latency(dbs[0], dbs[1], amqp_url, args.rate, args.duration, Path(tmp))
        print(f"latency part done in {time.perf_counter() - started:.0f}s", file=sys.stderr)
        started = time.perf_counter()
        thr = bench_throughput(dbs[0], amqp_url, args.throughput_events)
        print(f"throughput part done in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    finally:
        for db in dbs:
            db.dispose()
        for u in urls:
            drop_pg_database(u)
        delete_vhost(vhost)

    ms = lambda v: f"{v * 1000:.2f} ms"
    o, r = lat["outbox"], lat["raw"]
    p99_ratio = percentile(o, 99) / percentile(r, 99)
    print(f"\n(a) latency at {args.rate:.0f} events/s for {args.duration:.0f} s ({len(o)} events each)")
    print("| path | p50 | p99 | max |")
    print("|---|---|---|---|")
    print(f"| outbox -> relay -> consumer commit (PostgreSQL) | {ms(statistics.median(o))} | {ms(percentile(o, 99))} | {ms(max(o))} |")
    print(f"| raw kombu publish -> consume | {ms(statistics.median(r))} | {ms(percentile(r, 99))} | {ms(max(r))} |")
    leg = lat["relay_leg"]
    print(f"| of which commit -> relay marked published | {ms(statistics.median(leg))} | {ms(percentile(leg, 99))} | {ms(max(leg))} |")
    print(f"p99 ratio outbox/raw: {p99_ratio:.1f}x (goal <= 10x)")
    print(f"\n(b) publish throughput ({thr['n']} events each)")
    print("| path | events/s |")
    print("|---|---|")
    print(f"| relay: PostgreSQL outbox, batched confirms, rows marked published | {thr['relay']:.0f} |")
    print(f"| raw kombu publish, confirm per message | {thr['raw']:.0f} |")
    print(f"throughput ratio relay/raw: {thr['relay'] / thr['raw']:.1f}x (goal >= 3x)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
