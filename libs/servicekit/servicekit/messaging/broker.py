"""Connections to RabbitMQ (through kombu) and the errors that mean "the broker is gone".

Every long-running loop (relay, consumers) catches BROKER_ERRORS, drops its connection and
reconnects with `Backoff`; nothing else in the kit needs to know how kombu reports failures.
"""
from __future__ import annotations

import logging

import amqp.exceptions
import kombu
import kombu.exceptions

from servicekit.messaging.names import exchange_name

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 20


class BrokerUnavailable(Exception):
    """The broker did not confirm a publish in time, or refused one the caller cannot skip."""


BROKER_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # sockets, including TimeoutError and ConnectionError
    amqp.exceptions.AMQPError,
    kombu.exceptions.KombuError,
    BrokerUnavailable,
)


def connect(url: str) -> kombu.Connection:
    """An open kombu connection (one attempt: callers own the retry policy)."""
    conn = kombu.Connection(url, heartbeat=HEARTBEAT_SECONDS, connect_timeout=5)
    try:
        conn.ensure_connection(max_retries=1, timeout=5)
    except BaseException:
        close_quietly(conn)
        raise
    return conn


def close_quietly(conn: kombu.Connection | None) -> None:
    if conn is None:
        return
    try:
        conn.release()
    except Exception:  # already broken: nothing more to release
        log.debug("error while closing a broken broker connection", exc_info=True)


def events_exchange(source: str) -> kombu.Exchange:
    return kombu.Exchange(exchange_name(source), type="topic", durable=True, auto_delete=False)


class Backoff:
    """Exponential delays for reconnecting: first, 2*first, ... capped at `cap` seconds."""

    def __init__(self, first: float = 0.2, cap: float = 5.0):
        self.first = first
        self.cap = cap
        self._next = first

    def next(self) -> float:
        delay = self._next
        self._next = min(self.cap, self._next * 2)
        return delay

    def reset(self) -> None:
        self._next = self.first
