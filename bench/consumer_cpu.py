"""What one consumed event costs the consumer, in process (issue 11): CPU, Python calls, SQL
statements and broker frames per event, without the noise of a loaded machine's scheduling.

    .venv/bin/python bench/consumer_cpu.py [--events 5000] [--rounds 3] [--threads 1]
        [--count-calls] [--profile FILE] [--phases]

The drain of bench/events.py in this process: `--events` valid envelopes queued, then a
servicekit `Worker` with `--threads` consumer threads (bench/events.py's handler: inbox row +
one-row insert) drains them on PostgreSQL; each round on a fresh queue and emptied tables.
Prints per event: the CPU time of the consumer threads (from their start to their last commit;
best of `--rounds`, the least disturbed) and of the whole process, SQL statements sent (counted
at psycopg's level, the COMMIT included), and with `--count-calls` the Python and C calls of the consumer threads instead of the CPU (a
profile hook, which slows them down). Calls and statements do not move with the machine's
load, so two versions of the code compare on them even on a busy machine (the old one with
PYTHONPATH at its checkout's libs/servicekit). `--profile FILE` writes a cProfile of the
consumer threads (pstats) and prints its top functions. `--phases` prints where a batch's wall
time goes (median, p90 per batch, in µs): reading deliveries off the socket, the inbox claim,
the handlers, the commit (from the last handler to the transaction's end: the pipeline's last
round trip with PostgreSQL's WAL flush, then the session's commit), the ack, and the rest; with
`--prefetch 2` every batch is a lone event.
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import threading
import time
from pathlib import Path

import psycopg
import sqlalchemy as sa
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent))
import events  # noqa: E402  (bench/events.py: its tables, handler, envelopes and queue filling)
from servicekit.messaging import consumer as consumer_module, inbox  # noqa: E402
from servicekit.messaging.broker import close_quietly, connect, events_exchange  # noqa: E402
from servicekit.messaging.consumer import declare_topology  # noqa: E402
from servicekit.testing import create_pg_database, create_vhost, delete_vhost, drop_pg_database  # noqa: E402


class Probe:
    """What the consumer threads did during one drain."""

    def __init__(self, expected: int, count_calls: bool, profile: cProfile.Profile | None):
        self.expected = expected
        self.committed = 0
        self.commits = 0
        self.statements = 0
        self.calls = 0
        self.thread_cpu: dict[int, tuple[float, float]] = {}  # thread -> (start, last commit)
        self.process_cpu: list[float] = []
        self.done = threading.Event()
        self.count_calls = count_calls
        self.profile = profile
        self.lock = threading.Lock()

    def count(self, frame, event, arg):
        if event in ("call", "c_call"):
            self.calls += 1  # under the GIL: good enough for a count of millions

    def wrap_run(self, run):
        probe = self

        def measured_run(loop, stop):
            probe.thread_cpu[threading.get_ident()] = (time.thread_time(), time.thread_time())
            if probe.count_calls:
                sys.setprofile(probe.count)
            elif probe.profile is not None:
                probe.profile.enable()
            try:
                run(loop, stop)
            finally:
                if probe.count_calls:
                    sys.setprofile(None)
                elif probe.profile is not None:
                    probe.profile.disable()
        return measured_run

    def on_commit(self, session: Session) -> None:
        ids = session.info.pop("bench_ids", None)
        if not ids:
            return
        with self.lock:
            if not self.process_cpu:
                self.process_cpu.append(time.process_time())
            self.committed += len(ids)
            self.commits += 1
            start, _ = self.thread_cpu[threading.get_ident()]
            self.thread_cpu[threading.get_ident()] = (start, time.thread_time())
            if self.committed >= self.expected:
                self.process_cpu.append(time.process_time())
                self.done.set()


class Phases:
    """Wall time of each step of the consumer's batches (perf_counter stamps around servicekit's methods)."""

    STEPS = ("read deliveries", "claim", "handlers", "commit", "ack", "rest")

    def __init__(self):
        self.batches: list[dict] = []
        self.current: dict = {}
        self.read = 0.0
        self.originals: list[tuple[object, str, object]] = []

    def timed(self, owner, name: str, on_done) -> None:
        original = getattr(owner, name)
        self.originals.append((owner, name, original))

        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                on_done(started, time.perf_counter())
        setattr(owner, name, wrapper)

    def install(self) -> None:
        loop = consumer_module.ConsumerLoop
        self.timed(loop, "_drain", lambda t0, t1: setattr(self, "read", self.read + t1 - t0))
        for claim in ("claim_all_or_fail", "claim_many"):
            self.timed(inbox, claim, lambda t0, t1: self._add("claim", t1 - t0))
        self.timed(loop, "_call", lambda t0, t1: (self._add("handlers", t1 - t0), self.current.__setitem__("called", t1)))
        self.timed(loop, "_transaction", lambda t0, t1: self._add("commit", t1 - self.current.pop("called", t1)))
        self.timed(loop, "_settle", lambda t0, t1: self._add("ack", t1 - t0))
        self.timed(loop, "_process_pending", self._batch_done)

    def uninstall(self) -> None:
        for owner, name, original in reversed(self.originals):
            setattr(owner, name, original)

    def _add(self, step: str, seconds: float) -> None:
        self.current[step] = self.current.get(step, 0.0) + seconds

    def _batch_done(self, t0: float, t1: float) -> None:
        batch, self.current = self.current, {}
        batch.pop("called", None)
        batch["read deliveries"], self.read = self.read, 0.0
        batch["rest"] = t1 - t0 - sum(v for k, v in batch.items() if k != "read deliveries")
        self.batches.append(batch)

    def report(self) -> str:
        def pct(values: list[float], q: float) -> float:
            values = sorted(values)
            return values[min(len(values) - 1, int(q * len(values)))] * 1e6
        rows = [f"{step} {pct(v, 0.5):.0f} / {pct(v, 0.9):.0f}"
                for step in self.STEPS if (v := [b.get(step, 0.0) for b in self.batches])]
        return f"phases per batch ({len(self.batches)} batches), median / p90 us: " + "; ".join(rows)


def drain_once(db_url: str, amqp_url: str, n: int, threads: int, prefetch: int | None, count_calls: bool,
               profile: cProfile.Profile | None, phases: Phases | None = None) -> dict:
    db = events.Database(db_url)
    events.reset(db)
    db.dispose()
    bodies = [events.envelope_body(i) for i in range(n)]
    os.environ["BENCH_CONSUMER_THREADS"] = str(threads)
    if prefetch:
        os.environ["BENCH_PREFETCH"] = str(prefetch)
    worker = events.consumer_worker(db_url, amqp_url)
    conn = connect(amqp_url)
    try:
        declare_topology(conn.channel(), worker.handlers, worker.policy)
    finally:
        close_quietly(conn)
    events.fill(amqp_url, events_exchange(events.PRODUCER).name, events.OrderPlaced.EVENT_TYPE,
                events.CONSUMER_QUEUE, bodies)

    probe = Probe(n, count_calls, profile)
    original_run = consumer_module.ConsumerLoop.run
    consumer_module.ConsumerLoop.run = probe.wrap_run(original_run)
    sa.event.listen(Session, "after_commit", probe.on_commit)

    # At psycopg's level: statements sent through servicekit.pg skip SQLAlchemy's events.
    original_execute = psycopg.Cursor.execute

    def statement(cursor, *args, **kwargs):
        if threading.current_thread().name.startswith(f"{events.CONSUMER}-consumers"):
            probe.statements += 1
        return original_execute(cursor, *args, **kwargs)

    psycopg.Cursor.execute = statement
    if phases is not None:
        phases.install()
    runner = threading.Thread(target=worker.run, name="worker")
    try:
        runner.start()
        if not probe.done.wait(600):
            raise AssertionError(f"only {probe.committed} of {n} events committed")
    finally:
        worker.stop()
        runner.join(60)
        consumer_module.ConsumerLoop.run = original_run
        psycopg.Cursor.execute = original_execute
        if phases is not None:
            phases.uninstall()
        sa.event.remove(Session, "after_commit", probe.on_commit)
        worker.db.dispose()
    consumer_cpu = sum(last - start for start, last in probe.thread_cpu.values())
    return {"consumer_cpu": consumer_cpu / n, "process_cpu": (probe.process_cpu[1] - probe.process_cpu[0]) / n,
            "statements": probe.statements / n, "calls": probe.calls / n, "batch": n / probe.commits}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="the Worker's consumer threads")
    parser.add_argument("--prefetch", type=int, help="the Worker's prefetch per thread (batches: half of it)")
    parser.add_argument("--count-calls", action="store_true")
    parser.add_argument("--profile", type=Path, help="cProfile of the consumer threads (pstats file)")
    parser.add_argument("--phases", action="store_true", help="where a batch's wall time goes (one thread)")
    args = parser.parse_args()
    import servicekit
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}, servicekit from {Path(servicekit.__file__).parent}, "
          f"load average {os.getloadavg()[0]:.2f}")
    vhost, amqp_url = create_vhost("benchcpu")
    db_url = create_pg_database("benchcpu")
    profile = cProfile.Profile(time.thread_time) if args.profile else None  # CPU, not waits
    results = []
    try:
        db = events.Database(db_url)
        events.Base.metadata.create_all(db.engine)
        db.dispose()
        for r in range(args.rounds):
            phases = Phases() if args.phases else None
            result = drain_once(db_url, amqp_url, args.events, args.threads, args.prefetch, args.count_calls, profile,
                                phases)
            results.append(result)
            calls = f"{result['calls']:.0f} calls per event, " if args.count_calls else ""
            print(f"round {r + 1}: consumer threads {result['consumer_cpu'] * 1e6:.0f} us CPU per event, process "
                  f"{result['process_cpu'] * 1e6:.0f} us, {result['statements']:.3f} statements, "
                  f"{result['batch']:.1f} events per transaction, {calls}load average {os.getloadavg()[0]:.2f}",
                  flush=True)
            if phases is not None:
                print(phases.report(), flush=True)
    finally:
        drop_pg_database(db_url)
        delete_vhost(vhost)
    best = min(results, key=lambda r: r["consumer_cpu"])
    print(f"best of {len(results)}: {best['consumer_cpu'] * 1e6:.0f} us CPU per event (consumer threads), "
          f"{best['process_cpu'] * 1e6:.0f} us (process), {best['statements']:.3f} SQL statements per event, "
          f"{best['batch']:.1f} events per transaction"
          + (f", {best['calls']:.0f} calls per event" if args.count_calls else ""))
    if profile is not None:
        profile.dump_stats(args.profile)
        pstats.Stats(str(args.profile)).sort_stats("tottime").print_stats(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
