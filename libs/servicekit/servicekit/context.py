"""The correlation id of the work in progress (an HTTP request or a consumed event).

It is set at the edge (web middleware, consumer) and read by logs, outgoing HTTP calls and
events written to the outbox, so one journey can be followed across services.
"""
from __future__ import annotations

import contextvars
import random

HEADER = "X-Correlation-ID"

_correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)


def new_id() -> str:
    """32 hex digits, as uuid4().hex gave, from Python's PRNG (reseeded in each forked worker):
    an id to follow a journey by, not a secret, and made on every request without a header."""
    return f"{random.getrandbits(128):032x}"


def get_correlation_id() -> str | None:
    return _correlation_id.get()


def set_correlation_id(value: str | None) -> contextvars.Token:
    return _correlation_id.set(value)


def reset_correlation_id(token: contextvars.Token) -> None:
    _correlation_id.reset(token)
