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

import hashlib
import hmac
import json
import threading
import time
import zlib
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from flask import flash, session
from flask.json.provider import DefaultJSONProvider
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SecureCookieSessionInterface
from itsdangerous.encoding import base64_decode, base64_encode, bytes_to_int, int_to_bytes

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
# A signed-in request stamps `seen_at` (the start of the idle time) only when the last stamp is at
# least this old. Stamping on every request changed the session on every request, so every
# answer carried a newly signed cookie (about a tenth of the gateway's CPU per booking cart);
# now a request that changes nothing else sends no cookie. The idle lifetime is counted from the
# last stamp: a session left idle ends between `session_idle_seconds - STAMP_SECONDS` and
# `session_idle_seconds` after its last request, never later. The cookie's own expiry (the
# idle lifetime from its last writing, which is at or after the stamp) never comes before that.
STAMP_SECONDS = 60.0
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
    """Flask's signed session cookie, the same bytes both ways, read and written in fewer steps.

    Flask builds an itsdangerous serializer (and derives its signing key) to open and again to save
    every session, tags the session's values through eight type checks each, and goes through
    several layers per step: about 40 µs to read and 95 µs to write a signed-in parent's cookie.
    Here the derived keys are kept per set of secret keys, plain JSON values (str, numbers, lists,
    dicts, tuples: Flask's flashes) are tagged by one type switch (anything else by Flask's
    serializer), and the reading and the signing are done inline, as itsdangerous does them:
    zlib-compressed when shorter, url-safe base64, a timestamp, HMAC-SHA1 with the key derived
    from the salt "cookie-session". A cookie this class writes is one Flask writes (and reads) and
    the reverse (tests/unit/test_signed_cookie.py). Whatever the fast reading does not take (a bad
    signature, an expired or malformed cookie, a customised serializer) is read by Flask's own
    code, which decides as before.
    """

    def __init__(self):
        self._serializer: tuple[tuple, object] | None = None
        self._derived: tuple[tuple, tuple[bytes, ...]] | None = None

    def get_signing_serializer(self, app):
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        made = self._serializer
        if made is None or made[0] != keys:
            made = self._serializer = (keys, super().get_signing_serializer(app))
        return made[1]

    def _keys(self, app) -> tuple[bytes, ...] | None:
        """The derived signing keys, the current one first (itsdangerous's order of verification);
        None when the fast path does not apply (no secret key, another serializer or signer)."""
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        derived = self._derived
        if derived is None or derived[0] != keys:
            usable = (app.secret_key and self.key_derivation == "hmac" and self.salt == "cookie-session"
                      and self.digest_method is SecureCookieSessionInterface.digest_method
                      and _plain_serializer(self.serializer))
            secrets = [*(app.config["SECRET_KEY_FALLBACKS"] or ()), app.secret_key] if usable else []
            derived = self._derived = (keys, tuple(
                hmac.new(_bytes(secret), b"cookie-session", hashlib.sha1).digest() for secret in reversed(secrets)))
        return derived[1] or None

    def open_session(self, app, request):
        value = request.cookies.get(self.get_cookie_name(app))
        keys = self._keys(app) if value and type(app.json) is DefaultJSONProvider else None
        if keys is not None:
            data = _read(value, keys, int(app.permanent_session_lifetime.total_seconds()), self.serializer)
            if data is not None:
                return self.session_class(data)
        return super().open_session(app, request)

    def save_session(self, app, session, response) -> None:
        keys = self._keys(app) if type(app.json) is DefaultJSONProvider else None
        if keys is None or not session or not self.should_set_cookie(app, session):
            return super().save_session(app, session, response)
        if session.accessed:
            response.vary.add("Cookie")
        response.set_cookie(
            self.get_cookie_name(app), _write(app, dict(session), keys[0], self.serializer),
            expires=self.get_expiration_time(app, session), httponly=self.get_cookie_httponly(app),
            domain=self.get_cookie_domain(app), path=self.get_cookie_path(app), secure=self.get_cookie_secure(app),
            partitioned=self.get_cookie_partitioned(app), samesite=self.get_cookie_samesite(app))
        response.vary.add("Cookie")


_DEFAULT_TAGS = tuple(type(tag) for tag in TaggedJSONSerializer().order)


def _plain_serializer(serializer) -> bool:
    """Flask's tagged JSON with its own tags only (an app may register more: then Flask's code)."""
    return isinstance(serializer, TaggedJSONSerializer) and tuple(type(t) for t in serializer.order) == _DEFAULT_TAGS


def _bytes(value) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def _tag(value, serializer: TaggedJSONSerializer):
    """What `serializer.tag(value)` gives, without its eight checks per plain JSON value."""
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    if kind is dict:
        if len(value) == 1 and next(iter(value)) in serializer.tags:
            return serializer.tag(value)  # a dict that looks like a tag: Flask's TagDict
        return {k: _tag(v, serializer) for k, v in value.items()}
    if kind is list:
        return [_tag(v, serializer) for v in value]
    if kind is tuple:
        return {" t": [_tag(v, serializer) for v in value]}
    return serializer.tag(value)


def _write(app, data: dict, key: bytes, serializer: TaggedJSONSerializer) -> str:
    """itsdangerous's URLSafeTimedSerializer.dumps of Flask's session serializer, inline."""
    payload = app.json.dumps(_tag(data, serializer), separators=(",", ":")).encode("utf-8")
    compressed = zlib.compress(payload)
    if len(compressed) < len(payload) - 1:
        payload = b"." + base64_encode(compressed)
    else:
        payload = base64_encode(payload)
    signed = payload + b"." + base64_encode(int_to_bytes(int(time.time())))
    return (signed + b"." + base64_encode(hmac.digest(key, signed, "sha1"))).decode("utf-8")


def _read(value: str, keys: tuple[bytes, ...], max_age: int, serializer: TaggedJSONSerializer) -> dict | None:
    """The session in a cookie signed with one of `keys`, at most `max_age` seconds old; None
    for anything else (Flask's code then reads it and decides)."""
    try:
        signed, dot, signature = value.encode("utf-8").rpartition(b".")
        if not dot:
            return None
        signature = base64_decode(signature)
        if not any(hmac.compare_digest(signature, hmac.digest(key, signed, "sha1")) for key in keys):
            return None
        payload, dot, stamp = signed.rpartition(b".")
        age = int(time.time()) - bytes_to_int(base64_decode(stamp))
        if not dot or age > max_age or age < 0:
            return None
        if payload[:1] == b".":
            payload = zlib.decompress(base64_decode(payload[1:]))
        else:
            payload = base64_decode(payload)
        data = json.loads(payload.decode("utf-8"), object_hook=serializer.untag)  # = Flask's _untag_scan
    except Exception:  # noqa: BLE001 - whatever it is, Flask's reading decides
        return None
    return data if isinstance(data, dict) else None


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
    if not 0 <= idle < STAMP_SECONDS:  # see STAMP_SECONDS: the cookie is written again only then
        session["seen_at"] = now
