"""Helpers for servicekit's messaging integration tests (a uniquely named module, not a package,
so it cannot clash with other test suites collected in the same pytest run)."""
from __future__ import annotations

import threading
import uuid
from contextlib import contextmanager

import amqp.exceptions
import sqlalchemy as sa

from contracts.envelope import EventPayload
from servicekit.db import Database, declarative_base
from servicekit.messaging.broker import close_quietly, connect, events_exchange
from servicekit.settings import ServiceSettings
from servicekit.testing import wait_until

Base = declarative_base()
things = sa.Table("things", Base.metadata,
                  sa.Column("id", sa.String(36), primary_key=True), sa.Column("name", sa.String(100)))
effects = sa.Table("effects", Base.metadata,
                   sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                   sa.Column("consumer", sa.String(100), nullable=False),
                   sa.Column("event_id", sa.String(36), nullable=False),
                   sa.Column("correlation_id", sa.String(64)))
parents = sa.Table("parents", Base.metadata, sa.Column("id", sa.String(36), primary_key=True))
children = sa.Table("children", Base.metadata,
                    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("parent_id", sa.String(36),
                              sa.ForeignKey("parents.id", deferrable=True, initially="DEFERRED"), nullable=False))
switches = sa.Table("switches", Base.metadata,
                    sa.Column("name", sa.String(50), primary_key=True), sa.Column("on", sa.Boolean, nullable=False))


class ThingCreated(EventPayload):
    EVENT_TYPE = "thing.created.v1"
    thing_id: str
    name: str


def make_database(url: str) -> Database:
    db = Database(url)
    Base.metadata.create_all(db.engine)
    return db


def unique_service(prefix: str = "svc") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def settings_for(service: str, db: Database, amqp_url: str) -> ServiceSettings:
    return ServiceSettings(service=service, database_url=db.url, amqp_url=amqp_url)


@contextmanager
def running(worker, timeout: float = 20.0):
    """Run `worker` in a thread until the block ends."""
    thread = threading.Thread(target=worker.run, name=f"test-{worker.service}", daemon=True)
    thread.start()
    try:
        wait_until(worker.ready.is_set, timeout, message=f"worker {worker.service} not ready")
        yield worker
    finally:
        worker.stop()
        thread.join(30)
        assert not thread.is_alive(), "worker did not stop"


def count_effects(db: Database, event_id: str | None = None, consumer: str | None = None) -> int:
    query = sa.select(sa.func.count()).select_from(effects)
    if event_id is not None:
        query = query.where(effects.c.event_id == event_id)
    if consumer is not None:
        query = query.where(effects.c.consumer == consumer)
    with db.read() as s:
        return s.execute(query).scalar_one()


class Broker:
    """A raw kombu/py-amqp view of a test vhost: probe queues, depth, basic.get, raw publish."""

    def __init__(self, url: str):
        self.url = url
        self.conn = connect(url)
        self.channel = self.conn.channel()
        self.channel.auto_decode = False

    def close(self) -> None:
        close_quietly(self.conn)

    def bind_probe(self, source: str, routing_key: str = "#") -> str:
        queue = f"probe.{uuid.uuid4().hex[:8]}"
        import kombu
        kombu.Queue(queue, exchange=events_exchange(source), routing_key=routing_key,
                    durable=True, auto_delete=False)(self.channel).declare()
        return queue

    def depth(self, queue: str) -> int:
        try:
            return self.channel.queue_declare(queue, passive=True).message_count
        except amqp.exceptions.NotFound:
            self.channel = self.conn.channel()
            return 0

    def get_all(self, queue: str) -> list:
        messages = []
        while (m := self.channel.basic_get(queue, no_ack=True)) is not None:
            messages.append(m)
        return messages

    def publish_raw(self, source: str, routing_key: str, body: bytes, message_id: str = "", headers=None) -> None:
        import amqp as pyamqp
        events_exchange(source)(self.channel).declare()
        self.channel.basic_publish(pyamqp.Message(body, content_type="application/json", delivery_mode=2,
                                                  message_id=message_id, application_headers=headers or {}),
                                   exchange=f"{source}.events", routing_key=routing_key)
