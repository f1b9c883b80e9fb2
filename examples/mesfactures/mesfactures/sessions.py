"""Signed-in sessions, kept on the server (SQLite): the browser's cookie holds only a random id.

The tokens never reach the browser, and identity's back-channel logout can end a session
the browser is not present for (by its identity session `sid`, or every session of a `sub`).
"""
from __future__ import annotations

import json
import secrets
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path

LIFETIME = 12 * 3600  # seconds; identity's SSO session lasts no longer

SCHEMA = """
CREATE TABLE IF NOT EXISTS portal_session (
    id TEXT PRIMARY KEY,
    sid TEXT,
    sub TEXT NOT NULL,
    data TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS portal_session_sid ON portal_session (sid);
CREATE INDEX IF NOT EXISTS portal_session_sub ON portal_session (sub);
"""


class SessionStore:
    def __init__(self, path: str):
        self.path = path
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(SCHEMA)

    @contextmanager
    def _connect(self):
        db = sqlite3.connect(self.path, timeout=10)
        try:
            with db:  # one transaction: committed, or rolled back on error
                yield db
        finally:
            db.close()

    def create(self, *, sub: str, sid: str | None, data: dict) -> str:
        session_id = secrets.token_urlsafe(32)
        with self._connect() as db:
            db.execute("DELETE FROM portal_session WHERE expires_at < ?", (time.time(),))
            db.execute("INSERT INTO portal_session (id, sid, sub, data, expires_at) VALUES (?, ?, ?, ?, ?)",
                       (session_id, sid, sub, json.dumps(data), time.time() + LIFETIME))
        return session_id

    def get(self, session_id: str | None) -> dict | None:
        if not session_id:
            return None
        with self._connect() as db:
            row = db.execute("SELECT data FROM portal_session WHERE id = ? AND expires_at > ?",
                             (session_id, time.time())).fetchone()
        return json.loads(row[0]) if row else None

    def delete(self, session_id: str) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM portal_session WHERE id = ?", (session_id,))

    def end_identity_session(self, sid: str) -> int:
        """Back-channel logout naming identity's session: every portal session opened in it."""
        with self._connect() as db:
            return db.execute("DELETE FROM portal_session WHERE sid = ?", (sid,)).rowcount

    def end_subject(self, sub: str) -> int:
        """Back-channel logout naming only the user: all their portal sessions."""
        with self._connect() as db:
            return db.execute("DELETE FROM portal_session WHERE sub = ?", (sub,)).rowcount
