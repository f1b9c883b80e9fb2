"""Publishing batches with publisher confirms and `mandatory` on one py-amqp channel.

A batch is written to the socket without waiting (one write for all of it, and no read before each
message as py-amqp's basic_publish does), then the publisher drains the connection
until the broker has acked or nacked every message of the batch (one round-trip per batch,
not per message). A `mandatory` message that no queue takes comes back as basic.return
(always before its basic.ack), so it is reported as unroutable instead of being dropped.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import amqp
import amqp.spec

from servicekit.messaging.broker import BrokerUnavailable, writes_coalesced

CONFIRM_TIMEOUT_SECONDS = 10.0
PUBLISH_ARGS = "Bssbb"  # basic.publish's arguments (py-amqp's signature): ticket, exchange, key, mandatory, immediate


@dataclass(frozen=True)
class Outgoing:
    exchange: str
    routing_key: str
    body: bytes | str
    message_id: str
    headers: dict = field(default_factory=dict)
    content_type: str = "application/json"
    content_encoding: str | None = "utf-8"
    mandatory: bool = True

    def to_amqp(self) -> amqp.Message:
        body = self.body.encode("utf-8") if isinstance(self.body, str) else self.body
        props = {
            "content_type": self.content_type,
            "delivery_mode": 2,  # persistent
            "message_id": self.message_id,
            "application_headers": dict(self.headers),
        }
        if self.content_encoding:
            props["content_encoding"] = self.content_encoding
        return amqp.Message(body, **props)


@dataclass(frozen=True)
class PublishResult:
    message: Outgoing
    error: str | None = None  # None: the broker took responsibility for the message

    @property
    def ok(self) -> bool:
        return self.error is None


class ConfirmTracker:
    """Bookkeeping of a confirm-mode channel, without I/O.

    Delivery tags count publishes on the channel from 1; an ack or nack with `multiple`
    settles every pending tag up to and including its own.
    """

    def __init__(self):
        self._last_tag = 0
        self.pending: dict[int, str] = {}  # delivery tag -> message id
        self.nacked: set[int] = set()
        self.returned: dict[str, str] = {}  # message id -> reason

    def start_batch(self) -> None:
        self.pending.clear()
        self.nacked.clear()
        self.returned.clear()

    def published(self, message_id: str) -> int:
        self._last_tag += 1
        self.pending[self._last_tag] = message_id
        return self._last_tag

    def on_ack(self, delivery_tag: int, multiple: bool) -> None:
        for tag in self._settled(delivery_tag, multiple):
            self.pending.pop(tag, None)

    def on_nack(self, delivery_tag: int, multiple: bool) -> None:
        for tag in self._settled(delivery_tag, multiple):
            self.pending.pop(tag, None)
            self.nacked.add(tag)

    def on_return(self, message_id: str | None, reason: str) -> None:
        if message_id is not None:
            self.returned[message_id] = reason

    def error_for(self, tag: int, message_id: str) -> str | None:
        if tag in self.nacked:
            return "nacked by the broker"
        if message_id in self.returned:
            return f"unroutable: {self.returned[message_id]}"
        if tag in self.pending:
            return "not confirmed"
        return None

    def _settled(self, delivery_tag: int, multiple: bool) -> list[int]:
        if multiple:
            return [t for t in self.pending if t <= delivery_tag]
        return [delivery_tag] if delivery_tag in self.pending else []


class ConfirmingPublisher:
    """Puts one channel of a py-amqp connection in confirm mode and publishes batches on it.

    Not thread-safe: one publisher per thread, like the connection it uses.
    """

    def __init__(self, channel: amqp.Channel, *, timeout: float = CONFIRM_TIMEOUT_SECONDS):
        self.channel = channel
        self.timeout = timeout
        self._tracker = ConfirmTracker()
        channel.confirm_select()
        channel.events["basic_ack"].add(self._tracker.on_ack)
        channel.events["basic_nack"].add(self._tracker.on_nack)
        channel.events["basic_return"].add(self._on_return)

    def publish(self, messages: Sequence[Outgoing]) -> list[PublishResult]:
        """Publish all, wait for every confirm, and say which messages the broker took."""
        tracker = self._tracker
        tracker.start_batch()
        tags = []
        send = self.channel.send_method
        with writes_coalesced(self.channel.connection):  # one socket write for the batch
            for message in messages:
                tags.append(tracker.published(message.message_id))
                # What basic_publish sends, without its read for a connection.blocked notice
                # before each message (a recv and two settimeout calls per message): the confirm
                # wait below reads whatever the broker sent, once per batch.
                send(amqp.spec.Basic.Publish, PUBLISH_ARGS,
                     (0, message.exchange, message.routing_key, message.mandatory, False), message.to_amqp())
        deadline = time.monotonic() + self.timeout
        while tracker.pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrokerUnavailable(f"{len(tracker.pending)} publish(es) not confirmed within {self.timeout}s")
            try:
                self.channel.connection.drain_events(timeout=remaining)
            except TimeoutError:
                continue
        return [PublishResult(m, tracker.error_for(tag, m.message_id)) for tag, m in zip(tags, messages)]

    def _on_return(self, exc, _exchange, _routing_key, message) -> None:
        properties = getattr(message, "properties", {}) or {}
        self._tracker.on_return(properties.get("message_id"), str(getattr(exc, "reply_text", exc)) or "NO_ROUTE")
