"""A tiny test-only service on servicekit, run in subprocesses by the fault tests.

    python faultapp.py worker producer   # relay only: publishes the producer's outbox
    python faultapp.py worker consumer   # handlers `record` and `fragile` on the producer's events
    python faultapp.py dlq list|replay [--queue Q] [--id EVENT_ID]   # the consumer's dead letters

Environment: FAULT_SERVICE (this service's name), FAULT_PRODUCER (source the consumer listens
to), DATABASE_URL, AMQP_URL, and for the consumer FAULT_MAX_RETRIES / FAULT_RETRY_DELAYS_MS.
The test process imports this module too, for the tables and `make_change`.
"""
from __future__ import annotations

import os
import sys
import uuid

import sqlalchemy as sa

from contracts.envelope import Envelope, EventPayload
from servicekit import logs
from servicekit.db import Database, declarative_base
from servicekit.messaging import dlq
from servicekit.messaging.outbox import add_event
from servicekit.messaging.worker import Worker
from servicekit.settings import ServiceSettings, load

Base = declarative_base()
changes = sa.Table("changes", Base.metadata,
                   sa.Column("id", sa.String(36), primary_key=True), sa.Column("label", sa.String(100)))
# No unique constraint on purpose: a second effect of one event would show as a second row.
effects = sa.Table("effects", Base.metadata,
                   sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                   sa.Column("handler", sa.String(50), nullable=False),
                   sa.Column("event_id", sa.String(36), nullable=False))
switches = sa.Table("switches", Base.metadata,
                    sa.Column("name", sa.String(50), primary_key=True), sa.Column("on", sa.Boolean, nullable=False))


class ChangeMade(EventPayload):
    EVENT_TYPE = "change.made.v1"
    change_id: str
    label: str


class FragileChangeMade(EventPayload):
    EVENT_TYPE = "change.fragile.v1"
    change_id: str


def make_change(db: Database, source: str, label: str, fragile: bool = False) -> Envelope:
    """The business change and its event, in one transaction (what a web request would do)."""
    change_id = str(uuid.uuid4())
    with db.transaction() as s:
        s.execute(changes.insert().values(id=change_id, label=label))
        payload = FragileChangeMade(change_id=change_id) if fragile else ChangeMade(change_id=change_id, label=label)
        return add_event(s, source, payload)


def consumer_worker(settings: ServiceSettings, db: Database) -> Worker:
    delays = [int(d) for d in os.environ.get("FAULT_RETRY_DELAYS_MS", "100,200").split(",")]
    worker = Worker(settings, db, max_retries=int(os.environ.get("FAULT_MAX_RETRIES", "2")),
                    retry_delays_ms=delays)
    producer = os.environ["FAULT_PRODUCER"]

    @worker.handler(producer, ChangeMade.EVENT_TYPE, "record")
    def record(session, envelope):
        session.execute(effects.insert().values(handler="record", event_id=envelope.id))

    @worker.handler(producer, FragileChangeMade.EVENT_TYPE, "fragile")
    def fragile(session, envelope):
        broken = session.execute(sa.select(switches.c.on).where(switches.c.name == "broken")).scalar()
        if broken:
            raise RuntimeError("fragile handler: downstream system is broken")
        session.execute(effects.insert().values(handler="fragile", event_id=envelope.id))

    return worker


def main(argv: list[str]) -> int:
    settings = load(ServiceSettings, os.environ["FAULT_SERVICE"])
    logs.configure(settings.service, "INFO", "text")
    db = Database(settings.database_url)
    if argv[:2] == ["worker", "producer"]:
        Worker(settings, db).run()
        return 0
    if argv[:2] == ["worker", "consumer"]:
        consumer_worker(settings, db).run()
        return 0
    if argv[:1] == ["dlq"]:
        return dlq.main(argv[1:], settings, consumer_worker(settings, db).queues)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
