"""The time the sign-in side believes it is.

Session expiry, throttling and reset-token expiry all read `now()`, so tests move time by
calling `set_clock(...)` instead of sleeping.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone


def _system_now() -> datetime:
    return datetime.now(timezone.utc)


_clock: Callable[[], datetime] = _system_now


def now() -> datetime:
    return _clock()


def set_clock(clock: Callable[[], datetime] | None) -> None:
    """Replace the clock (tests); `None` restores the system clock."""
    global _clock
    _clock = clock or _system_now
