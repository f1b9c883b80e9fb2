"""Consumers: one durable queue per handler, ack only after the handler's transaction committed.

Deliveries are read off the socket in a tight loop (everything already there, up to the batch
size) and processed together, in ONE database transaction (one commit, hence one disk flush):
1. one multi-row insert of every (consumer, event_id) into the inbox, `ON CONFLICT DO NOTHING
   RETURNING`: the rows it did not return are duplicate deliveries, acked without effect;
2. each new event's handler, in that same session;
3. commit; then re-publish the failed messages (below) and ack the whole batch at once
   (`basic_ack` with `multiple`).
No savepoint on that path (they cost two round trips a message), and its statements go out in
PostgreSQL's pipeline mode (servicekit.messaging.pipeline): the handlers' plain INSERTs do not
wait for their results, and the COMMIT goes out with the last of them. Those INSERTs are also
kept and sent together (servicekit.messaging.deferred): the same statement executed by the
handlers of consecutive events with a dict of parameters goes out as one multi-row INSERT, which
costs a fraction of the CPU of one execute per event (a batch of one sends its INSERT as it is).
On PostgreSQL a batch's first try does not even wait for its inbox insert: the keys go in with
a plain INSERT (no ON CONFLICT) sent without waiting, the handlers run at once as if every event
were new, and a duplicate delivery fails that INSERT, so the transaction cannot commit (an
aborted pipeline skips the COMMIT; a COMMIT answered ROLLBACK raises): nothing of the try is
kept and the batch runs again as above, the claim's result awaited first. A batch of one-row
handlers is then one round trip (BEGIN, inbox insert, writes, COMMIT) when every event is new,
as is the rule. If a handler raises or the
commit fails, the transaction rolls back and the batch is processed again with one savepoint
per message (inbox row and handler inside it), so that a failing handler only undoes its own
work; if that commit fails too (e.g. a deferred constraint), each message gets a transaction
of its own. A handler may thus run again after its first run was rolled back: effects stay
once per event (inbox), delivery at least once. A transaction that fails because its database
connection was lost (PostgreSQL restarted, the connection was cut) is run again at once on a
new connection: the worker's pool does not ping a connection before each transaction. On
PostgreSQL a consumer thread keeps its database connection from one transaction to the next
(the pool's check-out and check-in cost a lone event more Python calls than its inbox claim) and
takes another from the pool after any transaction that failed.

A message whose handler failed is re-published (with confirms) to a delay queue
`<queue>.retry.<ms>` whose TTL dead-letters it back to `<queue>`, with `x-retries` + 1; after
the last retry, or at once when the message is not an envelope or its payload does not
validate, it goes to `<queue>.dlq`. Messages are acked only once those re-publishes are
confirmed, so a crash at any point loses nothing.

Deliveries are buffered by the py-amqp callback and processed from the loop, never inside the
callback, so waiting for a confirm (which drains the connection) cannot re-enter a handler.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone

import amqp
import kombu
import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.orm import Session

from contracts.envelope import Envelope
from servicekit import context
from servicekit.db import Database
from servicekit.messaging import inbox, metrics
from servicekit.messaging.broker import (BROKER_ERRORS, Backoff, BrokerUnavailable, close_quietly, connect,
                                         drain_ready, events_exchange)
from servicekit.messaging.confirms import ConfirmingPublisher, Outgoing
from servicekit.messaging.deferred import inserts_deferred
from servicekit.messaging.names import dead_letter_queue, retry_queue
from servicekit.messaging.pipeline import pipelined, wait_for_queued
from servicekit.messaging.retries import (ERROR_HEADER, FAILED_AT_HEADER, RETRIES_HEADER, RetryPolicy,
                                          carried_headers, describe_error, is_permanent, retries_of)

log = logging.getLogger(__name__)

DRAIN_SECONDS = 1.0

HandlerFn = Callable[[Session, Envelope], None]

OK, DUPLICATE = "ok", "duplicate"
Outcome = str | Exception  # OK, DUPLICATE, or what the handler (or its commit) raised


class HandlerFailed(Exception):
    """A handler raised `error` in a batch whose events are all new (the claim went through)."""

    def __init__(self, error: Exception):
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True)
class Handler:
    source: str
    event_type: str
    name: str
    queue: str
    fn: HandlerFn


@dataclass(frozen=True)
class Item:
    handler: Handler
    message: amqp.Message
    envelope: Envelope

    @property
    def key(self) -> tuple[str, str]:
        return self.handler.queue, self.envelope.id


def declare_topology(channel: amqp.Channel, handlers: Sequence[Handler], policy: RetryPolicy) -> None:
    """Durable exchange, queue and binding of every handler, plus its delay queues and DLQ."""
    for h in handlers:
        kombu.Queue(h.queue, exchange=events_exchange(h.source), routing_key=h.event_type,
                    durable=True, auto_delete=False)(channel).declare()
        for delay_ms in policy.delays_in_use():
            kombu.Queue(retry_queue(h.queue, delay_ms), durable=True, auto_delete=False, queue_arguments={
                "x-message-ttl": delay_ms,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": h.queue,
            })(channel).declare()
        kombu.Queue(dead_letter_queue(h.queue), durable=True, auto_delete=False)(channel).declare()


class Settlement:
    """What a batch leaves to do with the broker once its transaction is over: the copies to
    re-publish (delay queues, DLQ), then one ack for every message taken; and the metrics."""

    def __init__(self):
        self.outgoing: list[Outgoing] = []
        self.outcomes: Counter[tuple[str, str]] = Counter()  # (queue, outcome) -> count
        self.duplicates: list[Item] = []

    def count(self, queue: str, outcome: str) -> None:
        self.outcomes[(queue, outcome)] += 1


class ConsumerLoop:
    def __init__(self, service: str, db: Database, amqp_url: str, handlers: Sequence[Handler],
                 policy: RetryPolicy, prefetch: int, ready: threading.Event, *, batch_size: int | None = None):
        self.service = service
        self.db = db
        self.amqp_url = amqp_url
        self.handlers = list(handlers)
        self.policy = policy
        self.prefetch = prefetch
        # At most the prefetch; half of it lets the broker refill the socket while a batch runs.
        self.batch_size = batch_size or max(1, prefetch // 2)
        self.ready = ready
        self._conn: kombu.Connection | None = None
        self._channel: amqp.Channel | None = None
        self._publisher: ConfirmingPublisher | None = None
        self._deliveries: deque[tuple[Handler, amqp.Message]] = deque()
        self._durations = {h.queue: metrics.HANDLER_DURATION.labels(service, h.queue) for h in self.handlers}
        # PostgreSQL (pipeline mode): a batch's first try does not wait for its inbox claim, and
        # the loop keeps its database connection between transactions (`_session`).
        self._claim_without_waiting = db.engine.dialect.name == "postgresql" and db.engine.dialect.driver == "psycopg"
        self._db_connection: sa.Connection | None = None

    def run(self, stop: threading.Event) -> None:
        backoff = Backoff()
        while not stop.is_set():
            try:
                self._connect()
                backoff.reset()
                log.info("consuming %s", ", ".join(h.queue for h in self.handlers))
                self.ready.set()  # after the log: whoever waits on it may move on at once
                while not stop.is_set():
                    self._drain()
                    while self._deliveries and not stop.is_set():
                        self._process_pending()
            except BROKER_ERRORS as exc:
                delay = backoff.next()
                log.warning("consumer: broker unavailable (%s: %s); reconnecting in %.1fs",
                            type(exc).__name__, exc, delay)
                self._disconnect()
                stop.wait(delay)
            except Exception:  # a bug must not stop consumption for good
                log.exception("consumer: unexpected error; reconnecting")
                self._disconnect()
                stop.wait(backoff.next())
        self._disconnect()
        self._drop_db_connection()
        log.info("consumers stopped")

    # --- connection ----------------------------------------------------------------------
    def _connect(self) -> None:
        self._disconnect()
        self._conn = connect(self.amqp_url)
        channel = self._conn.channel()
        channel.auto_decode = False  # keep bodies as bytes: they are re-published as they came
        declare_topology(channel, self.handlers, self.policy)
        channel.basic_qos(0, self.prefetch, False)
        # Re-publishing (retries, dead letters) happens on its own confirm-mode channel.
        self._publisher = ConfirmingPublisher(self._conn.channel())
        for h in self.handlers:
            channel.basic_consume(h.queue, callback=lambda message, h=h: self._deliveries.append((h, message)))
        self._channel = channel

    def _disconnect(self) -> None:
        # Unacked deliveries go back to their queue when the connection closes.
        self._deliveries.clear()
        close_quietly(self._conn)
        self._conn = self._channel = self._publisher = None

    def _drain(self) -> None:
        try:
            self._conn.drain_events(timeout=DRAIN_SECONDS)
        except TimeoutError:
            pass
        else:  # then whatever has already arrived: messages that came together are processed together
            drain_ready(self._conn, lambda: len(self._deliveries) >= self.batch_size)
        self._conn.heartbeat_check()

    @contextmanager
    def _session(self) -> Iterator[Session]:
        """One transaction, as `Database.transaction`; on PostgreSQL on the connection the loop
        keeps between transactions (a new one after a transaction that failed: it may be dead)."""
        if not self._claim_without_waiting:
            with self.db.transaction() as session:
                yield session
            return
        if self._db_connection is None:
            self._db_connection = self.db.engine.connect()
        try:
            # Not in a transaction: the session begins it, commits or rolls it back, as its own.
            with Session(bind=self._db_connection, expire_on_commit=False) as session, session.begin():
                yield session
        except BaseException:
            self._drop_db_connection()
            raise

    def _drop_db_connection(self) -> None:
        connection, self._db_connection = self._db_connection, None
        if connection is not None:
            try:
                connection.close()  # back to the pool, which discards it if it is dead
            except Exception:
                log.debug("consumer: closing a database connection failed", exc_info=True)

    # --- one batch -----------------------------------------------------------------------
    def _process_pending(self) -> None:
        """Process what has arrived (up to the batch size), then settle it with the broker.

        Deliveries are taken in the order of their delivery tags and every earlier one is
        settled already, so one `multiple` ack of the last tag acks exactly this batch."""
        taken = [self._deliveries.popleft() for _ in range(min(len(self._deliveries), self.batch_size))]
        settlement = Settlement()
        batch = [item for handler, message in taken
                 if (item := self._parse(handler, message, settlement)) is not None]
        if batch:
            outcomes = self._process(batch)
            for item, outcome in zip(batch, outcomes):
                self._settle_outcome(item, outcome, settlement)
        self._settle(taken[-1][1].delivery_tag, settlement)

    def _parse(self, handler: Handler, message: amqp.Message, settlement: Settlement) -> Item | None:
        try:
            return Item(handler, message, Envelope.model_validate_json(message.body))
        except (ValidationError, ValueError) as exc:
            log.error("malformed message on %s sent to the dead-letter queue: %s", handler.queue, exc)
            self._dead_letter(handler, message, retries_of(message.headers), f"malformed message: {describe_error(exc)}",
                              settlement)
            return None

    def _process(self, batch: list[Item]) -> list[Outcome]:
        handler_failed = False
        if self._claim_without_waiting:
            try:
                return self._transaction_on_a_live_connection(batch, claim_first=False)
            except HandlerFailed as failed:  # its events are new: no need to claim them first
                if len(batch) == 1:
                    return [failed.error]
                handler_failed = True
                log.info("batch of %d messages rolled back (%s); again with one savepoint each",
                         len(batch), describe_error(failed.error))
            except Exception as exc:  # a duplicate delivery, or what the paths below sort out
                log.debug("batch of %d messages rolled back on its first try (%s); again, claimed first",
                          len(batch), describe_error(exc))
        if len(batch) > 1:
            if not handler_failed:
                try:
                    return self._transaction_on_a_live_connection(batch)
                except Exception as exc:
                    log.info("batch of %d messages rolled back (%s); again with one savepoint each",
                             len(batch), describe_error(exc))
            try:
                return self._transaction_with_savepoints(batch)
            except Exception as exc:
                # The commit itself failed (e.g. a deferred constraint): nothing of the batch was
                # kept; find the culprit by processing each message in its own transaction.
                log.warning("batch of %d messages failed to commit (%s); processing them one by one",
                            len(batch), describe_error(exc))
        return [self._alone(item) for item in batch]

    def _alone(self, item: Item) -> Outcome:
        try:
            [outcome] = self._transaction_on_a_live_connection([item])
            return outcome
        except Exception as exc:
            return exc

    def _transaction_on_a_live_connection(self, batch: list[Item], *, claim_first: bool = True) -> list[Outcome]:
        """`_transaction`, once more on a new connection if the database connection was lost
        (SQLAlchemy then discards the pool's older connections too)."""
        try:
            return self._transaction(batch, claim_first=claim_first)
        except sa.exc.DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            log.warning("consumer: database connection lost (%s); the batch again on a new connection",
                        describe_error(exc))
            return self._transaction(batch, claim_first=claim_first)

    def _transaction(self, batch: list[Item], *, claim_first: bool = True) -> list[Outcome]:
        """The fast path: one inbox insert for the batch, the handlers, one commit. Raises
        (everything rolled back) if any handler or the commit does. With `claim_first` the inbox
        insert's result (which events are new) is awaited before the handlers run; without it
        (PostgreSQL) the handlers run at once and a duplicate fails the inbox insert, hence the
        whole transaction (see the module)."""
        outcomes: list[Outcome] = []
        # A batch of one has nothing to send together: its handler's INSERT goes out as it is.
        deferring = inserts_deferred if len(batch) > 1 else _as_it_is
        claim = inbox.claim_many if claim_first else inbox.claim_all_or_fail
        with self._session() as session, pipelined(session, commit=True), deferring(session):
            fresh = claim(session, [item.key for item in batch])
            for item in batch:
                if item.key in fresh:
                    fresh.discard(item.key)  # the same event twice in one batch: once only
                    if claim_first:
                        self._call(session, item)
                    else:
                        self._call_unclaimed(session, item)
                    outcomes.append(OK)
                else:
                    outcomes.append(DUPLICATE)
        return outcomes

    def _call_unclaimed(self, session: Session, item: Item) -> None:
        """`_call` before the inbox insert's result is known: a handler that raises (not a
        database error, which may be the claim's own) fails the batch as `HandlerFailed` once
        the claim is known to have gone through, i.e. the batch's events are all new."""
        try:
            self._call(session, item)
        except sa.exc.DBAPIError:
            raise
        except Exception as exc:
            wait_for_queued(session)  # raises if the claim failed: a duplicate among them
            raise HandlerFailed(exc) from exc

    def _transaction_with_savepoints(self, batch: list[Item]) -> list[Outcome]:
        """One savepoint per message (its inbox row and its handler): a handler that raises
        only undoes its own work. Raises if the commit fails."""
        outcomes: list[Outcome] = []
        with self._session() as session:
            for item in batch:
                try:
                    with session.begin_nested():
                        if inbox.claim(session, *item.key):
                            self._call(session, item)
                            outcomes.append(OK)
                        else:
                            outcomes.append(DUPLICATE)
                except Exception as exc:
                    outcomes.append(exc)
        return outcomes

    def _call(self, session: Session, item: Item) -> None:
        token = context.set_correlation_id(item.envelope.correlation_id)
        started = time.perf_counter()
        try:
            item.handler.fn(session, item.envelope)
        finally:
            self._durations[item.handler.queue].observe(time.perf_counter() - started)
            context.reset_correlation_id(token)

    # --- settling with the broker ----------------------------------------------------------
    def _settle_outcome(self, item: Item, outcome: Outcome, settlement: Settlement) -> None:
        if outcome == OK:
            settlement.count(item.handler.queue, OK)
        elif outcome == DUPLICATE:
            settlement.count(item.handler.queue, DUPLICATE)
            settlement.duplicates.append(item)
        else:
            token = context.set_correlation_id(item.envelope.correlation_id)
            try:
                self._retry_or_dead_letter(item, retries_of(item.message.headers), outcome, settlement)
            finally:
                context.reset_correlation_id(token)

    def _settle(self, last_delivery_tag: int, settlement: Settlement) -> None:
        """After the commit: re-publish the failed messages (confirmed), then ack the batch."""
        if settlement.outgoing:
            for result in self._publisher.publish(settlement.outgoing):
                if not result.ok:
                    # Not acking: the batch comes back after reconnecting (which also re-declares
                    # the queues); what committed is then a duplicate the inbox recognises.
                    raise BrokerUnavailable(f"could not move a message to {result.message.routing_key}: {result.error}")
        self._channel.basic_ack(last_delivery_tag, multiple=True)
        for (queue, outcome), n in settlement.outcomes.items():
            metrics.EVENTS_CONSUMED.labels(self.service, queue, outcome).inc(n)
        for item in settlement.duplicates:
            log.info("duplicate event %s (%s) on %s acked without effect", item.envelope.id, item.envelope.type,
                     item.handler.queue)

    def _retry_or_dead_letter(self, item: Item, retries: int, exc: Exception, settlement: Settlement) -> None:
        envelope, queue = item.envelope, item.handler.queue
        if is_permanent(exc):
            log.error("event %s (%s) on %s cannot be processed, sent to the dead-letter queue without retrying: %s",
                      envelope.id, envelope.type, queue, describe_error(exc), exc_info=exc)
            self._dead_letter(item.handler, item.message, retries, describe_error(exc), settlement)
            return
        delay_ms = self.policy.next_delay_ms(retries)
        if delay_ms is None:
            log.error("event %s (%s) failed on %s after %d retries, sent to the dead-letter queue: %s",
                      envelope.id, envelope.type, queue, retries, describe_error(exc), exc_info=exc)
            self._dead_letter(item.handler, item.message, retries, describe_error(exc), settlement)
            return
        log.warning("event %s (%s) failed on %s (retry %d/%d in %d ms): %s", envelope.id, envelope.type,
                    queue, retries + 1, self.policy.max_retries, delay_ms, describe_error(exc), exc_info=exc)
        headers = carried_headers(item.message.headers, **{RETRIES_HEADER: retries + 1})
        settlement.outgoing.append(copy_of(item.message, retry_queue(queue, delay_ms), headers))
        settlement.count(queue, "retried")

    def _dead_letter(self, handler: Handler, message: amqp.Message, retries: int, error: str,
                     settlement: Settlement) -> None:
        headers = carried_headers(message.headers, **{
            RETRIES_HEADER: retries,
            ERROR_HEADER: error,
            FAILED_AT_HEADER: datetime.now(timezone.utc).isoformat(timespec="seconds"),
        })
        settlement.outgoing.append(copy_of(message, dead_letter_queue(handler.queue), headers))
        settlement.count(handler.queue, "dead")


@contextmanager
def _as_it_is(_session: Session) -> Iterator[None]:
    yield


def copy_of(message: amqp.Message, queue: str, headers: dict) -> Outgoing:
    """A copy of `message` for `queue`, through the default exchange, with `headers`."""
    props = message.properties
    return Outgoing(exchange="", routing_key=queue, body=message.body, message_id=props.get("message_id") or "",
                    headers=headers, content_type=props.get("content_type") or "application/json",
                    content_encoding=props.get("content_encoding"))
