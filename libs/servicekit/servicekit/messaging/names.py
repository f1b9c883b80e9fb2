"""Names of the broker objects and PostgreSQL channels, in one place.

Producers and consumers of different services must agree on them, so they are computed here
and nowhere else.
"""
from __future__ import annotations


def exchange_name(source: str) -> str:
    """The durable topic exchange a service publishes its events to."""
    return f"{source}.events"


def notify_channel(source: str) -> str:
    """The PostgreSQL NOTIFY channel that wakes the relay when `source` writes an event."""
    return f"outbox_{source}"


def consumer_queue(service: str, handler_name: str) -> str:
    return f"{service}.{handler_name}"


def retry_queue(queue: str, delay_ms: int) -> str:
    """Delay queue: messages wait `delay_ms` there, then are dead-lettered back to `queue`."""
    return f"{queue}.retry.{delay_ms}"


def dead_letter_queue(queue: str) -> str:
    return f"{queue}.dlq"


def original_queue(dlq: str) -> str:
    """`<queue>.dlq` -> `<queue>` (a name without the suffix is returned unchanged)."""
    return dlq[: -len(".dlq")] if dlq.endswith(".dlq") else dlq
