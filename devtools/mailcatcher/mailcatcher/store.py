"""The caught messages: the last N in memory, optionally every one in a Maildir too."""
from __future__ import annotations

import email
import email.policy
import mailbox
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path

from mailcatcher.refusals import Refusals


@dataclass(frozen=True)
class Caught:
    id: str
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    received_at: datetime
    message: EmailMessage = field(repr=False, compare=False)

    @classmethod
    def parse(cls, mail_from: str, rcpt_tos, raw: bytes) -> "Caught":
        raw = raw.replace(b"\r\n", b"\n")  # SMTP's CRLF line ends → the local convention
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        return cls(uuid.uuid4().hex, mail_from, tuple(rcpt_tos), raw, datetime.now(timezone.utc), msg)

    @property
    def date(self) -> str:
        try:
            header = self.message["Date"]
            when = header.datetime if header is not None else None
        except (TypeError, ValueError):  # a malformed Date header
            when = None
        when = when or self.received_at
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return when.astimezone(timezone.utc).isoformat()

    def summary(self) -> dict:
        return {
            "id": self.id,
            "from": str(self.message["From"] or self.mail_from),
            "to": list(self.rcpt_tos),
            "subject": str(self.message["Subject"] or ""),
            "date": self.date,
        }

    def detail(self) -> dict:
        return {
            **self.summary(),
            "text": _body(self.message, "plain"),
            "html": _body(self.message, "html"),
            "headers": [[name, str(value)] for name, value in self.message.items()],
        }


def _body(msg: EmailMessage, subtype: str) -> str | None:
    """The decoded text of the first text/<subtype> part (charset and transfer encoding undone)."""
    part = msg.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_subtype() != subtype:
        return None
    try:
        return part.get_content()
    except (LookupError, UnicodeDecodeError):  # unknown charset: show what can be shown
        return part.get_payload(decode=True).decode("utf-8", errors="replace")


class Store:
    def __init__(self, keep: int = 500, maildir: Path | None = None):
        self._messages: deque[Caught] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self._maildir = mailbox.Maildir(maildir, create=True) if maildir else None
        self.refusals = Refusals()

    def add(self, caught: Caught) -> None:
        with self._lock:
            self._messages.append(caught)
            if self._maildir is not None:
                self._maildir.add(caught.raw)

    def newest_first(self) -> list[Caught]:
        with self._lock:
            return list(reversed(self._messages))

    def get(self, message_id: str) -> Caught | None:
        with self._lock:
            return next((m for m in self._messages if m.id == message_id), None)

    def clear(self) -> None:
        """Forget the messages in memory (the Maildir, a record on disk, is kept)."""
        with self._lock:
            self._messages.clear()
