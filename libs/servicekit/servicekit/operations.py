"""The adapter every service API is made of: an async operation runs one sync use case and
its refusals become problem+json, never a 500.

    ops = Operations({
        IllegalTransition: lambda exc: Problem(409, str(exc)),
        ValueError: lambda exc: Problem(422, str(exc)),
    })

    @ops.problems
    async def get_calendar():
        return ops.ok(await ops.read(catalogue.get_calendar, current_caller()))

- `read(use_case, ...)`: `use_case(session, ...)` in one snapshot (several queries that agree),
  in a worker thread (`Database.run_read`, ADR 0007); `write(...)`: one transaction, outbox
  events included (`Database.run_write`).
- `problems`: the service's own refusals through its table (the first matching class wins, in
  the table's order), then the rules every service shares: a unique-key race, a deadlock or a
  serialization failure is a 409 the client may retry.
- `ok(body, status)`: a JSON answer (the specs also declare problem+json: say which one).
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import DBAPIError, IntegrityError

from servicekit import web
from servicekit.problems import Problem

RETRY = "Cette opération est entrée en conflit avec une autre. Réessayez."
JSON = {"Content-Type": "application/json"}
# PostgreSQL's deadlock_detected, serialization_failure and lock_not_available (a lock_timeout
# or NOWAIT that gave up): the losing transaction may retry.
_RETRYABLE_SQLSTATES = ("40P01", "40001", "55P03")

Refusals = dict[type[Exception], Callable[[Exception], Problem]]


def _shared_refusal(exc: Exception) -> Problem | None:
    if isinstance(exc, IntegrityError):
        return Problem(409, RETRY)
    if isinstance(exc, DBAPIError) and getattr(getattr(exc, "orig", None), "sqlstate", None) in _RETRYABLE_SQLSTATES:
        return Problem(409, RETRY)
    return None


class Operations:
    def __init__(self, refusals: Refusals | None = None):
        self.refusals: Refusals = dict(refusals or {})

    def refusal(self, exc: Exception) -> Problem | None:
        """The problem for `exc`, or None when it is not a refusal (then it is a bug: 500)."""
        for kind, to_problem in self.refusals.items():
            if isinstance(exc, kind):
                return to_problem(exc)
        return _shared_refusal(exc)

    def problems(self, fn):
        @functools.wraps(fn)
        async def wrapper(*args, **kwargs):
            try:
                return await fn(*args, **kwargs)
            except Problem:
                raise
            except Exception as exc:
                problem = self.refusal(exc)
                if problem is None:
                    raise
                raise problem from None
        return wrapper

    @staticmethod
    async def read(use_case: Callable[..., Any], *args, **kwargs) -> Any:
        return await web.state()["db"].run_read(use_case, *args, snapshot=True, **kwargs)

    @staticmethod
    async def write(use_case: Callable[..., Any], *args, **kwargs) -> Any:
        return await web.state()["db"].run_write(use_case, *args, **kwargs)

    @staticmethod
    def ok(body: Any, status: int = 200) -> tuple[Any, int, dict]:
        return body, status, JSON
