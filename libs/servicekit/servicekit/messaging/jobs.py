"""Scheduled jobs of a worker: `fn(db)` every N seconds, in its own thread.

Several replicas may run the same worker. On PostgreSQL each run first takes
`pg_try_advisory_xact_lock(<key of service:job>)` on a dedicated connection and holds it for
the duration of the run, so two replicas never run the same job at the same time (the one
that does not get the lock skips that tick). Jobs must still be idempotent: after one replica
finished, another may run the job again before the interval has passed. On SQLite (one worker)
the job simply runs. An exception is logged and counted; the next tick runs again.
"""
from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from servicekit.db import Database
from servicekit.messaging import metrics

log = logging.getLogger(__name__)

JobFn = Callable[[Database], None]


@dataclass(frozen=True)
class Job:
    name: str
    seconds: float
    fn: JobFn


def advisory_lock_key(service: str, job_name: str) -> int:
    """A stable signed 64-bit key (what pg_advisory locks take) for this service's job."""
    digest = hashlib.sha256(f"{service}:{job_name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class JobRunner:
    def __init__(self, service: str, db: Database, job: Job):
        self.service = service
        self.db = db
        self.job = job
        self.lock_key = advisory_lock_key(service, job.name)

    def run(self, stop: threading.Event) -> None:
        """Run now, then every `seconds` until `stop` is set."""
        while not stop.is_set():
            self.run_once()
            if stop.wait(self.job.seconds):
                break

    def run_once(self) -> bool:
        """One tick; True if the job was called (even if it raised), False if it was not."""
        try:
            if self.db.is_sqlite:
                self._call()
                return True
            with self.db.engine.connect() as conn, conn.begin():
                locked = conn.execute(sa.text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": self.lock_key}).scalar()
                if not locked:
                    metrics.JOB_RUNS.labels(self.service, self.job.name, "skipped").inc()
                    return False
                self._call()
            return True
        except Exception:  # taking the lock failed (database down): try again next tick
            log.exception("scheduled job %s could not run", self.job.name)
            metrics.JOB_RUNS.labels(self.service, self.job.name, "failed").inc()
            return False

    def _call(self) -> None:
        try:
            self.job.fn(self.db)
        except Exception:
            log.exception("scheduled job %s failed", self.job.name)
            metrics.JOB_RUNS.labels(self.service, self.job.name, "failed").inc()
        else:
            metrics.JOB_RUNS.labels(self.service, self.job.name, "ok").inc()
