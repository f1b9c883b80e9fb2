"""Helpers for notify's integration tests: a real SMTP server in-process, identity events."""
from __future__ import annotations

import email
import email.policy
import socket
import threading
from email.message import EmailMessage

import kombu
from aiosmtpd.controller import Controller

from contracts.envelope import Envelope
from servicekit.messaging.broker import events_exchange


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
    return Envelope(type=payload.EVENT_TYPE, source="identity", data=payload.model_dump(mode="json"))


def publish(amqp_url: str, envelope: Envelope) -> None:
    exchange = events_exchange(envelope.source)
    with kombu.Connection(amqp_url) as conn:
        conn.Producer().publish(envelope.model_dump_json(), exchange=exchange, routing_key=envelope.type,
                                content_type="application/json", message_id=envelope.id, retry=True,
                                declare=[exchange])
