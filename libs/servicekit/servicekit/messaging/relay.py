"""The outbox relay: publishes committed outbox rows to RabbitMQ, then marks them published.

Per round it takes up to `batch_size` unpublished rows whose back-off has expired, in `seq`
order, publishes them to their `<source>.events` exchange with `mandatory` and publisher
confirms (one wait per batch), then in the database:
- marks the confirmed rows published (`published_at`);
- leaves the others (unroutable or nacked) unpublished with attempts + 1, `last_error` and
  `next_attempt_at` (exponential back-off, capped), logs an error and counts them;
- parks a row refused `max_attempts` times (OUTBOX_MAX_ATTEMPTS; `parked_at`): it is no longer
  tried (an event nobody consumes would otherwise be re-sent every 30 s forever) and waits for
  an operator (`python -m <service> outbox parked|replay-parked`, servicekit.messaging.parking).

PostgreSQL: the rows are claimed with `FOR UPDATE SKIP LOCKED` inside the round's transaction,
so several relays (worker replicas) can run at once without publishing a row twice. The relay
sleeps on LISTEN `outbox_<service>` (sent once a transaction that added events committed:
servicekit.messaging.wakeup) and also polls every POLL_SECONDS_POSTGRES in case a notification
is missed. A round is two round trips to PostgreSQL (BEGIN with the claim; the mark with the
COMMIT: pipeline mode, servicekit.messaging.pipeline), both statements prepared and sent through
psycopg itself (servicekit.pg), and one to the broker (the batch's confirms): the relay has its
own connection, opened with `synchronous_commit=off` (losing a mark in a
PostgreSQL crash only means publishing those rows again, which consumers ignore) and without
the pool's pre-ping (a round that fails because its connection was lost runs again at once on
a new connection).
SQLite (single worker, development): rows are read, published, then marked in a short write
transaction (the write lock is not held while waiting for the broker); it polls every
POLL_SECONDS_SQLITE.

A broker failure (connection lost, confirm timeout) or a database failure aborts the round
without touching the rows; the relay reconnects with back-off and carries on. A crash after
the broker confirmed but before the rows were marked only causes a second publish of the same
events, which consumers ignore (inbox): delivery is at-least-once.

Fault injection (tests only; the one place it is defined): with the environment variable
SERVICEKIT_FAULT=relay_crash_after_publish the relay ends the process with os._exit(137)
right after the broker confirmed a batch and before marking its rows published, which is the
state a SIGKILL at that instant leaves. tests/faults uses it.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import kombu
import psycopg
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.orm import sessionmaker

from servicekit import pg
from servicekit.db import Database, make_engine
from servicekit.messaging import metrics
from servicekit.messaging.broker import BROKER_ERRORS, Backoff, close_quietly, connect, events_exchange
from servicekit.messaging.confirms import ConfirmingPublisher, Outgoing, PublishResult
from servicekit.messaging.names import notify_channel
from servicekit.messaging.pipeline import pipelined
from servicekit.messaging.tables import outbox

log = logging.getLogger(__name__)

FAULT_ENV = "SERVICEKIT_FAULT"
FAULT_CRASH_AFTER_PUBLISH = "relay_crash_after_publish"

DEFAULT_BATCH_SIZE = 500
POLL_SECONDS_POSTGRES = 0.5
POLL_SECONDS_SQLITE = 0.05
RETRY_FIRST_SECONDS = 0.5
RETRY_CAP_SECONDS = 30.0
# 20 refusals take about 8 minutes (0.5 s doubling to 30 s): room for a consumer deployed after
# its producer to declare its queue before the producer's events are parked.
DEFAULT_MAX_ATTEMPTS = 20


def claim_query(batch_size: int, *, lock: bool) -> sa.Select:
    """Unpublished, unparked rows whose back-off has expired at `:now`, in `seq` order."""
    query = (
        sa.select(outbox.c.seq, outbox.c.event_id, outbox.c.exchange, outbox.c.routing_key,
                  outbox.c.body, outbox.c.attempts)
        .where(outbox.c.published_at.is_(None), outbox.c.parked_at.is_(None))
        .where(sa.or_(outbox.c.next_attempt_at.is_(None), outbox.c.next_attempt_at <= sa.bindparam("now")))
        .order_by(outbox.c.seq)
        .limit(batch_size)
    )
    return query.with_for_update(skip_locked=True) if lock else query


# PostgreSQL: the same two statements through psycopg itself (servicekit.pg), prepared: SQLAlchemy's
# execution of them was about a quarter of a one-event round's CPU (bench/results/events.md).
CLAIM_PG = """SELECT seq, event_id, exchange, routing_key, body, attempts FROM outbox
    WHERE published_at IS NULL AND parked_at IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= :now)
    ORDER BY seq LIMIT {limit} FOR UPDATE SKIP LOCKED"""
MARK_PUBLISHED_PG = pg.query("""UPDATE outbox SET published_at = :now, last_error = NULL, next_attempt_at = NULL
    WHERE seq = ANY(CAST(:seqs AS bigint[]))""")

MARK_PUBLISHED = (outbox.update().where(outbox.c.seq.in_(sa.bindparam("seqs", expanding=True)))
                  .values(published_at=sa.bindparam("now"), last_error=None, next_attempt_at=None))


def retry_delay_seconds(failed_attempts: int) -> float:
    """Back-off before the next attempt after `failed_attempts` failures (1, 2, ...)."""
    return min(RETRY_CAP_SECONDS, RETRY_FIRST_SECONDS * 2 ** max(0, failed_attempts - 1))


@dataclass(frozen=True)
class PendingRow:
    seq: int
    event_id: str
    exchange: str
    routing_key: str
    body: str
    attempts: int

    def to_outgoing(self) -> Outgoing:
        try:
            correlation_id = json.loads(self.body).get("correlation_id")
        except ValueError:
            correlation_id = None
        headers = {"correlation_id": correlation_id} if correlation_id else {}
        return Outgoing(exchange=self.exchange, routing_key=self.routing_key, body=self.body,
                        message_id=self.event_id, headers=headers)


def source_of(exchange: str) -> str:
    return exchange[: -len(".events")] if exchange.endswith(".events") else exchange


class Relay:
    def __init__(self, service: str, db: Database, amqp_url: str, *, batch_size: int = DEFAULT_BATCH_SIZE,
                 max_attempts: int = DEFAULT_MAX_ATTEMPTS):
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.service = service
        self.db = db
        self._sqlite = db.is_sqlite  # read per round: parsing the URL each time is not free
        self.amqp_url = amqp_url
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self._conn: kombu.Connection | None = None
        self._publisher: ConfirmingPublisher | None = None
        self._declared: set[str] = set()
        self._sessions: sessionmaker | None = None
        # Built once: building and caching a statement costs a round of a few events more CPU
        # than executing it (the values go as parameters).
        self._claim_query = claim_query(batch_size, lock=False)
        self._claim_pg = pg.query(CLAIM_PG.format(limit=int(batch_size)))

    # --- one round -----------------------------------------------------------------------
    def relay_once(self) -> int:
        """Publish one batch; returns how many rows were attempted (0: nothing due)."""
        if self._sqlite:
            with self.db.read() as session:
                rows = self._claim(session, lock=False)
            if not rows:
                return 0
            results = self._publish(rows)
            with self.db.transaction() as session:
                self._record(session, rows, results)
            return len(rows)
        try:
            return self._relay_round()
        except sa.exc.DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            # Lost connection (no pre-ping): once more on a new one. Rows it had published
            # are published again; consumers ignore the duplicates.
            log.warning("outbox relay: database connection lost (%s); the round again", exc.orig)
            return self._relay_round()

    def _relay_round(self) -> int:
        with self._relay_sessions().begin() as session, pipelined(session, commit=True):
            rows = self._claim(session, lock=True)
            if not rows:
                return 0
            results = self._publish(rows)
            self._record(session, rows, results)
        return len(rows)

    def _claim(self, session, *, lock: bool) -> list[PendingRow]:
        """`lock`: PostgreSQL's claim (FOR UPDATE SKIP LOCKED); else SQLite's plain read."""
        params = {"now": datetime.now(timezone.utc)}
        if lock:
            return [PendingRow(*row) for row in pg.execute(session, self._claim_pg, params).fetchall()]
        return [PendingRow(*row) for row in session.connection().execute(self._claim_query, params)]

    def _publish(self, rows: list[PendingRow]) -> list[PublishResult]:
        publisher = self._ensure_publisher()
        for exchange in {row.exchange for row in rows} - self._declared:
            events_exchange(source_of(exchange))(publisher.channel).declare()
            self._declared.add(exchange)
        results = publisher.publish([row.to_outgoing() for row in rows])
        if os.environ.get(FAULT_ENV) == FAULT_CRASH_AFTER_PUBLISH and any(r.ok for r in results):
            log.error("fault injection %s: exiting before marking %d row(s) published",
                      FAULT_CRASH_AFTER_PUBLISH, len(rows))
            logging.shutdown()
            os._exit(137)
        return results

    def _record(self, session, rows: list[PendingRow], results: list[PublishResult]) -> None:
        now = datetime.now(timezone.utc)
        published = [row for row, result in zip(rows, results) if result.ok]
        if published:
            params = {"seqs": [row.seq for row in published], "now": now}
            if self._sqlite:
                session.connection().execute(MARK_PUBLISHED, params)
            else:  # queued in the round's pipeline, sent with its COMMIT
                pg.execute(session, MARK_PUBLISHED_PG, params)
            for routing_key, n in Counter(row.routing_key for row in published).items():
                metrics.EVENTS_PUBLISHED.labels(self.service, routing_key).inc(n)
        for row, result in zip(rows, results):
            if result.ok:
                continue
            attempts = row.attempts + 1
            reason = "unroutable" if result.error.startswith("unroutable") else "nacked"
            metrics.PUBLISH_FAILURES.labels(self.service, reason).inc()
            if attempts >= self.max_attempts:
                metrics.EVENTS_PARKED.labels(self.service, reason).inc()
                log.error("event %s (%s to %s) parked after %d attempts: %s; replay it with "
                          "`python -m %s outbox replay-parked --id %s`", row.event_id, row.routing_key,
                          row.exchange, attempts, result.error, self.service, row.event_id)
                session.execute(outbox.update().where(outbox.c.seq == row.seq).values(
                    attempts=attempts, last_error=result.error, next_attempt_at=None, parked_at=now))
                continue
            delay = retry_delay_seconds(attempts)
            log.error("event %s (%s to %s) not published, attempt %d of %d: %s; next attempt in %.1fs",
                      row.event_id, row.routing_key, row.exchange, attempts, self.max_attempts, result.error, delay)
            session.execute(outbox.update().where(outbox.c.seq == row.seq).values(
                attempts=attempts, last_error=result.error, next_attempt_at=now + timedelta(seconds=delay)))

    def _relay_sessions(self) -> sessionmaker:
        """Sessions on the relay's own PostgreSQL connection (see the module's docstring)."""
        if self._sessions is None:
            engine = make_engine(self.db.url, pool_size=1, max_overflow=0, pool_pre_ping=False,
                                 connect_args={"options": "-c synchronous_commit=off"})
            self._sessions = sessionmaker(engine, expire_on_commit=False)
        return self._sessions

    # --- broker connection -----------------------------------------------------------------
    def _ensure_publisher(self) -> ConfirmingPublisher:
        if self._publisher is None:
            self._conn = connect(self.amqp_url)
            self._publisher = ConfirmingPublisher(self._conn.channel())
            self._declared.clear()
        return self._publisher

    def disconnect(self) -> None:
        """Close the broker connection and the relay's own database connection (both are
        opened again on the next round)."""
        close_quietly(self._conn)
        self._conn = None
        self._publisher = None
        if self._sessions is not None:
            self._sessions.kw["bind"].dispose()
            self._sessions = None

    def _heartbeat(self) -> None:
        if self._conn is not None:
            self._conn.heartbeat_check()

    # --- loop ----------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        waiter = (SleepWaiter(stop, POLL_SECONDS_SQLITE) if self.db.is_sqlite
                  else NotifyWaiter(stop, self.db.url, notify_channel(self.service), POLL_SECONDS_POSTGRES))
        backoff = Backoff()
        log.info("outbox relay started (%s)", "sqlite polling" if self.db.is_sqlite else "postgresql listen")
        try:
            while not stop.is_set():
                try:
                    attempted = self.relay_once()
                    self._heartbeat()
                    backoff.reset()
                except BROKER_ERRORS as exc:
                    self._failed("broker", exc, stop, backoff)
                    continue
                except sa.exc.SQLAlchemyError as exc:
                    self._failed("database", exc, stop, backoff)
                    continue
                except Exception as exc:  # a bug must not stop event delivery for good
                    log.exception("unexpected relay error")
                    self._failed("unexpected", exc, stop, backoff)
                    continue
                if attempted < self.batch_size:
                    waiter.wait()
        finally:
            waiter.close()
            self.disconnect()
            log.info("outbox relay stopped")

    def _failed(self, kind: str, exc: BaseException, stop: threading.Event, backoff: Backoff) -> None:
        metrics.RELAY_ERRORS.labels(self.service, kind).inc()
        delay = backoff.next()
        log.warning("outbox relay: %s unavailable (%s: %s); retrying in %.1fs", kind, type(exc).__name__, exc, delay)
        if kind != "database":
            self.disconnect()
        stop.wait(delay)


class SleepWaiter:
    def __init__(self, stop: threading.Event, seconds: float):
        self.stop = stop
        self.seconds = seconds

    def wait(self) -> None:
        self.stop.wait(self.seconds)

    def close(self) -> None:
        pass


class NotifyWaiter:
    """Waits for a PostgreSQL notification on `channel`, at most `seconds` (psycopg 3)."""

    def __init__(self, stop: threading.Event, database_url: str, channel: str, seconds: float):
        self.stop = stop
        self.conninfo = sa.make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.channel = channel
        self.seconds = seconds
        self._conn: psycopg.Connection | None = None

    def wait(self) -> None:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5)
                self._conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
            for _ in self._conn.notifies(timeout=self.seconds, stop_after=1):
                break
        except psycopg.Error as exc:
            log.warning("outbox relay: LISTEN connection failed (%s); polling", exc)
            self.close()
            self.stop.wait(self.seconds)

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                pass
            self._conn = None
