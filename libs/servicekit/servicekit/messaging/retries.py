"""What happens to a message whose handler failed: which delay queue next, or the DLQ.

Pure rules (no I/O), used by the consumers and declared as queues at start.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError

RETRIES_HEADER = "x-retries"
ERROR_HEADER = "x-error"
FAILED_AT_HEADER = "x-failed-at"
# Headers RabbitMQ or we add on the way; they are not copied when a message is re-published.
TRANSIENT_HEADERS = ("x-death", "x-first-death-exchange", "x-first-death-queue", "x-first-death-reason",
                     "x-last-death-exchange", "x-last-death-queue", "x-last-death-reason")
MAX_ERROR_LENGTH = 2000


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int
    delays_ms: tuple[int, ...]

    def __post_init__(self):
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if self.max_retries and not self.delays_ms:
            raise ValueError("retry_delays_ms must not be empty when max_retries > 0")
        if any(d <= 0 for d in self.delays_ms):
            raise ValueError("retry delays must be positive milliseconds")

    @classmethod
    def of(cls, max_retries: int, delays_ms: Sequence[int]) -> RetryPolicy:
        return cls(max_retries, tuple(int(d) for d in delays_ms))

    def next_delay_ms(self, retries_done: int) -> int | None:
        """Delay before retry number `retries_done + 1`, or None: give up (dead letter)."""
        if retries_done >= self.max_retries:
            return None
        return self.delays_ms[min(retries_done, len(self.delays_ms) - 1)]

    def delays_in_use(self) -> list[int]:
        """Distinct delays a message can wait: one delay queue per consumer queue for each."""
        return sorted({self.delays_ms[min(i, len(self.delays_ms) - 1)] for i in range(self.max_retries)})


def is_permanent(exc: BaseException) -> bool:
    """Failures that no retry can fix, sent to the dead-letter queue at once: an event whose
    payload does not validate (like a malformed envelope) will not validate in five minutes."""
    return isinstance(exc, ValidationError)


def retries_of(headers: dict | None) -> int:
    try:
        return max(0, int((headers or {}).get(RETRIES_HEADER, 0)))
    except (TypeError, ValueError):
        return 0


def carried_headers(headers: dict | None, **updates) -> dict:
    """The headers to re-publish a message with: ours updated, broker bookkeeping dropped."""
    kept = {k: v for k, v in (headers or {}).items() if k not in TRANSIENT_HEADERS}
    kept.update(updates)
    return kept


def describe_error(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 3] + "..."
