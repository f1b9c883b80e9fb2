"""Gateway session lifetimes and single logout.

The session itself is a signed cookie (`ef_session`): nothing to store per visitor. What needs
to be shared by every gunicorn worker is the set of ended sessions: identity sessions (`sid`)
that identity ended through back-channel logout, and gateway sessions (`gsid`, made at
sign-in) ended by the gateway's own sign-out. A cookie still carrying such an id is refused
(a copy of a signed cookie cannot be recalled otherwise). It is a small table in the
gateway's own database (Alembic migration in gateway/migrations). Rows are useless after the
absolute session lifetime (no cookie can be older), so they are purged then.

Every signed-in request asks whether its session was ended. Asking the table each time was a
tenth of the gateway's CPU in the booking rush, so each process keeps the ended ids in memory:
its own ends at once, the others' read from the table again at most every `STALENESS_SECONDS`
(only the rows ended since the newest one read, minus `OVERLAP`). The bound: a session ended
through another worker or pod is refused everywhere at most `STALENESS_SECONDS` (1 s) after
its end was committed; through this process, at once.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from flask import flash, session
from flask.sessions import SecureCookieSessionInterface

from servicekit.db import NAMING_CONVENTION, Database

from gateway import auth
from gateway.settings import GatewaySettings

SUBJECT_PREFIX = "sub:"
LOCAL_PREFIX = "gw:"

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

ended_sessions = sa.Table(
    "ended_sessions",
    metadata,
    sa.Column("sid", sa.String(255), primary_key=True),
    sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False, index=True),
)

STALENESS_SECONDS = 1.0
# Rows are read again this far behind the newest `ended_at` already read: a row committed after a
# read but stamped before that read's newest row (a slow commit, another pod's clock) is still found.
OVERLAP = timedelta(minutes=5)

# The rows ended since a moment: one statement, built once, on an autocommit connection.
_ENDED_SINCE = (sa.select(ended_sessions.c.sid, ended_sessions.c.ended_at)
                .where(ended_sessions.c.ended_at >= sa.bindparam("since")))


def _timestamp(ended_at: datetime) -> float:
    if ended_at.tzinfo is None:  # SQLite returns naive datetimes (stored in UTC)
        ended_at = ended_at.replace(tzinfo=timezone.utc)
    return ended_at.timestamp()


class EndedSessions:
    def __init__(self, db: Database, keep: timedelta = timedelta(hours=13),
                 staleness: float = STALENESS_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.db = db
        self.keep = keep
        self.staleness = staleness
        self._clock = clock  # for the staleness only; ended_at is auth.now(), as the sessions' ages
        self._reader = db.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._ended: dict[str, float] = {}  # ended key -> its ended_at (epoch seconds)
        self._newest: float | None = None  # the newest ended_at read from the table
        self._read_at = float("-inf")  # self._clock() when the last read began
        self._lock = threading.Lock()

    def end(self, sid: str) -> None:
        """identity ended the session `sid`: every gateway session carrying it is refused."""
        self._record(sid)

    def end_local(self, gsid: str) -> None:
        """The user signed out of this gateway session: the cookie is refused from now on."""
        self._record(LOCAL_PREFIX + gsid)

    def end_subject(self, sub: str) -> None:
        """identity ended all sessions of `sub`: gateway sessions opened before now are refused."""
        self._record(SUBJECT_PREFIX + sub)

    def _record(self, key: str) -> None:
        now = datetime.fromtimestamp(auth.now(), timezone.utc)
        with self.db.transaction() as s:
            s.execute(sa.delete(ended_sessions).where(ended_sessions.c.ended_at < now - self.keep))
            s.execute(sa.delete(ended_sessions).where(ended_sessions.c.sid == key))
            s.execute(sa.insert(ended_sessions).values(sid=key, ended_at=now))
        with self._lock:  # committed: this process refuses it at once
            self._ended[key] = max(self._ended.get(key, 0.0), now.timestamp())

    def is_ended(self, sid: str | None, sub: str | None = None, auth_at: float = 0.0,
                 gsid: str | None = None) -> bool:
        local = LOCAL_PREFIX + gsid if gsid else None
        if not (sid or sub or local):
            return False
        ended = self._known()
        if (sid and sid in ended) or (local and local in ended):
            return True
        subject_ended_at = ended.get(SUBJECT_PREFIX + sub) if sub else None
        return subject_ended_at is not None and subject_ended_at >= auth_at

    def _known(self) -> dict[str, float]:
        """The ended keys, read again from the table if the last read began too long ago."""
        if self._clock() - self._read_at < self.staleness:
            return self._ended
        with self._lock:
            if self._clock() - self._read_at >= self.staleness:  # no other thread read it meanwhile
                self._read()
        return self._ended

    def _read(self) -> None:
        began = self._clock()  # every end committed before this moment is in what is read now
        oldest = auth.now() - self.keep.total_seconds()  # no cookie signed in before it is still valid
        since = max(self._newest - OVERLAP.total_seconds(), oldest) if self._newest else oldest
        with self._reader.connect() as conn:
            rows = conn.execute(_ENDED_SINCE, {"since": datetime.fromtimestamp(since, timezone.utc)}).all()
        known = {key: at for key, at in self._ended.items() if at >= oldest}
        for key, ended_at in rows:
            at = _timestamp(ended_at)
            known[key] = max(known.get(key, 0.0), at)
            self._newest = max(self._newest or 0.0, at)
        self._ended = known  # replaced whole: readers in other threads see the old or the new dict
        self._read_at = began


class SignedCookie(SecureCookieSessionInterface):
    """Flask's signed session cookie, its serializer made once per set of keys: Flask makes a new one
    (and derives its signer's settings) to open and again to save every session."""

    def __init__(self):
        self._serializer: tuple[tuple, object] | None = None

    def get_signing_serializer(self, app):
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        made = self._serializer
        if made is None or made[0] != keys:
            made = self._serializer = (keys, super().get_signing_serializer(app))
        return made[1]


def enforce_lifetimes(settings: GatewaySettings, ended: EndedSessions) -> None:
    """Drop a signed-in session that is idle, too old, or ended by identity; else refresh it."""
    if "user" not in session:
        return
    now = auth.now()
    idle = now - float(session.get("seen_at", 0))
    age = now - float(session.get("auth_at", 0))
    if idle > settings.session_idle_seconds or age > settings.session_absolute_seconds:
        session.clear()
        flash("Votre session a expiré. Connectez-vous à nouveau.", "info")
        return
    if ended.is_ended(session.get("sid"), session["user"].get("sub"), float(session.get("auth_at", 0)),
                      session.get("gsid")):
        session.clear()
        flash("Vous avez été déconnecté.", "info")
        return
    session["seen_at"] = now
