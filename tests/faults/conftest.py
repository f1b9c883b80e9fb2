"""Fault tests: a producer and a consumer worker (tests/faults/faultapp.py) in subprocesses,
on real PostgreSQL databases and a real RabbitMQ vhost made for each test."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import amqp.exceptions
import pytest
import sqlalchemy as sa

# pytest runs with --import-mode=importlib: make faultapp.py (next to this file) importable.
sys.path.insert(0, str(Path(__file__).parent))

import faultapp  # noqa: E402
from servicekit.db import Database  # noqa: E402
from servicekit.messaging.broker import close_quietly, connect  # noqa: E402
from servicekit.testing import wait_until  # noqa: E402

from broker_control import FAULTAPP  # noqa: E402


@dataclass
class Process:
    role: str
    env: dict
    log_path: Path
    popen: subprocess.Popen | None = None

    def start(self, **extra_env: str) -> "Process":
        log = open(self.log_path, "a")
        self.popen = subprocess.Popen([sys.executable, str(FAULTAPP), "worker", self.role],
                                      env={**self.env, **extra_env}, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return self

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(20)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


@dataclass
class Platform:
    """Producer + consumer services of one test, with their databases and vhost."""
    amqp_url: str
    producer_name: str
    consumer_name: str
    producer_db: Database
    consumer_db: Database
    base_env: dict
    tmp: Path
    processes: list = field(default_factory=list)

    def process(self, role: str) -> Process:
        service, db = ((self.producer_name, self.producer_db) if role == "producer"
                       else (self.consumer_name, self.consumer_db))
        env = {**self.base_env, "FAULT_SERVICE": service, "DATABASE_URL": db.url}
        proc = Process(role, env, self.tmp / f"{role}.log")
        self.processes.append(proc)
        return proc

    def effects(self, event_id: str, handler: str = "record") -> int:
        with self.consumer_db.read() as s:
            return s.execute(sa.select(sa.func.count()).select_from(faultapp.effects).where(
                faultapp.effects.c.event_id == event_id, faultapp.effects.c.handler == handler)).scalar_one()

    def outbox_row(self, event_id: str):
        from servicekit.messaging.tables import outbox
        with self.producer_db.read() as s:
            return s.execute(sa.select(outbox).where(outbox.c.event_id == event_id)).one()

    def queue_has_consumer(self, queue: str) -> bool:
        conn = connect(self.amqp_url)
        try:
            return conn.channel().queue_declare(queue, passive=True).consumer_count > 0
        except amqp.exceptions.NotFound:
            return False
        finally:
            close_quietly(conn)

    def start_consumer(self, **env) -> Process:
        proc = self.process("consumer").start(**env)
        wait_until(lambda: self.queue_has_consumer(f"{self.consumer_name}.record")
                   and self.queue_has_consumer(f"{self.consumer_name}.fragile"), timeout=30,
                   message="consumer did not start consuming")
        return proc


@pytest.fixture
def services(pg_database_factory, amqp_vhost_url, tmp_path):
    dbs = [Database(pg_database_factory("fault")) for _ in range(2)]
    for db in dbs:
        faultapp.Base.metadata.create_all(db.engine)
    producer_name = f"fprod{uuid.uuid4().hex[:6]}"
    env = {k: v for k, v in os.environ.items() if k != "SERVICEKIT_FAULT"}
    env.update(AMQP_URL=amqp_vhost_url, FAULT_PRODUCER=producer_name, EF_ENV="test", EF_VAR_DIR=str(tmp_path),
               FAULT_MAX_RETRIES="2", FAULT_RETRY_DELAYS_MS="100,200", PYTHONUNBUFFERED="1")
    p = Platform(amqp_vhost_url, producer_name, f"fcons{uuid.uuid4().hex[:6]}", dbs[0], dbs[1], env, tmp_path)
    yield p
    for proc in p.processes:
        proc.stop()
    for db in dbs:
        db.dispose()
    for proc in p.processes:
        sys.stdout.write(f"--- {proc.role} log ---\n{proc.log()}\n")
