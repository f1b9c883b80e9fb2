"""Liveness and readiness.

- live: the process answers (no dependency checked: a broker outage must not get pods killed).
- ready: the database answers, the broker accepts a connection, and the outbox is not lagging
  (its oldest unpublished event is younger than OUTBOX_LAG_ALERT_SECONDS).
"""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Callable

import sqlalchemy as sa
from flask import Flask, jsonify
from kombu import Connection

from servicekit.db import Database
from servicekit.messaging.tables import outbox
from servicekit.settings import ServiceSettings

BROKER_CHECK_CACHE_SECONDS = 3.0


def outbox_lag(db: Database) -> dict:
    """Pending events (neither published nor parked), age in seconds of the oldest of them, and
    parked events (the relay gave up on them: servicekit.messaging.parking)."""
    with db.read() as s:
        pending, oldest = s.execute(
            sa.select(sa.func.count(), sa.func.min(outbox.c.created_at))
            .where(outbox.c.published_at.is_(None), outbox.c.parked_at.is_(None))
        ).one()
        parked = s.execute(sa.select(sa.func.count()).where(outbox.c.parked_at.is_not(None))).scalar_one()
    age = 0.0
    if oldest is not None:
        if oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=timezone.utc)
        age = max(0.0, (datetime.now(timezone.utc) - oldest).total_seconds())
    return {"pending": int(pending), "oldest_age_seconds": round(age, 3), "parked": int(parked)}


class BrokerProbe:
    """Checks that the broker accepts a connection; caches the answer for a few seconds."""

    def __init__(self, url: str):
        self.url = url
        self._lock = threading.Lock()
        self._checked_at = 0.0
        self._result: tuple[bool, str] = (False, "not checked")

    def check(self) -> tuple[bool, str]:
        with self._lock:
            if time.monotonic() - self._checked_at < BROKER_CHECK_CACHE_SECONDS:
                return self._result
            try:
                with Connection(self.url, connect_timeout=2) as conn:
                    conn.ensure_connection(max_retries=1, timeout=2)
                self._result = (True, "ok")
            except Exception as exc:  # any failure means "not ready"
                self._result = (False, f"{type(exc).__name__}: {exc}")
            self._checked_at = time.monotonic()
            return self._result


def readiness(settings: ServiceSettings, db: Database, broker: BrokerProbe,
              extra: dict[str, Callable[[], tuple[bool, str]]]) -> tuple[bool, dict]:
    checks: dict[str, dict] = {}
    try:
        db.ping()
        checks["database"] = {"ok": True}
    except Exception as exc:
        checks["database"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    ok, detail = broker.check()
    checks["broker"] = {"ok": ok} if ok else {"ok": False, "error": detail}
    if checks["database"]["ok"]:
        try:
            lag = outbox_lag(db)
            checks["outbox"] = {"ok": lag["oldest_age_seconds"] < settings.outbox_lag_alert_seconds, **lag}
        except Exception as exc:  # e.g. migrations not applied yet
            checks["outbox"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    for name, fn in extra.items():
        try:
            ok, detail = fn()
        except Exception as exc:
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        checks[name] = {"ok": ok, "detail": detail}
    return all(c["ok"] for c in checks.values()), checks


def install(flask_app: Flask, settings: ServiceSettings, db: Database, extra: dict) -> None:
    broker = BrokerProbe(settings.amqp_url)

    @flask_app.get("/health/live")
    def health_live():
        return jsonify(status="ok", service=settings.service)

    @flask_app.get("/health/ready")
    def health_ready():
        ok, checks = readiness(settings, db, broker, extra)
        body = {"status": "ok" if ok else "unavailable", "service": settings.service, "checks": checks}
        return jsonify(body), (200 if ok else 503)
