"""Payment transactions: states, idempotent and out-of-order notifications, bounds, re-check window."""
from datetime import datetime, timedelta, timezone
from itertools import permutations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.domain.payments import (AmountMismatch, Attempt, Effect, PaymentRuleError, ProviderResult, Transaction,
                                     TransactionState, apply_outcome, check_amount, expire_if_stale, mark_sent,
                                     needs_recheck, new_transaction, reusable_attempt)

T0 = datetime(2026, 10, 6, 8, 0, tzinfo=timezone.utc)
S = TransactionState


def sent(amount=4_250, at=T0):
    return mark_sent(new_transaction("tx1", amount, at, 100, 1_000_000), at)


def test_a_new_attempt_is_created_then_pending_when_the_payer_is_sent():
    tx = new_transaction("tx1", 4_250, T0, 100, 1_000_000)
    assert tx.state is S.CREATED
    tx = mark_sent(tx, T0 + timedelta(seconds=1))
    assert tx.state is S.PENDING and tx.pending_since == T0 + timedelta(seconds=1)
    assert mark_sent(tx, T0 + timedelta(seconds=5)) == tx


def test_a_decided_attempt_cannot_be_sent_again():
    paid, _ = apply_outcome(sent(), "paid", 4_250, T0)
    with pytest.raises(PaymentRuleError, match="recommencez"):
        mark_sent(paid, T0)


def test_paid_records_one_payment_and_a_duplicate_records_nothing():
    tx, effect = apply_outcome(sent(), ProviderResult.PAID, 4_250, T0 + timedelta(minutes=1), "BANK-1")
    assert (tx.state, effect, tx.bank_reference) == (S.PAID, Effect.PAYMENT, "BANK-1")
    again, effect = apply_outcome(tx, ProviderResult.PAID, 4_250, T0 + timedelta(minutes=2), "BANK-1")
    assert effect is Effect.NONE and again == tx


@pytest.mark.parametrize("late", ["refused", "cancelled", "expired", "error"])
def test_a_late_failure_after_paid_never_unpays(late):
    paid, _ = apply_outcome(sent(), "paid", 4_250, T0)
    after, effect = apply_outcome(paid, late, None, T0 + timedelta(minutes=5))
    assert after.state is S.PAID and effect is Effect.NONE


@pytest.mark.parametrize("result, state", [("refused", S.REFUSED), ("error", S.REFUSED),
                                           ("cancelled", S.ABANDONED), ("expired", S.EXPIRED)])
def test_failures_release_once(result, state):
    tx, effect = apply_outcome(sent(), result, None, T0)
    assert (tx.state, effect) == (state, Effect.FAILED)
    assert apply_outcome(tx, result, None, T0)[1] is Effect.NONE
    assert apply_outcome(tx, "refused", None, T0) == (tx, Effect.NONE)  # the first failure stands


def test_paid_after_a_failure_is_still_money_received():
    refused, _ = apply_outcome(sent(), "refused", None, T0)
    tx, effect = apply_outcome(refused, "paid", 4_250, T0 + timedelta(minutes=1))
    assert (tx.state, effect) == (S.PAID, Effect.LATE_PAYMENT)
    expired, _ = expire_if_stale(sent(), T0 + timedelta(hours=4))
    assert apply_outcome(expired, "paid", 4_250, T0 + timedelta(hours=5))[1] is Effect.LATE_PAYMENT


def test_paid_for_another_amount_is_never_booked():
    with pytest.raises(AmountMismatch, match="paiement à vérifier"):
        apply_outcome(sent(), "paid", 4_000, T0)


def test_pending_news_moves_created_to_pending_and_changes_nothing_else():
    created = new_transaction("tx1", 500, T0, 100, 10_000)
    tx, effect = apply_outcome(created, "pending", None, T0)
    assert (tx.state, effect) == (S.PENDING, Effect.STILL_PENDING)
    paid, _ = apply_outcome(tx, "paid", 500, T0)
    assert apply_outcome(paid, "pending", None, T0) == (paid, Effect.NONE)


def test_unknown_provider_results_are_refused():
    with pytest.raises(ValueError):
        apply_outcome(sent(), "maybe", None, T0)


def test_amounts_outside_the_provider_bounds_are_refused_before_starting():
    check_amount(100, 100, 10_000)
    check_amount(10_000, 100, 10_000)
    with pytest.raises(PaymentRuleError, match="inférieur au minimum"):
        new_transaction("t", 99, T0, 100, 10_000)
    with pytest.raises(PaymentRuleError, match="dépasse le maximum"):
        check_amount(10_001, 100, 10_000)


def test_a_state_read_back_as_a_string_behaves_as_the_state():
    stored = Transaction("t", 4_250, "paid", T0)
    assert stored.state is S.PAID
    assert apply_outcome(stored, "paid", 4_250, T0) == (stored, Effect.NONE)
    with pytest.raises(ValueError):
        Transaction("t", 4_250, "lost", T0)


def test_naive_datetimes_are_refused():
    with pytest.raises(PaymentRuleError, match="fuseau"):
        Transaction("t", 100, S.CREATED, datetime(2026, 1, 1))


@pytest.mark.parametrize("age, expected", [(timedelta(minutes=4, seconds=59), False), (timedelta(minutes=5), True),
                                           (timedelta(hours=1), True), (timedelta(hours=3), True),
                                           (timedelta(hours=3, seconds=1), False)])
def test_pending_transactions_are_rechecked_between_5_minutes_and_3_hours(age, expected):
    assert needs_recheck(sent(), T0 + age) is expected


def test_decided_transactions_are_never_rechecked_or_expired():
    paid, _ = apply_outcome(sent(), "paid", 4_250, T0)
    assert not needs_recheck(paid, T0 + timedelta(hours=1))
    assert expire_if_stale(paid, T0 + timedelta(days=1)) == (paid, Effect.NONE)


def test_after_3_hours_the_platform_expires_the_attempt():
    assert expire_if_stale(sent(), T0 + timedelta(hours=3))[1] is Effect.NONE
    tx, effect = expire_if_stale(sent(), T0 + timedelta(hours=3, minutes=1))
    assert (tx.state, effect) == (S.EXPIRED, Effect.FAILED)


def test_a_double_click_reuses_the_open_attempt_for_the_same_invoices_and_amount():
    first = sent()
    attempts = [Attempt(first, frozenset({"i1", "i2"}))]
    assert reusable_attempt(attempts, ["i2", "i1"], 4_250, T0 + timedelta(seconds=1)) == first
    assert reusable_attempt(attempts, ["i1"], 4_250, T0) is None
    assert reusable_attempt(attempts, ["i1", "i2"], 4_000, T0) is None
    assert reusable_attempt(attempts, ["i1", "i2"], 4_250, T0 + timedelta(minutes=3)) is None
    refused, _ = apply_outcome(first, "refused", None, T0)
    assert reusable_attempt([Attempt(refused, frozenset({"i1", "i2"}))], ["i1", "i2"], 4_250, T0) is None


def test_the_provider_results_match_the_provider_interface():
    provider = pytest.importorskip("billing.payments.provider")  # built alongside, by another change

    assert {s.value for s in provider.PaymentStatus} == {r.value for r in ProviderResult}


@settings(deadline=None)  # shared machine: no per-example time limit
@given(st.lists(st.sampled_from(list(ProviderResult)), max_size=8))
def test_any_sequence_of_messages_records_at_most_one_payment_and_paid_is_final(results):
    tx, payments = sent(), 0
    for i, result in enumerate(results):
        before = tx.state
        tx, effect = apply_outcome(tx, result, 4_250, T0 + timedelta(seconds=i))
        payments += effect in (Effect.PAYMENT, Effect.LATE_PAYMENT)
        if before is S.PAID:
            assert tx.state is S.PAID
    assert payments == (1 if ProviderResult.PAID in results else 0)
    assert (tx.state is S.PAID) == (ProviderResult.PAID in results)


def test_every_order_of_paid_refused_and_duplicates_ends_paid_with_one_payment():
    for order in permutations(["paid", "refused", "paid", "cancelled"]):
        tx, effects = sent(), []
        for result in order:
            tx, effect = apply_outcome(tx, result, 4_250, T0)
            effects.append(effect)
        assert tx.state is S.PAID
        assert sum(e in (Effect.PAYMENT, Effect.LATE_PAYMENT) for e in effects) == 1
