"""Login throttling: exponential back-off per account (e-mail) and per client IP address.

After `free` consecutive failures a key must wait 1 s, then 2 s, 4 s … capped at 15 minutes
before the next attempt is even looked at (the password is not verified while blocked, so
blocked guesses cost the attacker nothing but also teach nothing). Counters live in the
database so every web worker agrees. A successful sign-in resets the account's counter; an
IP's counter only starts over after a quiet hour (so an attacker cannot reset it by signing
into an account of their own between guesses). Unknown e-mails are throttled exactly like
known ones, so throttling does not reveal which accounts exist.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit.db import dialect_insert

from identity.signin import clock
from identity.signin.models import LoginThrottle

BASE_DELAY_SECONDS = 1
MAX_DELAY = timedelta(minutes=15)
ACCOUNT_FREE_FAILURES = 5
# Higher for addresses: a town hall or a mobile carrier puts many parents behind one address.
IP_FREE_FAILURES = 20
ACCOUNT_QUIET_RESET = timedelta(hours=24)
IP_QUIET_RESET = timedelta(hours=1)

_table = LoginThrottle.__table__


@dataclass(frozen=True)
class Policy:
    free_failures: int
    quiet_reset: timedelta


ACCOUNT = Policy(ACCOUNT_FREE_FAILURES, ACCOUNT_QUIET_RESET)
IP = Policy(IP_FREE_FAILURES, IP_QUIET_RESET)


def backoff_delay(failures: int, free_failures: int) -> timedelta:
    """Wait imposed after `failures` consecutive failures: none below `free_failures`, then
    1 s at the threshold, doubling with each further failure, capped at MAX_DELAY."""
    if failures < free_failures:
        return timedelta(0)
    doublings = min(failures - free_failures, 30)  # 2**30 s is far past the cap already
    return min(timedelta(seconds=BASE_DELAY_SECONDS * 2 ** doublings), MAX_DELAY)


def account_key(email: str) -> str:
    # Hashed: the table also holds whatever unknown e-mails were typed.
    return "account:" + hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


def ip_key(ip: str | None) -> str:
    return f"ip:{ip or 'unknown'}"


@dataclass(frozen=True)
class Blocked:
    until: datetime

    def retry_after_seconds(self, now: datetime) -> int:
        return max(1, math.ceil((self.until - now).total_seconds()))


def check(db_session: Session, email: str, ip: str | None) -> Blocked | None:
    """Blocked (until when) if the account or the address must still wait, else None."""
    now = clock.now()
    rows = db_session.execute(
        sa.select(_table.c.blocked_until).where(_table.c.key.in_([account_key(email), ip_key(ip)]))).all()
    until = max((r.blocked_until for r in rows if r.blocked_until is not None), default=None)
    if until is not None and until > now:
        return Blocked(until)
    return None


@dataclass(frozen=True)
class FailureOutcome:
    account_failures: int
    ip_failures: int
    blocked_until: datetime | None   # the later of the two keys' blocks, if any

    @property
    def account_locked_now(self) -> bool:
        """This failure is the one that started the account's back-off."""
        return self.account_failures == ACCOUNT_FREE_FAILURES


def record_failure(db_session: Session, email: str, ip: str | None) -> FailureOutcome:
    now = clock.now()
    account_failures, account_until = _bump(db_session, account_key(email), ACCOUNT, now)
    ip_failures, ip_until = _bump(db_session, ip_key(ip), IP, now)
    untils = [u for u in (account_until, ip_until) if u is not None]
    return FailureOutcome(account_failures, ip_failures, max(untils) if untils else None)


def record_success(db_session: Session, email: str) -> None:
    """A correct password (and second factor): the account starts afresh."""
    db_session.execute(sa.delete(_table).where(_table.c.key == account_key(email)))


def _bump(db_session: Session, key: str, policy: Policy, now: datetime) -> tuple[int, datetime | None]:
    """Count one more failure for `key` atomically (upsert; the row stays locked until commit
    on PostgreSQL) and set its block."""
    restarted = _table.c.last_failure_at < now - policy.quiet_reset
    stmt = dialect_insert(db_session, _table).values(key=key, failures=1, last_failure_at=now, blocked_until=None)
    stmt = stmt.on_conflict_do_update(
        index_elements=[_table.c.key],
        set_={"failures": sa.case((restarted, 1), else_=_table.c.failures + 1), "last_failure_at": now},
    ).returning(_table.c.failures)
    failures = db_session.execute(stmt).scalar_one()
    delay = backoff_delay(failures, policy.free_failures)
    until = now + delay if delay else None
    db_session.execute(sa.update(_table).where(_table.c.key == key).values(blocked_until=until))
    return failures, until


def purge_stale(db_session: Session) -> int:
    """Forget counters that have gone quiet for longer than any policy remembers them and that
    block nothing; returns how many. (A counter past its quiet period restarts at 1 anyway.)"""
    now = clock.now()
    longest_memory = max(ACCOUNT.quiet_reset, IP.quiet_reset)
    result = db_session.execute(sa.delete(_table).where(
        _table.c.last_failure_at < now - longest_memory,
        sa.or_(_table.c.blocked_until.is_(None), _table.c.blocked_until < now)))
    return result.rowcount
