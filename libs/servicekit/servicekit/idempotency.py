"""Idempotency-Key: a POST that creates something, sent twice with the same key, acts once.

The gateway sends the header on creating forms (gateway/README.md, "Idempotency-Key"). A
service honours it for an operation by running the operation's use case through `once`, in the
same transaction as the use case:

    async def add_child(body):
        key = idempotency.key_from(connexion.request)
        return await ops.write(idempotency.once, idempotency_keys, current_caller().sub,
                               "add_child", key, body, households.add_child, current_caller(), body)

- the first request runs the use case and records its answer with the key, in its transaction;
- the same key again (same caller, same operation) gets that answer back, nothing done twice;
- the same key with another body is a 422 (a client bug, not a retry);
- two requests with the same key at the same moment: one commits, the other's insert of the key
  fails and its whole transaction (the use case's effects included) rolls back, answered as a
  409 to retry (servicekit.operations), whose retry then gets the recorded answer.
Keys are kept `RETENTION` (a worker job calls `purge`).
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit.problems import Problem
from servicekit.types import UTCDateTime, utcnow

HEADER = "Idempotency-Key"
RETENTION = timedelta(hours=24)
_VALID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def define_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "idempotency_keys", metadata,
        sa.Column("caller_sub", sa.String(200), primary_key=True),
        sa.Column("operation", sa.String(100), primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("request_digest", sa.String(64), nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False, index=True),
    )


def key_from(request) -> str | None:
    """The request's key, or None (no header: no idempotency). A malformed key is a 400."""
    value = request.headers.get(HEADER)
    if value is None:
        return None
    if not _VALID.match(value):
        raise Problem(400, "L'en-tête Idempotency-Key est invalide (16 à 64 caractères A-Z, a-z, 0-9, - ou _).")
    return value


def _digest(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def once(session: Session, table: sa.Table, caller_sub: str, operation: str, key: str | None, body: Any,
         use_case: Callable[..., Any], *args, **kwargs) -> Any:
    """`use_case(session, *args, **kwargs)` once per (caller, operation, key); its answer again after."""
    if key is None:
        return use_case(session, *args, **kwargs)
    digest = _digest(body)
    where = (table.c.caller_sub == caller_sub, table.c.operation == operation, table.c.key == key)
    seen = session.execute(sa.select(table.c.request_digest, table.c.answer).where(*where)).first()
    if seen is not None:
        if seen.request_digest != digest:
            raise Problem(422, "Cette clé d'idempotence a déjà servi pour une autre demande.")
        return json.loads(seen.answer)
    answer = use_case(session, *args, **kwargs)
    session.execute(table.insert().values(caller_sub=caller_sub, operation=operation, key=key,
                                          request_digest=digest, answer=json.dumps(answer, default=str),
                                          created_at=utcnow()))
    return answer


def purge(session: Session, table: sa.Table, older_than: timedelta = RETENTION) -> int:
    """Forget keys older than `older_than`; returns how many."""
    return session.execute(table.delete().where(table.c.created_at < utcnow() - older_than)).rowcount or 0
