"""One payment over several invoices (oldest first, partial, overpayment), online rules, prepaid carts."""
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.domain.allocation import (AllocationError, OpenInvoice, PaymentMethod, allocate_payment,
                                       check_payable_online, online_payment, settle_cart)
from billing.domain.invoicing import OpenCredit


def invoice(id, issued_on, due, number=None, **kwargs):
    return OpenInvoice(id, number or f"F-{issued_on:%Y-%m}-{id}", kwargs.pop("family_id", "f1"),
                       kwargs.pop("commune_id", "c1"), issued_on, due, **kwargs)


JULY = invoice("i7", date(2026, 8, 5), 4_000)
AUGUST = invoice("i8", date(2026, 9, 5), 2_500)
SEPTEMBER = invoice("i9", date(2026, 10, 5), 3_000)


def parts(allocation):
    return [(p.invoice_id, p.amount_cents, p.settles) for p in allocation.parts]


def test_a_payment_goes_to_the_oldest_invoice_first_whatever_the_selection_order():
    allocation = allocate_payment(9_500, [SEPTEMBER, JULY, AUGUST])
    assert parts(allocation) == [("i7", 4_000, True), ("i8", 2_500, True), ("i9", 3_000, True)]
    assert allocation.excess_cents == 0 and allocation.allocated_cents == 9_500


def test_a_partial_payment_settles_the_oldest_and_leaves_the_newest_partly_paid():
    allocation = allocate_payment(5_000, [SEPTEMBER, AUGUST, JULY])
    assert parts(allocation) == [("i7", 4_000, True), ("i8", 1_000, False)]


def test_same_day_invoices_are_ordered_by_number():
    a = invoice("x", date(2026, 9, 5), 100, number="F-2026-08-0000002")
    b = invoice("y", date(2026, 9, 5), 100, number="F-2026-08-0000001")
    assert parts(allocate_payment(100, [a, b])) == [("y", 100, True)]


def test_overpayment_is_refused_by_default_in_french():
    with pytest.raises(AllocationError, match="dépasse le montant dû"):
        allocate_payment(10_000, [JULY, AUGUST])


def test_an_agent_can_turn_an_overpayment_into_a_credit():
    allocation = allocate_payment(7_000, [JULY, AUGUST], excess="credit")
    assert allocation.allocated_cents == 6_500 and allocation.excess_cents == 500


@pytest.mark.parametrize("amount", [0, -100])
def test_a_payment_must_be_positive(amount):
    with pytest.raises(AllocationError, match="positif"):
        allocate_payment(amount, [JULY])


def test_a_payment_never_mixes_families_or_communes_nor_counts_an_invoice_twice():
    with pytest.raises(AllocationError, match="même famille"):
        allocate_payment(100, [JULY, invoice("o", date(2026, 9, 5), 100, family_id="f2")])
    with pytest.raises(AllocationError, match="même famille"):
        allocate_payment(100, [JULY, invoice("o", date(2026, 9, 5), 100, commune_id="c2")])
    with pytest.raises(AllocationError, match="deux fois"):
        allocate_payment(100, [JULY, JULY])


def test_an_invoice_on_direct_debit_cannot_be_paid_online():
    debit = invoice("d", date(2026, 9, 5), 1_000, number="F-2026-08-0000009", direct_debit=True)
    with pytest.raises(AllocationError, match="F-2026-08-0000009 est réglée par prélèvement"):
        check_payable_online([JULY, debit], date(2026, 9, 10))


def test_online_payment_respects_publication_and_the_last_day_payable_online():
    windowed = invoice("w", date(2026, 10, 5), 1_000, number="F-2026-09-0000001", published_on=date(2026, 10, 5),
                       last_day_online=date(2026, 10, 25))
    with pytest.raises(AllocationError, match="pas encore publiée"):
        check_payable_online([windowed], date(2026, 10, 4))
    check_payable_online([windowed], date(2026, 10, 25))
    with pytest.raises(AllocationError, match="depuis le 25/10/2026"):
        check_payable_online([windowed], date(2026, 10, 26))


def test_nothing_selected_or_already_paid_cannot_be_paid_online():
    with pytest.raises(AllocationError, match="Aucune facture"):
        check_payable_online([], date(2026, 10, 1))
    with pytest.raises(AllocationError, match="déjà réglée"):
        check_payable_online([invoice("p", date(2026, 9, 5), 0)], date(2026, 10, 1))


def test_the_online_amount_is_exactly_what_the_selection_owes():
    amount, allocation = online_payment([AUGUST, JULY], date(2026, 10, 1))
    assert amount == 6_500 and parts(allocation) == [("i7", 4_000, True), ("i8", 2_500, True)]


def test_credits_are_deducted_from_a_cart_oldest_first_and_the_rest_is_paid_online():
    credits = [OpenCredit("a2", "f1", "c1", date(2026, 9, 1), 300), OpenCredit("a1", "f1", "c1", date(2026, 6, 1), 200),
               OpenCredit("other-town", "f1", "c2", date(2026, 1, 1), 5_000),
               OpenCredit("other-family", "f2", "c1", date(2026, 1, 1), 5_000)]
    settlement = settle_cart(1_000, "f1", "c1", credits)
    assert [(u.credit_id, u.amount_cents) for u in settlement.credit_uses] == [("a1", 200), ("a2", 300)]
    assert settlement.to_pay_cents == 500 and settlement.payment_needed


def test_a_cart_covered_by_credits_needs_no_payment():
    settlement = settle_cart(450, "f1", "c1", [OpenCredit("a", "f1", "c1", date(2026, 6, 1), 2_000)])
    assert settlement.to_pay_cents == 0 and not settlement.payment_needed
    assert settlement.credit_uses[0].amount_cents == 450
    assert not settle_cart(0, "f1", "c1", []).payment_needed
    with pytest.raises(AllocationError):
        settle_cart(-1, "f1", "c1", [])


invoices_st = st.lists(st.builds(lambda i, day, due: invoice(f"i{i}", date(2026, 1, 1 + day), due),
                                 st.integers(0, 10**6), st.integers(0, 27), st.integers(0, 50_000)),
                       min_size=1, max_size=12, unique_by=lambda inv: inv.id)


@settings(deadline=None)  # shared machine: no per-example time limit
@given(invoices_st, st.integers(1, 400_000), st.sampled_from(["refuse", "credit"]))
def test_never_more_than_paid_nor_more_than_due_and_oldest_settled_first(invoices, amount, excess):
    owed = sum(i.due_cents for i in invoices)
    if amount > owed and excess == "refuse":
        with pytest.raises(AllocationError):
            allocate_payment(amount, invoices, excess=excess)
        return
    allocation = allocate_payment(amount, invoices, excess=excess)
    due = {i.id: i.due_cents for i in invoices}
    assert allocation.allocated_cents + allocation.excess_cents == amount
    assert allocation.allocated_cents == min(amount, owed)
    assert all(0 < p.amount_cents <= due[p.invoice_id] for p in allocation.parts)
    assert all(p.settles for p in allocation.parts[:-1])  # only the last part may be partial
    order = [i.id for i in sorted(invoices, key=lambda i: (i.issued_on, i.number, i.id)) if i.due_cents > 0]
    assert [p.invoice_id for p in allocation.parts] == order[: len(allocation.parts)]


def test_every_payment_method_of_the_field_has_a_french_label():
    assert {m.value for m in PaymentMethod} >= {"online", "cash", "cheque", "cesu", "holiday_vouchers", "direct_debit"}
    assert PaymentMethod("holiday_vouchers").label == "Chèques vacances"
    assert all(m.label for m in PaymentMethod)
