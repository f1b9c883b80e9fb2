"""Idempotency-Key: an operation answered once per caller and key; a retried request (double
click, gateway retry) gets the first answer again and changes nothing.

Keys are scoped by caller and operation (`cart.validate`, `service.create`…). On PostgreSQL a
transaction-level advisory lock on (caller, operation, key) serialises twin requests, so the
second waits for the first and returns its stored answer.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit.tokens import Caller
from servicekit.types import utcnow

from booking.models import idempotency_keys


def answered(session: Session, caller_sub: str, operation: str, key: str | None) -> dict | None:
    if not key:
        return None
    return session.execute(sa.select(idempotency_keys.c.response).where(
        idempotency_keys.c.caller_sub == caller_sub, idempotency_keys.c.operation == operation,
        idempotency_keys.c.key == key)).scalar()


def remember(session: Session, caller_sub: str, operation: str, key: str | None, response: dict,
             cart_id: str | None = None, now: dt.datetime | None = None) -> None:
    if key:
        session.execute(idempotency_keys.insert().values(caller_sub=caller_sub, operation=operation, key=key,
                                                         cart_id=cart_id, response=response,
                                                         created_at=now or utcnow()))


def _serialise(session: Session, caller_sub: str, operation: str, key: str) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(
            sa.func.hashtextextended(f"idempotency:{caller_sub}:{operation}:{key}", 0))))


def once(session: Session, caller: Caller, operation: str, key: str | None, use_case: Callable[..., dict],
         *args) -> dict:
    """`use_case(session, caller, *args)`, or its first answer for this key."""
    if not key:
        return use_case(session, caller, *args)
    _serialise(session, caller.sub, operation, key)
    answer = answered(session, caller.sub, operation, key)
    if answer is None:
        answer = use_case(session, caller, *args)
        remember(session, caller.sub, operation, key, answer)
    return answer
