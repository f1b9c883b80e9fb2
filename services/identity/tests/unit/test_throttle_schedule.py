"""The back-off schedule of login throttling (pure rule)."""
from datetime import timedelta

from identity.throttle import (ACCOUNT_FREE_FAILURES, IP_FREE_FAILURES, MAX_DELAY, Blocked, account_key,
                               backoff_delay, ip_key)


def test_no_delay_before_the_threshold():
    for failures in range(ACCOUNT_FREE_FAILURES):
        assert backoff_delay(failures, ACCOUNT_FREE_FAILURES) == timedelta(0)


def test_delay_doubles_from_one_second_at_the_threshold():
    delays = [backoff_delay(n, 5).total_seconds() for n in range(5, 12)]
    assert delays == [1, 2, 4, 8, 16, 32, 64]


def test_delay_is_capped_at_fifteen_minutes_even_after_very_many_failures():
    assert backoff_delay(5 + 10, 5) == MAX_DELAY == timedelta(minutes=15)
    assert backoff_delay(10_000, 5) == MAX_DELAY


def test_addresses_get_more_free_failures_than_accounts():
    assert IP_FREE_FAILURES > ACCOUNT_FREE_FAILURES
    assert backoff_delay(ACCOUNT_FREE_FAILURES, IP_FREE_FAILURES) == timedelta(0)


def test_account_key_ignores_case_and_spaces_and_does_not_store_the_email():
    assert account_key(" Claire@Example.org ") == account_key("claire@example.org")
    assert "claire" not in account_key("claire@example.org")
    assert ip_key("10.0.0.1") == "ip:10.0.0.1" and ip_key(None) == "ip:unknown"


def test_retry_after_is_rounded_up_and_at_least_one_second():
    from datetime import datetime, timezone

    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert Blocked(now + timedelta(seconds=1.2)).retry_after_seconds(now) == 2
    assert Blocked(now).retry_after_seconds(now) == 1
