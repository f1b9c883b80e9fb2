"""Consumers: one durable queue per handler, ack only after the handler's transaction committed.

For each message, in ONE database transaction: insert (consumer, event_id) into the inbox (a
duplicate delivery finds it and is acked without calling the handler), call the handler with
that session, commit. Only then ack. Messages that arrived together share that transaction,
each in its own savepoint (one commit, hence one disk flush, per batch instead of per
message: under load the serial commit latency would otherwise cap a consumer's throughput);
if the batch's commit fails, each message is processed again in its own transaction. If anything raises, the transaction rolls back and the
message is re-published (with confirms) to a delay queue `<queue>.retry.<ms>` whose TTL
dead-letters it back to `<queue>`, with `x-retries` + 1; after the last retry, or when the
message is not an envelope at all, it goes to `<queue>.dlq`. The original is acked only once
that re-publish is confirmed, so a crash at any point loses nothing.

Deliveries are buffered by the py-amqp callback and processed from the loop, never inside the
callback, so waiting for a confirm (which drains the connection) cannot re-enter a handler.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import amqp
import kombu
from pydantic import ValidationError
from sqlalchemy.orm import Session

from contracts.envelope import Envelope
from servicekit import context
from servicekit.db import Database
from servicekit.messaging import inbox, metrics
from servicekit.messaging.broker import (BROKER_ERRORS, Backoff, BrokerUnavailable, close_quietly, connect,
                                         events_exchange)
from servicekit.messaging.confirms import ConfirmingPublisher, Outgoing
from servicekit.messaging.names import dead_letter_queue, retry_queue
from servicekit.messaging.retries import (ERROR_HEADER, FAILED_AT_HEADER, RETRIES_HEADER, RetryPolicy,
                                          carried_headers, describe_error, retries_of)

log = logging.getLogger(__name__)

DRAIN_SECONDS = 1.0

HandlerFn = Callable[[Session, Envelope], None]


@dataclass(frozen=True)
class Handler:
    source: str
    event_type: str
    name: str
    queue: str
    fn: HandlerFn


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


class ConsumerLoop:
    def __init__(self, service: str, db: Database, amqp_url: str, handlers: Sequence[Handler],
                 policy: RetryPolicy, prefetch: int, ready: threading.Event):
        self.service = service
        self.db = db
        self.amqp_url = amqp_url
        self.handlers = list(handlers)
        self.policy = policy
        self.prefetch = prefetch
        self.ready = ready
        self._conn: kombu.Connection | None = None
        self._channel: amqp.Channel | None = None
        self._publisher: ConfirmingPublisher | None = None
        self._deliveries: deque[tuple[Handler, amqp.Message]] = deque()

    def run(self, stop: threading.Event) -> None:
        backoff = Backoff()
        while not stop.is_set():
            try:
                self._connect()
                backoff.reset()
                self.ready.set()
                log.info("consuming %s", ", ".join(h.queue for h in self.handlers))
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
            # Then read whatever has already arrived (timeout 0: no wait; py-amqp keeps a partly
            # read frame), so that messages which came together are processed together.
            while len(self._deliveries) < self.prefetch:
                self._conn.drain_events(timeout=0)
        except TimeoutError:
            pass
        self._conn.heartbeat_check()

    # --- processing ----------------------------------------------------------------------
    def _process_pending(self) -> None:
        """Process what has arrived: several messages share one transaction (one commit, one
        fsync), each inside its own savepoint, so a failing handler only undoes its own work."""
        batch = []
        while self._deliveries and len(batch) < self.prefetch:
            handler, message = self._deliveries.popleft()
            envelope = self._parse(handler, message)
            if envelope is not None:
                batch.append((handler, message, envelope))
        if len(batch) == 1:
            self._process_one(*batch[0])
        elif batch:
            self._process_batch(batch)

    def _parse(self, handler: Handler, message: amqp.Message) -> Envelope | None:
        try:
            return Envelope.model_validate_json(message.body)
        except (ValidationError, ValueError) as exc:
            log.error("malformed message on %s sent to the dead-letter queue: %s", handler.queue, exc)
            self._dead_letter(handler, message, retries_of(message.headers), f"malformed message: {describe_error(exc)}")
            return None

    def _process_one(self, handler: Handler, message: amqp.Message, envelope: Envelope) -> None:
        token = context.set_correlation_id(envelope.correlation_id)
        started = time.perf_counter()
        try:
            with self.db.transaction() as session:
                duplicate = self._handle(session, handler, envelope)
        except Exception as exc:
            self._observe(handler, started)
            self._retry_or_dead_letter(handler, message, envelope, retries_of(message.headers), exc)
        else:
            self._observe(handler, started)
            self._done(handler, message, envelope, duplicate)
        finally:
            context.reset_correlation_id(token)

    def _process_batch(self, batch: list[tuple[Handler, amqp.Message, Envelope]]) -> None:
        outcomes: list[bool | Exception] = []  # duplicate flag, or the handler's exception
        log.debug("processing %d messages in one transaction", len(batch))
        try:
            with self.db.transaction() as session:
                for handler, _message, envelope in batch:
                    token = context.set_correlation_id(envelope.correlation_id)
                    started = time.perf_counter()
                    try:
                        with session.begin_nested():
                            outcomes.append(self._handle(session, handler, envelope))
                    except Exception as exc:
                        outcomes.append(exc)
                    finally:
                        self._observe(handler, started)
                        context.reset_correlation_id(token)
        except Exception as exc:
            # The commit itself failed (e.g. a deferred constraint): nothing of the batch was
            # kept; find the culprit by processing each message in its own transaction.
            log.warning("batch of %d messages failed to commit (%s); processing them one by one",
                        len(batch), describe_error(exc))
            for item in batch:
                self._process_one(*item)
            return
        for (handler, message, envelope), outcome in zip(batch, outcomes):
            if isinstance(outcome, Exception):
                token = context.set_correlation_id(envelope.correlation_id)
                try:
                    self._retry_or_dead_letter(handler, message, envelope, retries_of(message.headers), outcome)
                finally:
                    context.reset_correlation_id(token)
            else:
                self._done(handler, message, envelope, outcome)

    @staticmethod
    def _handle(session: Session, handler: Handler, envelope: Envelope) -> bool:
        """Inbox then handler; True if the event had already been processed (duplicate)."""
        if not inbox.claim(session, handler.queue, envelope.id):
            return True
        handler.fn(session, envelope)
        return False

    def _observe(self, handler: Handler, started: float) -> None:
        metrics.HANDLER_DURATION.labels(self.service, handler.queue).observe(time.perf_counter() - started)

    def _done(self, handler: Handler, message: amqp.Message, envelope: Envelope, duplicate: bool) -> None:
        """Called after the commit: only now is the message acked."""
        self._channel.basic_ack(message.delivery_tag)
        metrics.EVENTS_CONSUMED.labels(self.service, handler.queue, "duplicate" if duplicate else "ok").inc()
        if duplicate:
            log.info("duplicate event %s (%s) on %s acked without effect", envelope.id, envelope.type, handler.queue)

    def _retry_or_dead_letter(self, handler: Handler, message: amqp.Message, envelope: Envelope,
                              retries: int, exc: Exception) -> None:
        delay_ms = self.policy.next_delay_ms(retries)
        if delay_ms is None:
            log.error("event %s (%s) failed on %s after %d retries, sent to the dead-letter queue: %s",
                      envelope.id, envelope.type, handler.queue, retries, describe_error(exc), exc_info=exc)
            self._dead_letter(handler, message, retries, describe_error(exc))
            return
        log.warning("event %s (%s) failed on %s (retry %d/%d in %d ms): %s", envelope.id, envelope.type,
                    handler.queue, retries + 1, self.policy.max_retries, delay_ms, describe_error(exc), exc_info=exc)
        headers = carried_headers(message.headers, **{RETRIES_HEADER: retries + 1})
        self._republish(message, retry_queue(handler.queue, delay_ms), headers)
        self._channel.basic_ack(message.delivery_tag)
        metrics.EVENTS_CONSUMED.labels(self.service, handler.queue, "retried").inc()

    def _dead_letter(self, handler: Handler, message: amqp.Message, retries: int, error: str) -> None:
        headers = carried_headers(message.headers, **{
            RETRIES_HEADER: retries,
            ERROR_HEADER: error,
            FAILED_AT_HEADER: datetime.now(timezone.utc).isoformat(timespec="seconds"),
        })
        self._republish(message, dead_letter_queue(handler.queue), headers)
        self._channel.basic_ack(message.delivery_tag)
        metrics.EVENTS_CONSUMED.labels(self.service, handler.queue, "dead").inc()

    def _republish(self, message: amqp.Message, queue: str, headers: dict) -> None:
        """Send a copy to `queue` through the default exchange; raise unless the broker took it."""
        props = message.properties
        outgoing = Outgoing(exchange="", routing_key=queue, body=message.body,
                            message_id=props.get("message_id") or "",
                            headers=headers, content_type=props.get("content_type") or "application/json",
                            content_encoding=props.get("content_encoding"))
        [result] = self._publisher.publish([outgoing])
        if not result.ok:
            # Not acking: the message comes back after reconnecting, which also re-declares queues.
            raise BrokerUnavailable(f"could not move message to {queue}: {result.error}")
