"""Calls from the gateway's public API (`/api`, async operations on the event loop) to the
services: the async twin of `gateway.clients`, with the same rules — pooled keep-alive
connections per process, timeouts, a retry for idempotent methods only, the reused service
token, the correlation id forwarded, remote errors translated by the same table
(`clients.error_from_status`).

The HTTP/1.1 exchange is asyncio's transport and httptools' response parser (the parser uvicorn
serves with), not aiohttp's client: a pass-through read cost the gateway 838-958 µs of CPU with
aiohttp and 570-619 µs with this (same minutes, same identity, `perf stat` on its workers,
ADR 0007 addendum 7): aiohttp's client side made ~260 calls per request (request and response
objects, header multidicts, stream readers, timer contexts; cProfile, builtins counted) where
this makes ~120.
What it does not do, because the services never need it: TLS, proxies, redirects, cookies,
compression, HEAD, `Expect: 100-continue`, streaming. The services are reached over the cluster's
network by plain HTTP, as before.
"""
from __future__ import annotations

import asyncio
import json as jsonlib
import logging
from urllib.parse import urlsplit

import httptools

from servicekit import context, tokens

from gateway import clients
from gateway.settings import SERVICES

log = logging.getLogger(__name__)

TOTAL_TIMEOUT = clients.READ_TIMEOUT + clients.CONNECT_TIMEOUT  # the whole call, as aiohttp's `total` was
IDEMPOTENT = frozenset({"GET", "OPTIONS", "PUT", "DELETE"})


class ConnectionBroken(ConnectionError):
    """The connection ended, or the answer was not HTTP, before a whole response came."""


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection to a service, one exchange at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future | None = None

    # --- asyncio.Protocol ------------------------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        if self._waiter is not None and not self._waiter.done():
            if self._headers_done and self._length is None and not self._chunked:
                self._complete(keep_alive=False)  # a body delimited by the connection's end
            else:
                self._waiter.set_exception(ConnectionBroken(f"connection closed mid-response ({exc})"))

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:
            self.transport.close()  # nothing was asked: a service does not speak first
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.transport.close()
            if not self._waiter.done():
                self._waiter.set_exception(ConnectionBroken(f"malformed response: {exc}"))

    # --- one exchange ----------------------------------------------------------------------------
    def exchange(self, request: bytes) -> asyncio.Future:
        """Send the request's bytes; the future gives (status, content type, body, keep-alive)."""
        self._parser = httptools.HttpResponseParser(self)
        self._content_type = b""
        self._length: int | None = None
        self._chunked = False
        self._headers_done = False
        self._body: list[bytes] = []
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self._waiter

    def done(self) -> None:
        self._waiter = None

    # httptools' callbacks
    def on_message_begin(self) -> None:
        if self._waiter.done():  # bytes after the answer: the next exchange could not tell them apart
            self.transport.close()

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"content-type":
            self._content_type = value
        elif name == b"content-length":
            self._length = int(value)
        elif name == b"transfer-encoding":
            self._chunked = b"chunked" in value.lower()

    def on_headers_complete(self) -> None:
        self._headers_done = True

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._complete(self._parser.should_keep_alive())

    def _complete(self, keep_alive: bool) -> None:
        if not self._waiter.done():
            self._waiter.set_result((self._parser.get_status_code(), self._content_type.decode("latin-1"),
                                     b"".join(self._body), keep_alive))


class _Pool:
    """Idle keep-alive connections to one service, at most `clients.POOL_SIZE` in use at once."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        # Held, so that no later loop can have this one's id (the key in _pools) while the pool lives.
        self.loop = asyncio.get_running_loop()
        self.idle: list[_Connection] = []
        self.slots = asyncio.Semaphore(clients.POOL_SIZE)

    async def exchange(self, request: bytes) -> tuple[int, str, bytes]:
        async with self.slots:
            conn = None
            while self.idle:
                candidate = self.idle.pop()  # the most recently used: the least likely closed by the service
                if not candidate.transport.is_closing():  # closed by the service (or by us) while idle
                    conn = candidate
                    break
            if conn is None:
                async with asyncio.timeout(clients.CONNECT_TIMEOUT):
                    _, conn = await asyncio.get_running_loop().create_connection(_Connection, self.host, self.port)
            try:
                status, content_type, body, keep_alive = await conn.exchange(request)
            except BaseException:  # broken, timed out or cancelled: the connection's state is unknown
                conn.transport.close()
                raise
            conn.done()
            if keep_alive and not conn.transport.is_closing():
                self.idle.append(conn)
            else:
                conn.transport.close()
            return status, content_type, body

    def close(self) -> None:
        for conn in self.idle:
            conn.transport.close()
        self.idle.clear()


_pools: dict[tuple[int, str], _Pool] = {}  # (event loop, base URL) -> pool: a uvicorn worker has one loop


def _pool(base_url: str) -> _Pool:
    key = (id(asyncio.get_running_loop()), base_url)
    pool = _pools.get(key)
    if pool is None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"services are reached over plain http: {base_url!r}")
        pool = _pools[key] = _Pool(parts.hostname, parts.port or 80)
    return pool


class Reply:
    """A successful answer: status, content type and the body's bytes."""

    def __init__(self, status: int, content_type: str, body: bytes):
        self.status = status
        self.content_type = content_type
        self.body = body


def _request_bytes(method: str, host: str, target: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n"]
    for name, value in headers.items():
        if "\n" in value or "\r" in value:  # never a header of our own making: refuse, not split
            raise ValueError(f"line break in the {name} header")
        lines.append(f"{name}: {value}\r\n")
    if body or method not in ("GET", "DELETE", "OPTIONS"):
        lines.append(f"Content-Length: {len(body)}\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("latin-1") + body


async def call(service: str, method: str, path: str, *, caller: tokens.Caller, secret: str, base_url: str,
               json=None, headers: dict | None = None) -> Reply:
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}")
    method = method.upper()
    if method == "HEAD":
        raise ValueError("HEAD is not supported (its answer has no body to pass on)")
    base_url = base_url.rstrip("/")
    pool = _pool(base_url)
    sent = {"Authorization": "Bearer " + clients.service_token(caller, service, secret),
            "Accept": "application/json"}
    body = b""
    if json is not None:
        body = jsonlib.dumps(json).encode()
        sent["Content-Type"] = "application/json"
    if headers:
        sent.update(headers)
    cid = context.get_correlation_id()
    if cid:
        sent[context.HEADER] = cid
    host = base_url.split("://", 1)[1].split("/", 1)[0]
    request = _request_bytes(method, host, path, sent, body)
    attempts = 2 if method in IDEMPOTENT else 1
    for attempt in range(attempts):
        try:
            async with asyncio.timeout(TOTAL_TIMEOUT):
                status, content_type, content = await pool.exchange(request)
        except (OSError, TimeoutError) as exc:  # refused, reset, broken, timed out
            if attempt + 1 < attempts:
                continue
            log.warning("service %s unreachable: %s", service, exc)
            raise clients.ServiceUnavailable(service) from exc
        if status in (502, 503, 504) and attempt + 1 < attempts:
            continue
        if status >= 400:
            raise clients.error_from_status(service, status, content_type, content)
        return Reply(status, content_type, content)
    raise clients.ServiceUnavailable(service)


async def close_all() -> None:
    """Close this loop's idle connections (the worker is shutting down); forget those of loops
    that have ended (their transports went with them)."""
    loop = asyncio.get_running_loop()
    for key, pool in list(_pools.items()):
        if pool.loop is loop:
            pool.close()
        if pool.loop is loop or pool.loop.is_closed():
            del _pools[key]
