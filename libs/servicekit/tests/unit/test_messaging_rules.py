import pytest

from servicekit.messaging import names
from servicekit.messaging.dlq import DeadLetter, format_table
from servicekit.messaging.jobs import advisory_lock_key
from servicekit.messaging.relay import PendingRow, retry_delay_seconds
from servicekit.messaging.retries import RetryPolicy, carried_headers, describe_error, retries_of


def test_names():
    assert names.exchange_name("booking") == "booking.events"
    assert names.notify_channel("booking") == "outbox_booking"
    assert names.consumer_queue("notify", "send_mail") == "notify.send_mail"
    assert names.retry_queue("notify.send_mail", 5000) == "notify.send_mail.retry.5000"
    assert names.dead_letter_queue("notify.send_mail") == "notify.send_mail.dlq"
    assert names.original_queue("notify.send_mail.dlq") == "notify.send_mail"
    assert names.original_queue("notify.send_mail") == "notify.send_mail"


def test_retry_policy_walks_the_delays_then_gives_up():
    policy = RetryPolicy.of(5, (1000, 5000, 30000, 120000, 600000))
    assert [policy.next_delay_ms(n) for n in range(6)] == [1000, 5000, 30000, 120000, 600000, None]
    assert policy.delays_in_use() == [1000, 5000, 30000, 120000, 600000]


def test_retry_policy_reuses_the_last_delay_and_declares_only_used_ones():
    policy = RetryPolicy.of(4, (100, 200))
    assert [policy.next_delay_ms(n) for n in range(5)] == [100, 200, 200, 200, None]
    assert RetryPolicy.of(1, (100, 200)).delays_in_use() == [100]
    assert RetryPolicy.of(0, ()).next_delay_ms(0) is None


@pytest.mark.parametrize("bad", [dict(max_retries=-1, delays_ms=(1,)), dict(max_retries=2, delays_ms=()),
                                 dict(max_retries=1, delays_ms=(0,))])
def test_retry_policy_rejects_nonsense(bad):
    with pytest.raises(ValueError):
        RetryPolicy.of(bad["max_retries"], bad["delays_ms"])


def test_retries_header_parsing_is_forgiving():
    assert retries_of(None) == 0
    assert retries_of({"x-retries": 3}) == 3
    assert retries_of({"x-retries": "oops"}) == 0


def test_republished_headers_drop_broker_bookkeeping():
    headers = {"correlation_id": "c", "x-death": [{"count": 1}], "x-first-death-queue": "q", "x-retries": 1}
    assert carried_headers(headers, **{"x-retries": 2}) == {"correlation_id": "c", "x-retries": 2}


def test_error_description_is_bounded():
    assert describe_error(ValueError("bad")) == "ValueError: bad"
    assert len(describe_error(ValueError("x" * 10000))) == 2000


def test_relay_backoff_doubles_up_to_the_cap():
    assert [retry_delay_seconds(n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert retry_delay_seconds(20) == 30.0


def test_outbox_row_carries_the_correlation_id_as_a_header():
    row = PendingRow(1, "e1", "booking.events", "booking.confirmed.v1", '{"correlation_id": "c9"}', 0)
    out = row.to_outgoing()
    assert (out.exchange, out.routing_key, out.message_id, out.headers) == (
        "booking.events", "booking.confirmed.v1", "e1", {"correlation_id": "c9"})
    assert out.mandatory is True


def test_advisory_lock_key_is_stable_signed_64_bit_and_per_service():
    key = advisory_lock_key("booking", "expire_carts")
    assert key == advisory_lock_key("booking", "expire_carts")
    assert key != advisory_lock_key("billing", "expire_carts")
    assert -(2 ** 63) <= key < 2 ** 63


def test_dead_letter_table_is_aligned_and_shortens_errors():
    letters = [DeadLetter("notify.send", "e-1", "family.registered.v1", 5, "2024-01-01T00:00:00+00:00",
                          "SMTPError: " + "x" * 200)]
    lines = format_table(letters, error_width=30).splitlines()
    assert lines[0].startswith("QUEUE")
    assert lines[1].startswith("notify.send")
    assert lines[0].index("EVENT ID") == lines[1].index("e-1")
    assert lines[1].endswith("...") and len(lines[1].split("  ")[-1]) <= 30
