"""Waking the outbox relay after a commit, outside the writing transaction (PostgreSQL).

A `NOTIFY` inside the writing transaction makes PostgreSQL take a cluster-wide lock at commit
and hold it until the commit is flushed to disk, so that notifications are queued in commit
order: every transaction that notifies, in every database of the cluster, then commits one
after the other, each waiting for its own disk flush (issue 11: 16 connections committed
630 small transactions a second with a `pg_notify` each, 2,300-2,900 without).

So `add_events` only records, in the session, which relays to wake; once the transaction has
committed, a background thread of the process sends the `NOTIFY` on its own autocommit
connection (a transaction that writes nothing: no disk flush under that lock). Wake-ups that
come while it is sending are merged into the next one: at most one NOTIFY per channel per round
trip, however many transactions commit. The connection is closed after IDLE_CLOSE_SECONDS
without a wake-up (a test run touches many databases; a process that rarely writes keeps none). The rows are committed before their wake-up is sent, so
the relay's next claim sees them. If the wake-up cannot be sent (database unreachable), the
relay still finds the rows by polling (POLL_SECONDS_POSTGRES); delivery never depends on it.
"""
from __future__ import annotations

import logging
import os
import threading

import psycopg
from psycopg import sql
from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

SESSION_KEY = "servicekit.wake_relays"  # session.info: {conninfo: {channel, ...}}
IDLE_CLOSE_SECONDS = 30.0


def wake_after_commit(session: Session, channel: str) -> None:
    """Have `channel`'s relay woken once the session's current transaction commits."""
    url = session.get_bind().engine.url
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    session.info.setdefault(SESSION_KEY, {}).setdefault(conninfo, set()).add(channel)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    for conninfo, channels in session.info.pop(SESSION_KEY, {}).items():
        waker(conninfo).wake(channels)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(SESSION_KEY, None)


class Waker:
    """Sends NOTIFY for the channels it is asked to wake, from a daemon thread, merging requests."""

    def __init__(self, conninfo: str):
        self.conninfo = conninfo
        self._pending: set[str] = set()
        self._cond = threading.Condition()
        self._conn: psycopg.Connection | None = None
        self.sent = 0  # NOTIFY round trips so far (tests, benchmarks)
        self._thread = threading.Thread(target=self._run, name="outbox-wakeup", daemon=True)
        self._thread.start()

    def wake(self, channels) -> None:
        with self._cond:
            self._pending.update(channels)
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending:
                    if not self._cond.wait(IDLE_CLOSE_SECONDS) and not self._pending:
                        self._close()  # idle: give the connection back until the next wake-up
                channels, self._pending = self._pending, set()
            self._send(channels)

    def _send(self, channels: set[str]) -> None:
        statement = sql.SQL("; ").join(sql.SQL("NOTIFY {}").format(sql.Identifier(c)) for c in sorted(channels))
        for attempt in (1, 2):  # once more on a new connection if the kept one was closed
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5)
                self._conn.execute(statement)
                self.sent += 1
                return
            except psycopg.Error as exc:
                self._close()
                if attempt == 2:
                    log.warning("outbox wake-up not sent (%s); the relay will find the events by polling", exc)

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                pass
            self._conn = None


_wakers: dict[tuple[int, str], Waker] = {}
_wakers_lock = threading.Lock()


def waker(conninfo: str) -> Waker:
    """The process's Waker for a database (a new one in a forked child: threads do not survive fork)."""
    key = (os.getpid(), conninfo)
    with _wakers_lock:
        found = _wakers.get(key)
        if found is None:
            found = _wakers[key] = Waker(conninfo)
        return found
