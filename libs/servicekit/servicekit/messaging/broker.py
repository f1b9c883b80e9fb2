"""Connections to RabbitMQ (through kombu) and the errors that mean "the broker is gone".

Every long-running loop (relay, consumers) catches BROKER_ERRORS, drops its connection and
reconnects with `Backoff`; nothing else in the kit needs to know how kombu reports failures.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import amqp
import amqp.exceptions
import kombu
import kombu.exceptions

from servicekit.messaging.names import exchange_name

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 20
# py-amqp reads each frame with three recv calls sized to it (header, payload, end octet), nine
# per message; reading up to this many bytes at once leaves the rest in its read buffer for the
# next frames. Small enough that the buffer's slicing stays cheap.
READ_CHUNK_BYTES = 4096


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
    read_in_chunks(conn.connection)
    return conn


def read_in_chunks(connection: amqp.Connection, size: int = READ_CHUNK_BYTES) -> bool:
    """Have py-amqp read up to `size` bytes per recv call instead of one frame part per call
    (its transport keeps what it read beyond the frame for the next ones). False if this
    py-amqp does not read through `_quick_recv` and `_read_buffer` (nothing changed)."""
    transport = connection.transport
    recv = getattr(transport, "_quick_recv", None)
    if recv is None or not hasattr(transport, "_read_buffer"):
        return False
    transport._quick_recv = lambda n: recv(max(n, size))
    return True


def drain_ready(conn: kombu.Connection, enough: Callable[[], bool]) -> None:
    """Read what has already arrived on `conn`, without waiting, until `enough()` or nothing is
    left. A frame already in py-amqp's read buffer (`read_in_chunks` keeps what a recv brought
    beyond the frame it read) is read without a system call; `drain_events(timeout=0)` would set
    the socket's timeout twice per frame (two ioctl calls, six per delivered message)."""
    connection = conn.connection
    try:
        while not enough():
            if frame_buffered(connection):
                connection.blocking_read(None)
            else:
                conn.drain_events(timeout=0)  # one recv; py-amqp keeps a partly read frame
    except TimeoutError:
        pass


def frame_buffered(connection: amqp.Connection) -> bool:
    """A whole frame is in py-amqp's read buffer (False if this py-amqp keeps none)."""
    buffer = getattr(connection.transport, "_read_buffer", b"")
    # a frame: type (1 octet), channel (2), payload size (4), payload, frame-end (1)
    return len(buffer) >= 7 and len(buffer) >= 8 + int.from_bytes(buffer[3:7], "big")


@contextmanager
def writes_coalesced(connection: amqp.Connection) -> Iterator[None]:
    """Send what the block writes on `connection` with one socket write at the end instead of
    one per message (py-amqp calls sendall for every publish). If the block raises, nothing
    of it is sent (the caller drops the connection: its channel's publish count is off)."""
    transport = connection.transport
    write = getattr(transport, "_write", None)
    if write is None:
        yield
        return
    chunks: list[bytes] = []
    transport._write = lambda data: chunks.append(bytes(data))
    try:
        yield
    finally:
        transport._write = write
    if chunks:
        transport.write(b"".join(chunks))  # py-amqp's own write: marks the transport down on failure


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
