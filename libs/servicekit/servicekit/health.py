"""Liveness, readiness and health details of a service's web process.

- live: the process answers (no dependency checked: a broker outage must not get pods killed).
- ready: the process can serve requests: its database answers (and the service's own extra
  checks, if any). Nothing else: the broker and the outbox are the worker's business, and the
  outbox exists precisely to absorb a broker outage, so neither takes web pods out of rotation.
  Failures name only the exception type (the body is relayed by the gateway's /health).
- details (for operators and alerting, never for probes): database, broker reachability, the
  outbox (pending events and the age of the oldest, against OUTBOX_LAG_ALERT_SECONDS; parked
  events, which wait for an operator), with the errors' texts. 503 when any of them is wrong.
The same figures are Prometheus gauges at scrape time (servicekit.metrics).

Framework-free: the app factory mounts `Health(settings, db, extra).live/ready/details`, each
returning (HTTP status, JSON body). The checks are blocking calls: run them off the event loop.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone

import sqlalchemy as sa

from servicekit.db import Database
from servicekit.messaging.tables import outbox
from servicekit.settings import ServiceSettings

BROKER_CHECK_CACHE_SECONDS = 3.0

# name -> fn() returning (ok, detail): a service's own readiness conditions.
ExtraChecks = Mapping[str, Callable[[], tuple[bool, str]]]


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
        from kombu import Connection  # only operators' and metrics' calls need it

        with self._lock:
            if time.monotonic() - self._checked_at < BROKER_CHECK_CACHE_SECONDS:
                return self._result
            try:
                with Connection(self.url, connect_timeout=2) as conn:
                    conn.ensure_connection(max_retries=0, timeout=2)  # one attempt, no sleep
                self._result = (True, "ok")
            except Exception as exc:  # any failure means "unreachable"
                self._result = (False, _describe(exc))
            self._checked_at = time.monotonic()
            return self._result


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _database(db: Database) -> tuple[bool, str]:
    try:
        db.ping()
        return True, "ok"
    except Exception as exc:
        return False, _describe(exc)


def _extras(extra: ExtraChecks | None) -> dict[str, tuple[bool, str]]:
    results = {}
    for name, fn in (extra or {}).items():
        try:
            results[name] = fn()
        except Exception as exc:
            results[name] = (False, _describe(exc))
    return results


def readiness(db: Database, extra: ExtraChecks | None = None) -> tuple[bool, dict]:
    """What the process needs to serve: its database, and the service's extra checks. Errors are
    reduced to the exception type (no host or user names)."""
    checks: dict[str, dict] = {}
    for name, (ok, detail) in {"database": _database(db), **_extras(extra)}.items():
        checks[name] = {"ok": True} if ok else {"ok": False, "error": detail.split(":", 1)[0]}
    return all(c["ok"] for c in checks.values()), checks


def details(settings: ServiceSettings, db: Database, broker: BrokerProbe,
            extra: ExtraChecks | None = None) -> tuple[bool, dict]:
    """Everything an operator wants to see, with the errors' texts; ok when nothing needs attention."""
    checks: dict[str, dict] = {}
    ok, detail = _database(db)
    checks["database"] = {"ok": True} if ok else {"ok": False, "error": detail}
    ok, detail = broker.check()
    checks["broker"] = {"ok": True} if ok else {"ok": False, "error": detail}
    if checks["database"]["ok"]:
        try:
            lag = outbox_lag(db)
            late = lag["oldest_age_seconds"] >= settings.outbox_lag_alert_seconds
            checks["outbox"] = {"ok": not late and lag["parked"] == 0, **lag,
                                "lag_alert_seconds": settings.outbox_lag_alert_seconds}
        except Exception as exc:  # e.g. migrations not applied yet
            checks["outbox"] = {"ok": False, "error": _describe(exc)}
    for name, (ok, detail) in _extras(extra).items():
        checks[name] = {"ok": ok, "detail": detail}
    return all(c["ok"] for c in checks.values()), checks


class Health:
    """The three endpoints of a service, as (HTTP status, JSON body)."""

    def __init__(self, settings: ServiceSettings, db: Database, extra: ExtraChecks | None = None):
        self.settings = settings
        self.db = db
        self.extra = dict(extra or {})
        self.broker = BrokerProbe(settings.amqp_url)

    def live(self) -> tuple[int, dict]:
        return 200, {"status": "ok", "service": self.settings.service}

    def ready(self) -> tuple[int, dict]:
        ok, checks = readiness(self.db, self.extra)
        return self._answer(ok, checks, "unavailable")

    def details(self) -> tuple[int, dict]:
        ok, checks = details(self.settings, self.db, self.broker, self.extra)
        return self._answer(ok, checks, "degraded")

    def _answer(self, ok: bool, checks: dict, failed: str) -> tuple[int, dict]:
        body = {"status": "ok" if ok else failed, "service": self.settings.service, "checks": checks}
        return (200 if ok else 503), body

