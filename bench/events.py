"""Event benchmarks: servicekit's outbox -> relay -> consumer path beside raw kombu.

(a) Sustained load: the script commits business rows and their outbox events at RATE events/s,
    PER_TX events per transaction (`--load RATExPER_TX`, default 1000x10 and 300x1), for
    `--duration` s (open loop, from `--producer-procs` processes of `--producer-threads` threads,
    like a web server's workers); the relay and the
    consumer workers (servicekit `Worker`, separate processes, PostgreSQL) carry them; the
    consumer records the time its transaction committed. Reported: latency business commit ->
    consumer commit p50 / p99 / max, and the p50 of the first and of the last 5 s (a growing
    backlog shows as a rising p50). Beside raw kombu publish (persistent, no confirm) ->
    consume + ack at the same rate and in the same bursts, same run.
(b) Consumer drain: `--drain-events` events queued (valid envelopes), then a consumer worker
    drains them (inbox row + a one-row handler each, acked after commit); events/s from its
    first handler call to its last commit, beside raw kombu consume + ack of the same messages
    (first callback to last ack; the mean of one raw drain before the consumer's and one after).
    The databases are settled first (VACUUM ANALYZE, CHECKPOINT, no autovacuum worker running:
    the state is printed), so that what the load phases left does not run during the drain.
(c) Relay throughput: `--throughput-events` outbox rows published (batched confirms) and
    marked, beside raw kombu publishing with a confirm wait per message.
(d) `--knee`: short runs at rising offered rates for each path (outbox 10/tx, outbox 1/tx, raw
    kombu) until its backlog grows; each row says whether p99 exceeded `--knee-p99` ms.
Each load run also reports, per event, the CPU time of the relay and consumer processes and
the time their threads spent runnable but waiting for a CPU (/proc schedstat), and their
garbage collections during the load (count, longest and total pause per generation).
`--trace`: the relay and the consumer stamp each event's steps (bench/event_trace.py) and a
table of where the time goes is printed after each load run.
`--profile DIR`: py-spy samples the consumer worker during (a) and (b); a summary of where its
CPU time goes is printed, the raw stacks are kept in DIR.

Needs PostgreSQL (postgres@127.0.0.1:5432, trust) and RabbitMQ (guest@127.0.0.1:5672,
rabbitmqctl); creates its own databases and vhost and removes them at the end.

    .venv/bin/python bench/events.py [--load 1000x10 --load 300x1] [--duration 30]
        [--drain-events 20000] [--throughput-events 10000] [--knee] [--profile DIR]
"""
from __future__ import annotations

import argparse
import atexit
import gc
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import amqp
import kombu
import psycopg
import sqlalchemy as sa
from sqlalchemy.orm import Session

import event_trace
from contracts.envelope import Envelope, EventPayload
from servicekit.db import Database, declarative_base
from servicekit.messaging.broker import close_quietly, connect, events_exchange
from servicekit.messaging.consumer import declare_topology
from servicekit.messaging.outbox import add_event, add_events
from servicekit.messaging.relay import Relay
from servicekit.messaging.worker import Worker
from servicekit.settings import ServiceSettings
from servicekit.testing import create_pg_database, create_vhost, delete_vhost, drop_pg_database, wait_until

PRODUCER = "benchprod"
CONSUMER = "benchcons"
CONSUMER_QUEUE = f"{CONSUMER}.receive"
# 300 one-event transactions a second need about 10-30 in flight on a loaded 2-core machine
# (each waits for its commit's WAL flush): several processes, like a web server's workers.
PRODUCER_PROCS = 3
PRODUCER_THREADS = 8
WINDOW_SECONDS = 5.0

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


def paced(ticks_per_second: float, duration: float):
    """Yield at `ticks_per_second` for `duration` s (open loop: no catch-up bursts hidden)."""
    start = time.perf_counter()
    for i in range(int(ticks_per_second * duration)):
        delay = start + i / ticks_per_second - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        yield i


# --- subprocess roles -----------------------------------------------------------------------
def gc_pauses(role: str) -> None:
    """Record the process's garbage collections (generation, seconds) and write them to
    $BENCH_GC/<role>.json at exit: a collection stops every thread of the process."""
    if not os.environ.get("BENCH_GC"):
        return
    pauses: list[tuple[int, float, float]] = []  # generation, time.time() at its start, seconds
    started: list[float] = []

    def on_gc(phase, info):
        if phase == "start":
            started[:] = [time.time(), time.perf_counter()]
        elif started:
            pauses.append((info["generation"], started[0], time.perf_counter() - started[1]))

    gc.callbacks.append(on_gc)
    atexit.register(lambda: Path(os.environ["BENCH_GC"], f"{role}.json").write_text(json.dumps(pauses)))


def gc_summary(directory: str, role: str, since: float, until: float) -> str:
    """The collections of `role` between `since` and `until` (time.time()): the load's."""
    try:
        pauses = json.loads(Path(directory, f"{role}.json").read_text())
    except (OSError, ValueError):
        return f"{role}: no GC record"
    pauses = [(gen, p) for gen, at, p in pauses if since <= at <= until]
    if not pauses:
        return f"{role}: no collection"
    by_gen = {g: [p for gen, p in pauses if gen == g] for g in (0, 1, 2)}
    return f"{role}: " + ", ".join(
        f"gen{g} {len(v)} x, max {max(v) * 1e3:.1f} ms, total {sum(v) * 1e3:.0f} ms" for g, v in by_gen.items() if v)


def run_relay() -> None:
    settings = ServiceSettings(service=PRODUCER, database_url=os.environ["BENCH_DB"], amqp_url=os.environ["BENCH_AMQP"])
    trace = event_trace.install_relay() if os.environ.get("BENCH_TRACE") else None
    gc_pauses("relay")
    Worker(settings, Database(settings.database_url)).run()
    if trace is not None:
        event_trace.dump(trace, os.environ["BENCH_TRACE"] + "/relay.json")


def consumer_worker(database_url: str, amqp_url: str) -> Worker:
    settings = ServiceSettings(service=CONSUMER, database_url=database_url, amqp_url=amqp_url)
    tuning = {k: int(os.environ[f"BENCH_{k.upper()}"]) for k in ("prefetch", "consumer_threads")
              if os.environ.get(f"BENCH_{k.upper()}")}
    worker = Worker(settings, Database(settings.database_url), **tuning)
    insert_receipt = receipts.insert()  # built once, as a handler would keep its statements

    @worker.handler(PRODUCER, OrderPlaced.EVENT_TYPE, "receive")
    def receive(session, envelope):  # a one-row handler
        session.execute(insert_receipt, {"event_id": envelope.id, "label": envelope.data["label"]})
        session.info.setdefault("bench_ids", []).append(envelope.id)

    return worker


def run_consumer(out: str) -> None:
    trace = event_trace.install_consumer() if os.environ.get("BENCH_TRACE") else None
    gc_pauses("consumer")
    worker = consumer_worker(os.environ["BENCH_DB"], os.environ["BENCH_AMQP"])
    committed: dict[str, float] = {}
    cpu: list[float] = []  # process CPU time at the first and the last commit

    @sa.event.listens_for(Session, "after_commit")
    def stamp(session):
        ids = session.info.pop("bench_ids", None)
        if ids:
            now = time.time()
            for event_id in ids:
                committed[event_id] = now
            cpu[1:] = [time.process_time()]
            if len(cpu) == 1:
                cpu.insert(0, cpu[0])

    @sa.event.listens_for(Session, "after_rollback")
    def forget(session):
        session.info.pop("bench_ids", None)

    worker.run()
    Path(out).write_text(json.dumps({"committed": committed, "cpu": cpu}))
    if trace is not None:
        event_trace.dump(trace, os.environ["BENCH_TRACE"] + "/consumer.json")


def run_raw_consumer(out: str, queue: str, expected: int) -> None:
    """Raw kombu consume + ack (no QoS limit: the broker pushes as fast as it can)."""
    latencies: list[float] = []
    stamps: list[float] = []
    cpu: list[float] = []
    with kombu.Connection(os.environ["BENCH_AMQP"]) as conn:
        def on_message(body, message):
            now = time.time()
            if "sent_at" in body:
                latencies.append(now - body["sent_at"])  # kombu decoded the JSON
            message.ack()
            stamps.append(time.time())
            cpu[1:] = [time.process_time()]
            if len(cpu) == 1:
                cpu.insert(0, cpu[0])

        with kombu.Consumer(conn, [kombu.Queue(queue, durable=True, auto_delete=False)], callbacks=[on_message],
                            accept=["json"]):
            print("ready", flush=True)
            while len(stamps) < expected:
                try:
                    conn.drain_events(timeout=30)
                except TimeoutError:
                    break
    Path(out).write_text(json.dumps({"latencies": latencies, "first": stamps[0] if stamps else 0,
                                     "last": stamps[-1] if stamps else 0, "count": len(stamps), "cpu": cpu}))


# --- orchestration ----------------------------------------------------------------------------
def schedstat(pid: int) -> tuple[float, float, int]:
    """(CPU seconds, seconds spent runnable but waiting for a CPU, times put on a CPU) of all
    threads of `pid` so far (Linux /proc/<pid>/task/*/schedstat; zeros where it is not
    available). The last counts wake-ups (and preemptions): each one may wait for a CPU."""
    cpu = wait = 0.0
    slices = 0
    for path in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            on_cpu, runqueue, runs = path.read_text().split()
        except (OSError, ValueError):
            continue
        cpu += int(on_cpu) / 1e9
        wait += int(runqueue) / 1e9
        slices += int(runs)
    return cpu, wait, slices


def spawn(*args: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, *args], env={**os.environ, **env},
                            stdout=subprocess.PIPE if args[0] == "_raw_consumer" else subprocess.DEVNULL,
                            text=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


def queue_info(amqp_url: str, queue: str):
    conn = connect(amqp_url)
    try:
        return conn.channel().queue_declare(queue, passive=True)
    finally:
        close_quietly(conn)


def queue_has_consumer(amqp_url: str, queue: str) -> bool:
    try:
        return queue_info(amqp_url, queue).consumer_count > 0
    except Exception:
        return False


def count(db: Database, table: sa.Table) -> int:
    with db.read() as s:
        return s.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def reset(*dbs: Database) -> None:
    for db in dbs:
        with db.transaction() as s:
            s.execute(sa.text("TRUNCATE orders, receipts, inbox, outbox"))


def py_spy() -> str | None:
    return shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))


class Profiler:
    """py-spy attached to a process for a while: wall-clock samples (waits included)."""

    def __init__(self, directory: Path | None, name: str, pid: int):
        self.proc = None
        self.path = directory / f"{name}.txt" if directory else None
        if self.path:
            self.proc = subprocess.Popen([py_spy(), "record", "--pid", str(pid), "--rate", "200", "--format", "raw",
                                          "--nonblocking", "--threads", "--idle", "-o", str(self.path)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def finish(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(60)


@dataclass
class Load:
    rate: float
    per_tx: int

    @classmethod
    def parse(cls, text: str) -> "Load":
        rate, _, per_tx = text.partition("x")
        return cls(float(rate), int(per_tx or 1))

    def __str__(self) -> str:
        return f"{self.rate:.0f} events/s, {self.per_tx} per transaction"


def window_stats(samples: list[tuple[float, float]], duration: float) -> dict:
    """samples: (commit time since the start, latency); p50 of the first and last windows."""
    window = min(WINDOW_SECONDS, duration / 3)
    latencies = [lat for _, lat in samples]
    first = [lat for t, lat in samples if t < window]
    last = [lat for t, lat in samples if t >= duration - window]
    # Every window's p50 too: a growing backlog climbs window after window; noise does not.
    windows = [[lat for t, lat in samples if start <= t < start + window]
               for start in (i * window for i in range(max(1, round(duration / window))))]
    return {"p50": statistics.median(latencies), "p99": percentile(latencies, 99), "max": max(latencies),
            "p50_first": statistics.median(first) if first else float("nan"),
            "p50_last": statistics.median(last) if last else float("nan"), "n": len(latencies),
            "p50_windows": [statistics.median(w) if w else float("nan") for w in windows]}


def run_producer(out: str, rate: float, per_tx: int, duration: float, threads: int) -> None:
    """One producer process: commits orders and their events at `rate` events/s, `per_tx` per
    transaction, from `threads` threads (each with its own pooled connection), like one web
    server process; starts when the orchestrator writes the start time on stdin."""
    producer_db = Database(os.environ["BENCH_DB"], pool_size=threads, max_overflow=0)

    def place(tick: int) -> list[tuple[str, float]]:
        ids = [str(uuid.uuid4()) for _ in range(per_tx)]
        with producer_db.transaction() as s:
            s.execute(orders.insert(), [{"id": i, "label": f"order {tick}"} for i in ids])
            # As a cart validation writes them: one outbox INSERT and one relay wake-up for all.
            events = add_events(s, PRODUCER, [OrderPlaced(order_id=i, label=f"order {tick}") for i in ids])
        now = time.time()
        return [(e.id, now) for e in events]

    with ThreadPoolExecutor(threads) as pool:
        for f in [pool.submit(place, -1) for _ in range(2 * threads)]:  # warm-up: connections, caches
            f.result()
        print("ready", flush=True)
        start_at = float(sys.stdin.readline())
        time.sleep(max(0.0, start_at - time.time()))
        futures = [pool.submit(place, tick) for tick in paced(rate / per_tx, duration)]
        commits = dict(pair for f in futures for pair in f.result())
    producer_db.dispose()
    Path(out).write_text(json.dumps(commits))


def produce(producer_db: Database, load: Load, duration: float, workdir: Path, procs: int,
            threads: int) -> tuple[dict[str, float], float, float]:
    """Commit orders and their events at the load's rate from `procs` processes of `threads`
    threads each; {event id: commit time}, start, achieved rate."""
    outs = [workdir / f"producer-{n}.json" for n in range(procs)]
    producers = [subprocess.Popen([sys.executable, __file__, "_producer", str(out), str(load.rate / procs),
                                   str(load.per_tx), str(duration), str(threads)],
                                  env={**os.environ, "BENCH_DB": producer_db.url}, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True) for out in outs]
    try:
        for p in producers:
            assert p.stdout.readline().strip() == "ready"
        started = time.time() + 0.5
        for n, p in enumerate(producers):  # staggered so that their transactions interleave
            p.stdin.write(f"{started + n / (load.rate / load.per_tx):.6f}\n")
            p.stdin.flush()
        for p in producers:
            p.wait(duration + 300)
    finally:
        for p in producers:
            if p.poll() is None:
                p.kill()
    commits: dict[str, float] = {}
    for out in outs:
        commits.update(json.loads(out.read_text()))
    elapsed = max(commits.values()) - started
    return commits, started, len(commits) / elapsed


def pg_activity(producer_db: Database) -> tuple[int, int, int, int]:
    """PostgreSQL's checkpoints so far (timed, requested: the whole cluster, so other sessions'
    DROP DATABASE count too) and the producer's outbox autovacuums and autoanalyzes: what may run
    under a load besides the bench (a relay stall is looked for there first)."""
    with producer_db.read() as s:
        timed, requested = s.execute(sa.text("SELECT checkpoints_timed, checkpoints_req FROM pg_stat_bgwriter")).one()
        vacuums, analyzes = s.execute(sa.text(
            "SELECT autovacuum_count, autoanalyze_count FROM pg_stat_user_tables WHERE relname = 'outbox'")).one()
    return timed, requested, vacuums, analyzes


def bench_load(producer_db: Database, consumer_db: Database, amqp_url: str, load: Load, duration: float,
               workdir: Path, profile_dir: Path | None = None, raw: bool = True) -> dict:
    reset(producer_db, consumer_db)
    gc_dir = workdir / "gc"
    gc_dir.mkdir(exist_ok=True)
    env_p = {"BENCH_DB": producer_db.url, "BENCH_AMQP": amqp_url, "BENCH_GC": str(gc_dir)}
    env_c = {"BENCH_DB": consumer_db.url, "BENCH_AMQP": amqp_url, "BENCH_GC": str(gc_dir)}
    out = workdir / "consumer.json"
    consumer = spawn("_consumer", str(out), env=env_c)
    relay = spawn("_relay", env=env_p)
    profilers = []
    try:
        wait_until(lambda: queue_has_consumer(amqp_url, CONSUMER_QUEUE), timeout=30)
        profilers = [Profiler(profile_dir, f"{role}-load-{load.rate:.0f}x{load.per_tx}", proc.pid)
                     for role, proc in (("consumer", consumer), ("relay", relay))]
        sched_before = {"relay": schedstat(relay.pid), "consumer": schedstat(consumer.pid)}
        activity_before = pg_activity(producer_db)
        commits, started, achieved = produce(producer_db, load, duration, workdir, PRODUCER_PROCS, PRODUCER_THREADS)
        total = count(producer_db, orders)
        wait_until(lambda: count(consumer_db, receipts) >= total, timeout=120, interval=0.2)
        sched = {name: [after - before for after, before in zip(schedstat(proc.pid), sched_before[name])]
                 for name, proc in (("relay", relay), ("consumer", consumer))}
        activity = [after - before for after, before in zip(pg_activity(producer_db), activity_before)]
    finally:
        for profiler in profilers:
            profiler.finish()
        stop(relay)
        stop(consumer)
    consumed_at = json.loads(out.read_text())["committed"]
    if os.environ.get("BENCH_TRACE"):
        trace_dir = Path(os.environ["BENCH_TRACE"])
        print(f"\n{load}:", file=sys.stderr)
        print("\n".join(event_trace.breakdown(commits, json.loads((trace_dir / "relay.json").read_text()),
                                              json.loads((trace_dir / "consumer.json").read_text()), consumed_at)),
              file=sys.stderr)
    samples = [(t - started, consumed_at[e] - t) for e, t in commits.items()]
    # One stamp per consumer commit: distinct stamps count its transactions (batches).
    result = {"load": load, "achieved": achieved, "outbox": window_stats(samples, duration),
              "batches": len(set(consumed_at.values())), "pg_activity": activity,
              "gc": "; ".join(gc_summary(str(gc_dir), role, started, max(consumed_at.values()))
                              for role in ("relay", "consumer")),
              "sched": {name: {"cpu": cpu / len(commits), "runqueue": wait / len(commits),
                               "slices": slices / len(commits)}
                        for name, (cpu, wait, slices) in sched.items()}}
    with producer_db.read() as s:
        published_at = {e: t.timestamp() for e, t in s.execute(
            sa.text("SELECT event_id, published_at FROM outbox WHERE published_at IS NOT NULL"))}
    result["relay_leg"] = window_stats([(t - started, published_at[e] - t) for e, t in commits.items()], duration)
    if raw:
        result["raw"] = bench_raw_load(amqp_url, load, duration, workdir)
    return result


def bench_raw_load(amqp_url: str, load: Load, duration: float, workdir: Path) -> dict:
    """Raw kombu at the same rate and bursts: publish (persistent, no confirm) -> consume + ack."""
    queue = f"bench.raw.{uuid.uuid4().hex[:6]}"
    raw_out = workdir / "raw.json"
    with kombu.Connection(amqp_url) as conn:
        kombu.Queue(queue, durable=True, auto_delete=False)(conn.default_channel).declare()
        ticks = int(load.rate / load.per_tx * duration)
        raw_consumer = spawn("_raw_consumer", str(raw_out), queue, str(ticks * load.per_tx), env={"BENCH_AMQP": amqp_url})
        assert raw_consumer.stdout.readline().strip() == "ready"
        producer = kombu.Producer(conn, routing_key=queue, serializer="json")
        started = time.time()
        sent = []
        for i in paced(load.rate / load.per_tx, duration):
            for _ in range(load.per_tx):
                now = time.time()
                producer.publish({"n": i, "sent_at": now}, delivery_mode=2)
                sent.append(now - started)
        raw_consumer.wait(120)
        kombu.Queue(queue)(conn.default_channel).delete()
    latencies = json.loads(raw_out.read_text())["latencies"]
    return window_stats(list(zip(sent, latencies)), duration)


def envelope_body(i: int) -> tuple[str, bytes]:
    envelope = Envelope(type=OrderPlaced.EVENT_TYPE, source=PRODUCER,
                        data=OrderPlaced(order_id=str(uuid.uuid4()), label=f"order {i}").model_dump(mode="json"),
                        correlation_id=uuid.uuid4().hex)
    return envelope.id, envelope.model_dump_json().encode()


def fill(amqp_url: str, exchange: str, routing_key: str, queue: str, bodies: list[tuple[str, bytes]]) -> None:
    conn = connect(amqp_url)
    try:
        channel = conn.channel()
        channel.confirm_select()
        for event_id, body in bodies:
            channel.basic_publish(amqp.Message(body, content_type="application/json", content_encoding="utf-8",
                                               delivery_mode=2, message_id=event_id),
                                  exchange=exchange, routing_key=routing_key)
    finally:
        close_quietly(conn)
    wait_until(lambda: queue_info(amqp_url, queue).message_count == len(bodies), timeout=60, interval=0.2)


def settle(dbs: list[Database], timeout: float = 60) -> str:
    """Before a drain: VACUUM ANALYZE the bench's tables and CHECKPOINT (what the load phases left
    for autovacuum and the checkpointer is done now, not during the drain), then wait until no
    autovacuum worker runs (at most `timeout` s). Returns the state it left, for the report."""
    started = time.monotonic()
    conninfo = [sa.make_url(db.url).set(drivername="postgresql").render_as_string(hide_password=False) for db in dbs]
    for info in conninfo:  # own autocommit connections (VACUUM cannot run in a transaction)
        with psycopg.connect(info, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE orders, receipts, inbox, outbox")
    with psycopg.connect(conninfo[0], autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        running = lambda: conn.execute(  # noqa: E731
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'").fetchone()[0]
        while running() and time.monotonic() - started < timeout:
            time.sleep(0.5)
        workers = running()
    return (f"VACUUM ANALYZE + CHECKPOINT done in {time.monotonic() - started:.1f} s, {workers} autovacuum "
            f"worker(s) running, load average {os.getloadavg()[0]:.2f}")


def raw_drain(amqp_url: str, bodies: list[tuple[str, bytes]], workdir: Path) -> dict:
    """Raw kombu consume + ack of `bodies` queued beforehand: events/s and CPU per event."""
    n = len(bodies)
    queue = "bench.raw.drain"
    with kombu.Connection(amqp_url) as kconn:
        kombu.Queue(queue, durable=True, auto_delete=False)(kconn.default_channel).declare()
    fill(amqp_url, "", queue, queue, bodies)
    raw_out = workdir / "raw_drain.json"
    raw_consumer = spawn("_raw_consumer", str(raw_out), queue, str(n), env={"BENCH_AMQP": amqp_url})
    raw_consumer.stdout.readline()
    raw_consumer.wait(300)
    raw = json.loads(raw_out.read_text())
    assert raw["count"] == n
    return {"rate": (n - 1) / (raw["last"] - raw["first"]), "cpu": (raw["cpu"][1] - raw["cpu"][0]) / (n - 1)}


def bench_drain(dbs: list[Database], amqp_url: str, n: int, workdir: Path, profile_dir: Path | None) -> dict:
    """The consumer's drain between two raw kombu drains of the same messages (the raw figure
    is their mean: the machine's state moves between phases), on settled databases."""
    consumer_db = dbs[1]
    reset(consumer_db)
    state = settle(dbs)
    bodies = [envelope_body(i) for i in range(n)]
    raw_before = raw_drain(amqp_url, bodies, workdir)
    worker = consumer_worker(consumer_db.url, amqp_url)
    conn = connect(amqp_url)
    try:
        declare_topology(conn.channel(), worker.handlers, worker.policy)
    finally:
        close_quietly(conn)
    fill(amqp_url, events_exchange(PRODUCER).name, OrderPlaced.EVENT_TYPE, CONSUMER_QUEUE, bodies)

    out = workdir / "drain.json"
    consumer = spawn("_consumer", str(out), env={"BENCH_DB": consumer_db.url, "BENCH_AMQP": amqp_url})
    profiler = Profiler(profile_dir, "consumer-drain", consumer.pid)
    try:
        wait_until(lambda: count(consumer_db, receipts) >= n, timeout=300, interval=0.2)
    finally:
        profiler.finish()
        stop(consumer)
    drained = json.loads(out.read_text())
    stamps = drained["committed"]
    assert len(stamps) == n, f"{len(stamps)} of {n} drained"
    # The first batch's commit bounds its first handler call from above: time from the first
    # commit to the last, plus one batch's worth at the measured pace.
    times = sorted(stamps.values())
    first_batch = sum(1 for t in times if t == times[0])
    kit_rate = (n - first_batch) / (times[-1] - times[0])
    raw_after = raw_drain(amqp_url, bodies, workdir)
    return {"n": n, "kit": kit_rate, "raw": (raw_before["rate"] + raw_after["rate"]) / 2,
            "raw_each": (raw_before["rate"], raw_after["rate"]),
            "kit_cpu": (drained["cpu"][1] - drained["cpu"][0]) / (n - first_batch),
            "raw_cpu": (raw_before["cpu"] + raw_after["cpu"]) / 2, "state": state}


def bench_throughput(producer_db: Database, amqp_url: str, n: int) -> dict:
    reset(producer_db)
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
    assert queue_info(amqp_url, "bench.sink").message_count == n
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
    assert queue_info(amqp_url, "bench.sink").message_count == n
    with kombu.Connection(amqp_url) as conn:
        sink(conn.default_channel).delete()
    return {"relay": n / relay_seconds, "raw": n / raw_seconds, "n": n}


def backlog_grows(stats: dict) -> bool:
    """A path queues when its latency keeps growing over the run."""
    return stats["p50_last"] > max(2 * stats["p50_first"], stats["p50_first"] + 0.005)


def knee_verdict(stats: dict, p99_limit: float) -> str:
    reasons = []
    if stats["p99"] > p99_limit:
        reasons.append(f"p99 > {p99_limit * 1000:.0f} ms")
    if backlog_grows(stats):
        reasons.append("backlog grows")
    return ", ".join(reasons) or "no"


def bench_knee(dbs: list[Database], amqp_url: str, workdir: Path, duration: float, rates: list[int],
               p99_limit: float) -> list[str]:
    """Step the offered rate up, for each path, until its backlog grows (or the producer cannot
    offer the rate); the rows say where its p99 first exceeded `p99_limit` on the way."""
    lines = ["| path | offered (events/s) | achieved | p50 | p99 | p50 first / last window | knee? |",
             "|---|---|---|---|---|---|---|"]
    for per_tx in (10, 1):
        for rate in rates:
            r = bench_load(dbs[0], dbs[1], amqp_url, Load(rate, per_tx), duration, workdir, raw=False)
            o = r["outbox"]
            limited = r["achieved"] < 0.9 * rate
            lines.append(f"| outbox ({per_tx}/tx) | {rate} | {r['achieved']:.0f} | {ms(o['p50'])} | {ms(o['p99'])} | "
                         f"{ms(o['p50_first'])} / {ms(o['p50_last'])} | {knee_verdict(o, p99_limit)}"
                         f"{' (producer could not offer the rate)' if limited else ''} |")
            print(lines[-1], file=sys.stderr)
            if backlog_grows(o) or limited:
                break
    for rate in rates + [r for r in (6000, 8000) if r > rates[-1]]:
        raw = bench_raw_load(amqp_url, Load(rate, 1), duration, workdir)
        lines.append(f"| raw kombu | {rate} | | {ms(raw['p50'])} | {ms(raw['p99'])} | "
                     f"{ms(raw['p50_first'])} / {ms(raw['p50_last'])} | {knee_verdict(raw, p99_limit)} |")
        print(lines[-1], file=sys.stderr)
        if backlog_grows(raw):
            break
    return lines


# --- profile summary --------------------------------------------------------------------------
CATEGORIES = [  # first match wins, on the whole stack of a sample
    ("savepoints (SAVEPOINT / RELEASE round trips)", ("_savepoint_impl", "_release_savepoint_impl")),
    ("commit (waits for PostgreSQL's WAL flush)", ("_commit_impl",)),
    ("BEGIN (psycopg's own round trip before the first statement)", ("_start_query",)),
    ("inbox insert", ("inbox.py",)),
    ("handler (one-row insert)", ("receive (",)),
    ("acks and re-publishes to RabbitMQ", ("basic_ack", "_republish", "_settle", "ConfirmingPublisher")),
    ("reading or waiting for deliveries (py-amqp)", ("drain_events",)),
    ("envelope parsing (pydantic)", ("model_validate_json",)),
    ("metrics", ("prometheus_client",)),
    ("session begin / close (SQLAlchemy)", ("Session.close", "Session.begin", "sessionmaker", "__exit__")),
]


RELAY_CATEGORIES = [  # first match wins, on the whole stack of a sample
    ("BEGIN (psycopg's own round trip before the first statement)", ("_start_query",)),
    ("pool pre-ping (SELECT 1 at checkout)", ("do_ping", "_do_ping")),
    ("commit", ("_commit_impl",)),
    ("waiting for the broker's confirms", ("ConfirmingPublisher.publish", "drain_events")),
    ("publishing (building and writing the messages)", ("_publish",)),
    ("claim (SELECT ... FOR UPDATE SKIP LOCKED)", ("_claim",)),
    ("mark published (UPDATE)", ("_record",)),
    ("idle: waiting for a NOTIFY (LISTEN)", ("NotifyWaiter.wait", "notifies")),
    ("rest of the round (the old SET LOCAL, session set-up)", ("relay_once",)),
]


def summarize_profile(path: Path) -> list[str]:
    """Share of the consumer (or relay) threads' wall-clock samples per activity, and the
    hottest leaf frames."""
    relay = path.name.startswith("relay-")
    categories = RELAY_CATEGORIES if relay else CATEGORIES
    by_category, leaves, total = Counter(), Counter(), 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if relay:
            if "Relay.run" not in stack:
                continue
        elif "consumers" not in stack.split(";", 1)[0] and "ConsumerLoop" not in stack:
            continue  # another thread (relay, jobs)
        n = int(n)
        total += n
        frames = stack.split(";")
        category = next((name for name, keys in categories if any(k in stack for k in keys)), "other (loop, logging, ...)")
        by_category[category] += n
        leaves[frames[-1].split(" (")[0] + " (" + frames[-1].split(" (")[-1].split(":")[0].rsplit("/", 1)[-1] + ")"] += n
    if not total:
        return [f"{path.name}: no samples of the {'relay' if relay else 'consumer'} thread"]
    lines = [f"{path.name}: {total} wall-clock samples of the {'relay' if relay else 'consumer'} thread(s)",
             "| activity | share |", "|---|---|"]
    lines += [f"| {name} | {100 * n / total:.0f}% |" for name, n in by_category.most_common()]
    lines += ["", "| hottest leaf frames | share |", "|---|---|"]
    lines += [f"| `{name}` | {100 * n / total:.1f}% |" for name, n in leaves.most_common(12)]
    return lines


def ms(v: float) -> str:
    return f"{v * 1000:.1f} ms"


def main(argv: list[str]) -> int:
    global PRODUCER_PROCS, PRODUCER_THREADS  # noqa: PLW0603 (set from the arguments, read by bench_load)
    if argv[:1] == ["_relay"]:
        run_relay()
        return 0
    if argv[:1] == ["_consumer"]:
        run_consumer(argv[1])
        return 0
    if argv[:1] == ["_producer"]:
        run_producer(argv[1], float(argv[2]), int(argv[3]), float(argv[4]), int(argv[5]))
        return 0
    if argv[:1] == ["_raw_consumer"]:
        run_raw_consumer(argv[1], argv[2], int(argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", type=Load.parse, action="append", help="RATExPER_TX, e.g. 1000x10 (repeatable)")
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--drain-events", type=int, default=20000)
    parser.add_argument("--throughput-events", type=int, default=10000)
    parser.add_argument("--knee", action="store_true", help="also find the rate where each path starts to queue")
    parser.add_argument("--knee-duration", type=float, default=12)
    parser.add_argument("--knee-rates", type=lambda v: [int(x) for x in v.split(",")],
                        default=[100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 4000], help="comma-separated events/s")
    parser.add_argument("--knee-p99", type=float, default=50, help="ms: the p99 the knee table flags")
    parser.add_argument("--producer-procs", type=int, default=PRODUCER_PROCS)
    parser.add_argument("--producer-threads", type=int, default=PRODUCER_THREADS, help="per producer process")
    parser.add_argument("--profile", type=Path, help="sample the consumer with py-spy, raw stacks into this directory")
    parser.add_argument("--prefetch", type=int, help="the consumer Worker's prefetch (default: the Worker's)")
    parser.add_argument("--consumer-threads", type=int, help="the consumer Worker's threads (default: the Worker's)")
    parser.add_argument("--trace", action="store_true",
                        help="stamp each event's steps in the relay and consumer (bench/event_trace.py) and print "
                             "where the time goes after each load run (stderr)")
    parser.add_argument("--skip", action="append", default=[], choices=["load", "drain", "throughput"])
    args = parser.parse_args(argv)
    loads = args.load or [Load(1000, 10), Load(300, 1)]
    PRODUCER_PROCS, PRODUCER_THREADS = args.producer_procs, args.producer_threads
    if args.profile:
        if not py_spy():
            parser.error("--profile needs py-spy (pip install py-spy)")
        args.profile.mkdir(parents=True, exist_ok=True)

    if args.trace:
        os.environ["BENCH_TRACE"] = tempfile.mkdtemp(prefix="events-trace-")
    for name in ("prefetch", "consumer_threads"):
        if getattr(args, name):
            os.environ[f"BENCH_{name.upper()}"] = str(getattr(args, name))
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}, load average {os.getloadavg()[0]:.2f} at start")
    vhost, amqp_url = create_vhost("bench")
    urls = [create_pg_database("bench") for _ in range(2)]
    dbs = [Database(u) for u in urls]
    results, drain, thr, knee = [], None, None, []
    try:
        for db in dbs:
            Base.metadata.create_all(db.engine)
        with tempfile.TemporaryDirectory() as tmp:
            if "load" not in args.skip:
                for load in loads:
                    results.append(bench_load(dbs[0], dbs[1], amqp_url, load, args.duration, Path(tmp), args.profile))
                    print(f"load {load} done, load average {os.getloadavg()[0]:.2f}", file=sys.stderr)
            if "drain" not in args.skip:
                drain = bench_drain(dbs, amqp_url, args.drain_events, Path(tmp), args.profile)
                print(f"drain done, load average {os.getloadavg()[0]:.2f}", file=sys.stderr)
            if "throughput" not in args.skip:
                thr = bench_throughput(dbs[0], amqp_url, args.throughput_events)
            if args.knee:
                knee = bench_knee(dbs, amqp_url, Path(tmp), args.knee_duration, args.knee_rates, args.knee_p99 / 1000)
    finally:
        for db in dbs:
            db.dispose()
        for u in urls:
            drop_pg_database(u)
        delete_vhost(vhost)

    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    for r in results:
        o, raw, leg = r["outbox"], r.get("raw"), r["relay_leg"]
        verdict = "met" if o["p99"] <= 0.050 and o["p50_last"] <= o["p50_first"] else "NOT met"  # issue 11
        print(f"\n(a) {r['load']} for {args.duration:.0f} s ({o['n']} events, producer achieved {r['achieved']:.0f} events/s)")
        w = f"{min(WINDOW_SECONDS, args.duration / 3):g} s"
        print(f"| path | p50 | p99 | max | p50 first {w} | p50 last {w} |")
        print("|---|---|---|---|---|---|")
        print(f"| outbox -> relay -> consumer commit | {ms(o['p50'])} | {ms(o['p99'])} | {ms(o['max'])} | "
              f"{ms(o['p50_first'])} | {ms(o['p50_last'])} |")
        print(f"| of which commit -> relay marked published | {ms(leg['p50'])} | {ms(leg['p99'])} | {ms(leg['max'])} | "
              f"{ms(leg['p50_first'])} | {ms(leg['p50_last'])} |")
        if raw:
            print(f"| raw kombu publish -> consume + ack | {ms(raw['p50'])} | {ms(raw['p99'])} | {ms(raw['max'])} | "
                  f"{ms(raw['p50_first'])} | {ms(raw['p50_last'])} |")
        print(f"goal p99 <= 50 ms and p50 of the last window <= the first: {verdict}")
        for name, stats in (("path", o), ("raw kombu", raw)):
            if stats:
                print(f"p50 per {w} window, {name}: " + " / ".join(ms(v) for v in stats["p50_windows"]))
        sched = r["sched"]
        print("per event, worker processes: " + "; ".join(
            f"{name} {v['cpu'] * 1e6:.0f} us on a CPU, {v['runqueue'] * 1e6:.0f} us runnable waiting for one, "
            f"put on a CPU {v['slices']:.1f} times" for name, v in sched.items()))
        print(f"consumer transactions: {r['batches']} ({o['n'] / r['batches']:.2f} events each; per transaction: "
              f"consumer {sched['consumer']['cpu'] * o['n'] / r['batches'] * 1e6:.0f} us on a CPU, put on a CPU "
              f"{sched['consumer']['slices'] * o['n'] / r['batches']:.1f} times)")
        print(f"garbage collections in the worker processes during the load: {r['gc']}")
        timed, requested, vacuums, analyzes = r["pg_activity"]
        print(f"PostgreSQL during the load: checkpoints {timed} timed, {requested} requested (whole cluster); "
              f"the producer's outbox: {vacuums} autovacuum(s), {analyzes} autoanalyze(s)")
        if r["achieved"] < 0.9 * r["load"].rate:
            print(f"(the producer committed only {r['achieved']:.0f} of {r['load'].rate:.0f} events/s: "
                  "the machine could not offer the load, so this run does not test the goal at that rate)")
    if drain:
        print(f"\n(b) consumer drain of {drain['n']} queued events ({drain['state']})")
        print("| path | events/s | CPU of the consuming process per event |\n|---|---|---|")
        print(f"| consumer worker: inbox row + one-row handler, ack after commit (PostgreSQL) | {drain['kit']:.0f} | "
              f"{drain['kit_cpu'] * 1e6:.0f} us |")
        print(f"| raw kombu consume + ack (mean of a drain before and one after: "
              f"{drain['raw_each'][0]:.0f} / {drain['raw_each'][1]:.0f}) | {drain['raw']:.0f} | "
              f"{drain['raw_cpu'] * 1e6:.0f} us |")
        print(f"ratio consumer/raw: {drain['kit'] / drain['raw']:.2f} (goal >= 0.5)")
    if thr:
        print(f"\n(c) publish throughput ({thr['n']} events each)")
        print("| path | events/s |\n|---|---|")
        print(f"| relay: PostgreSQL outbox, batched confirms, rows marked published | {thr['relay']:.0f} |")
        print(f"| raw kombu publish, confirm per message | {thr['raw']:.0f} |")
        print(f"throughput ratio relay/raw: {thr['relay'] / thr['raw']:.1f}x (goal >= 3x)")
    if knee:
        print(f"\n(d) knee: {args.knee_duration:.0f} s per rate; backlog grows = p50 of the last window > 2x the first "
              f"(and +5 ms); the p99 limit is {args.knee_p99:.0f} ms")
        print("\n".join(knee))
    if args.profile:
        for path in sorted([*args.profile.glob("consumer-*.txt"), *args.profile.glob("relay-*.txt")]):
            print()
            print("\n".join(summarize_profile(path)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
