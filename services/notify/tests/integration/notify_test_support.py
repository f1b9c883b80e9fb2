"""Helpers for notify's integration tests: a real SMTP server in-process, identity events."""
from __future__ import annotations

import email
import email.policy
import socket
import threading
from email.message import EmailMessage

import json
from pathlib import Path

import kombu
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from contracts.envelope import Envelope
from servicekit.messaging.broker import events_exchange
from servicekit.messaging.tables import outbox
from servicekit.settings import load

import notify
from notify.models import notifications
from notify.settings import NotifySettings



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """aiosmtpd handler keeping every message; refuses recipients listed in `refuse`."""

    def __init__(self, refuse: tuple[str, ...] = ()):
        self.messages: list[EmailMessage] = []
        self.refuse = refuse
        self._lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(msg)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if m["To"] == address]


class SmtpServer:
    def __init__(self, port: int, refuse: tuple[str, ...] = ()):
        self.port = port
        self.inbox = Inbox(refuse)
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=port)

    def __enter__(self) -> "SmtpServer":
        self.controller.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.controller.stop()


def identity_envelope(payload) -> Envelope:
    return envelope_of(payload, "identity")


def envelope_of(payload, source: str) -> Envelope:
    return Envelope(type=payload.EVENT_TYPE, source=source, data=payload.model_dump(mode="json"))


def publish(amqp_url: str, *envelopes: Envelope) -> None:
    with kombu.Connection(amqp_url) as conn:
        producer = conn.Producer()
        for envelope in envelopes:
            exchange = events_exchange(envelope.source)
            producer.publish(envelope.model_dump_json(), exchange=exchange, routing_key=envelope.type,
                             content_type="application/json", message_id=envelope.id, retry=True, declare=[exchange])


MIGRATIONS = Path(notify.__file__).resolve().parent.parent / "migrations"
# Tests that call the sending job directly never talk to the broker: no vhost to make.
NO_BROKER = "amqp://guest:guest@127.0.0.1:5672/unused"


def settings_for(pg_url: str, amqp_url: str, smtp_port: int, **extra) -> NotifySettings:
    env = {"NOTIFY_DATABASE_URL": pg_url, "AMQP_URL": amqp_url, "EF_ENV": "test", "SMTP_PORT": str(smtp_port),
           "NOTIFY_SEND_INTERVAL_SECONDS": "0.1", "NOTIFY_RETRY_BASE_SECONDS": "0.3", "NOTIFY_RETRY_CAP_SECONDS": "1"}
    env.update({k.upper(): str(v) for k, v in extra.items()})
    return load(NotifySettings, "notify", env)


def rows(db, **where):
    with db.read() as s:
        q = sa.select(notifications)
        for k, v in where.items():
            q = q.where(notifications.c[k] == v)
        return [dict(r) for r in s.execute(q).mappings()]


def outbox_events(db, event_type):
    with db.read() as s:
        bodies = s.execute(sa.select(outbox.c.body).where(outbox.c.routing_key == event_type)).scalars()
        return [json.loads(b) for b in bodies]


