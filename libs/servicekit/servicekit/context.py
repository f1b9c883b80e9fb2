"""The correlation id of the work in progress (an HTTP request or a consumed event).

It is set at the edge (web middleware, consumer) and read by logs, outgoing HTTP calls and
events written to the outbox, so one journey can be followed across services.
"""
from __future__ import annotations

import contextvars
import uuid

HEADER = "X-Correlation-ID"

_correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)


def new_id() -> str:
    return uuid.uuid4().hex


def get_correlation_id() -> str | None:
    return _correlation_id.get()


def set_correlation_id(value: str | None) -> contextvars.Token:
    return _correlation_id.set(value)


def reset_correlation_id(token: contextvars.Token) -> None:
    _correlation_id.reset(token)
