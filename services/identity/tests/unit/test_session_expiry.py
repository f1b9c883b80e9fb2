"""SSO session lifetime rules (pure)."""
from datetime import datetime, timedelta, timezone

from identity.sessions import ABSOLUTE_TIMEOUT, IDLE_TIMEOUT, expiry_reason

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)


def test_limits_are_30_minutes_idle_and_12_hours_absolute():
    assert IDLE_TIMEOUT == timedelta(minutes=30) and ABSOLUTE_TIMEOUT == timedelta(hours=12)


def test_a_session_used_recently_is_valid():
    assert expiry_reason(T0, T0 + timedelta(minutes=10), T0 + timedelta(minutes=39)) is None


def test_idle_for_30_minutes_ends_it():
    assert expiry_reason(T0, T0, T0 + timedelta(minutes=29, seconds=59)) is None
    assert expiry_reason(T0, T0, T0 + timedelta(minutes=30)) == "idle"


def test_absolute_lifetime_wins_even_when_in_use():
    last_seen = T0 + timedelta(hours=11, minutes=59)
    assert expiry_reason(T0, last_seen, T0 + timedelta(hours=12)) == "absolute"

